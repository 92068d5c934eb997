//! Which HTTP version a connection speaks, decided before hyper sees a byte: over TLS by ALPN,
//! in clear text by peeking (not reading) the first bytes for the HTTP/2 preface (prior
//! knowledge, RFC 9113 §3.3).
//!
//! hyper-util's auto builder did this by reading the first 24 bytes itself and handing them back
//! through a rewind buffer; hyper's HTTP/1 read buffer then never got a whole request in its
//! first read and doubled to 16 KiB, which every idle keep-alive connection kept (with its own
//! 8 KiB write buffer, most of the memory an idle connection holds). Peeking leaves the bytes in
//! the socket, so hyper reads the request head in one go into its 8 KiB buffer.

use std::time::Duration;
use tokio::net::TcpStream;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// When a connection's first bytes are a strict prefix of the preface, it is peeked again after
/// this wait, doubled each time up to [`PARTIAL_PREFACE_RETRY_MAX`]. Real HTTP/2 clients send the
/// preface in one segment, so this is for odd clients only; the doubling keeps a slowloris that
/// sends `P` and stalls on many connections from costing a syscall every few milliseconds each
/// (about 20 peeks in a 10 s deadline).
const PARTIAL_PREFACE_RETRY: Duration = Duration::from_millis(10);
const PARTIAL_PREFACE_RETRY_MAX: Duration = Duration::from_millis(640);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

impl Protocol {
    /// From the ALPN protocol the TLS handshake agreed on; HTTP/1.1 without one (RFC 9113 §3.2:
    /// HTTP/2 over TLS is negotiated by ALPN).
    pub fn from_alpn(alpn: Option<&[u8]>) -> Self {
        if alpn == Some(b"h2") {
            Self::Http2
        } else {
            Self::Http1
        }
    }

    /// Peeks at a clear-text connection's first bytes: HTTP/2 when they are the preface,
    /// HTTP/1 as soon as they cannot be. `None` when the client closed the connection, an error
    /// came up, or it sent too little to decide within `deadline` (a slowloris before the
    /// request line).
    pub async fn sniff(stream: &TcpStream, deadline: Duration) -> Option<Self> {
        let mut first = [0u8; PREFACE.len()];
        let mut retry = PARTIAL_PREFACE_RETRY;
        let decide = async {
            loop {
                let n = stream.peek(&mut first).await.ok()?;
                if n == 0 {
                    return None;
                }
                if first[..n] != PREFACE[..n] {
                    return Some(Self::Http1);
                }
                if n == PREFACE.len() {
                    return Some(Self::Http2);
                }
                // A strict prefix of the preface: peeking again at once would spin, as the
                // socket stays readable.
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(PARTIAL_PREFACE_RETRY_MAX);
            }
        };
        tokio::time::timeout(deadline, decide).await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn http1_is_told_from_the_first_byte_and_nothing_is_consumed() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"G").await.unwrap();
        assert_eq!(Protocol::sniff(&server, LONG).await, Some(Protocol::Http1));
        client.write_all(b"ET / HTTP/1.1\r\n\r\n").await.unwrap();
        drop(client);
        let mut all = Vec::new();
        server.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn the_preface_is_http2_also_when_it_arrives_in_pieces() {
        let (mut client, server) = pair().await;
        client.write_all(&PREFACE[..5]).await.unwrap();
        let sniff = tokio::spawn(async move { Protocol::sniff(&server, LONG).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.write_all(&PREFACE[5..]).await.unwrap();
        assert_eq!(sniff.await.unwrap(), Some(Protocol::Http2));
        // A look-alike that leaves the preface is HTTP/1 (hyper then answers it 400).
        let (mut client, server) = pair().await;
        client.write_all(b"PRI * HTTP/1.1\r\n").await.unwrap();
        assert_eq!(Protocol::sniff(&server, LONG).await, Some(Protocol::Http1));
    }

    // checklist D2 (slowloris before the request line): silence, or a preface left unfinished,
    // gives up at the deadline; a closed connection at once.
    #[tokio::test]
    async fn silence_a_stalled_preface_and_a_close_decide_nothing() {
        let short = Duration::from_millis(200);
        let (_client, server) = pair().await;
        assert_eq!(Protocol::sniff(&server, short).await, None);
        let (mut client, server) = pair().await;
        client.write_all(&PREFACE[..10]).await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(Protocol::sniff(&server, short).await, None);
        assert!(started.elapsed() < Duration::from_secs(2));
        let (client, server) = pair().await;
        drop(client);
        assert_eq!(Protocol::sniff(&server, LONG).await, None);
    }

    #[test]
    fn alpn_h2_is_http2_and_anything_else_http1() {
        assert_eq!(Protocol::from_alpn(Some(b"h2")), Protocol::Http2);
        assert_eq!(Protocol::from_alpn(Some(b"http/1.1")), Protocol::Http1);
        assert_eq!(Protocol::from_alpn(None), Protocol::Http1);
    }
}
