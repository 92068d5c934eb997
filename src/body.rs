//! Body types: what the gateway sends back (`ResponseBody`) and the request body it streams to an
//! upstream (`LimitedBody`), which stops with `BodyError::TooLarge` once more bytes than the
//! route allows have passed. Bodies are never collected whole here.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use thiserror::Error;

/// A streamed upstream response, or a small body the gateway wrote itself.
pub type ResponseBody = Either<Incoming, Full<Bytes>>;

/// A small, complete body written by the gateway.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Either::Right(Full::new(bytes.into()))
}

/// An empty body.
pub fn empty() -> ResponseBody {
    Either::Right(Full::new(Bytes::new()))
}

#[derive(Debug, Error)]
pub enum BodyError {
    #[error("the request body is larger than the route's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the request body from the client failed")]
    Client(#[source] hyper::Error),
}

/// The client's request body, cut off with an error after `limit` bytes; or no body at all
/// (a request the gateway replays after a refresh, checklist P7).
pub struct LimitedBody {
    inner: Option<Incoming>,
    remaining: u64,
    limit: u64,
}

impl LimitedBody {
    pub fn new(inner: Incoming, limit: u64) -> Self {
        Self {
            inner: Some(inner),
            remaining: limit,
            limit,
        }
    }

    /// A body with no bytes.
    pub fn empty() -> Self {
        Self {
            inner: None,
            remaining: 0,
            limit: 0,
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = match ready!(Pin::new(inner).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(BodyError::Client(e)))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > this.remaining {
                this.remaining = 0;
                return Poll::Ready(Some(Err(BodyError::TooLarge { limit: this.limit })));
            }
            this.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
