//! A deadline for a TLS connection's first bytes (slowloris after the handshake).
//!
//! hyper's HTTP/2 server reads the connection preface with no deadline of its own (its
//! keep-alive pings start only after it), so a client that negotiates `h2` by ALPN and then sends
//! nothing, or only the start of the preface, would hold a connection slot (of
//! `max_connections`) for ever. This wrapper fails a read still waiting for the first 24 bytes
//! once the deadline has passed. It never delays, alters or buffers a byte, and after the first
//! 24 bytes it is a pass-through. Clear-text connections get the same deadline while
//! `protocol::Protocol::sniff` peeks at their first bytes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The length of the HTTP/2 connection preface.
const PREFACE_LEN: usize = 24;

pub struct FirstBytesDeadline<I> {
    io: I,
    /// Running until `PREFACE_LEN` bytes (or the end of the stream) have been read.
    deadline: Option<Pin<Box<Sleep>>>,
    read: usize,
}

impl<I> FirstBytesDeadline<I> {
    pub fn new(io: I, timeout: Duration) -> Self {
        Self {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            read: 0,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstBytesDeadline<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        let Some(deadline) = this.deadline.as_mut() else {
            return result;
        };
        match &result {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                this.read += n;
                if n == 0 || this.read >= PREFACE_LEN {
                    this.deadline = None;
                }
            }
            Poll::Ready(Err(_)) => {}
            Poll::Pending => {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent no request in time",
                    )));
                }
            }
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstBytesDeadline<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
