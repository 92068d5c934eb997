//! Body types: what the gateway sends back (`ResponseBody`: a streamed `UpstreamBody`, which
//! reports a break-off mid-body, or a small body of its own), and the request body it streams to
//! an upstream (`LimitedBody`), which stops with `BodyError::TooLarge` once more bytes than the
//! route allows have passed. Bodies are never collected whole here.

use crate::metrics::UpstreamFailure;
use crate::proxy::PooledBody;
use crate::router::RouteReport;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use thiserror::Error;

/// A streamed upstream response, or a small body the gateway wrote itself.
pub type ResponseBody = Either<UpstreamBody, Full<Bytes>>;

/// An upstream's response body, passed through frame by frame. When it breaks off after the
/// status line was passed on (the upstream reset or closed the connection mid-body) the client's
/// transfer is aborted, which is all it can be told; the gateway logs a warning naming the route,
/// the upstream and the cause, and counts `upstream_errors_total{kind="body"}`.
pub struct UpstreamBody {
    inner: PooledBody,
    route: Arc<RouteReport>,
}

impl UpstreamBody {
    pub fn new(inner: PooledBody, route: Arc<RouteReport>) -> Self {
        Self { inner, route }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Err(error)) = &frame {
            let route = &this.route;
            route.metrics.upstream_failure(UpstreamFailure::Body);
            tracing::warn!(
                route = route.name.as_str(),
                upstream = route.upstream.as_str(),
                error = %crate::error::error_chain(error),
                "upstream response body failed; the client's transfer was aborted"
            );
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

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
