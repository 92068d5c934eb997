//! Every way a proxied request can fail, and the one place (`respond`) that turns a failure into
//! a status, a small JSON body and a log line.
//!
//! `status()` and `side()` are exhaustive matches: a new variant does not compile until someone
//! decides its status. Bodies never echo a header, cookie, token, query or upstream body; 5xx
//! bodies are generic and the detail goes to the log.

use crate::body::{self, ResponseBody};
use crate::request_path::PathError;
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use http::{Response, StatusCode};
use std::time::Duration;
use thiserror::Error;

/// Which party failed: picks the status family, the log level (client → debug, upstream and
/// provider → warn, gateway → error) and the log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
    /// The sign-in provider, met by the auth step (a refresh) before any upstream was asked.
    Provider,
    Gateway,
}

#[derive(Debug, Error)]
pub enum GatewayError {
    #[error(transparent)]
    BadPath(#[from] PathError),
    #[error("the request has both Content-Length and Transfer-Encoding")]
    AmbiguousLength,
    #[error("the request has more than one Host header")]
    DuplicateHost,
    #[error("the request has no Host header")]
    MissingHost,
    #[error(
        "the request target names a different host than the Host header; this is not a forward proxy"
    )]
    ForeignTarget,
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("no route matches this path")]
    NoRoute,
    #[error("this route does not allow the {method} method")]
    MethodNotAllowed {
        method: http::Method,
        allow: Option<HeaderValue>,
    },
    #[error("the request body is larger than the route's limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("the client stopped sending the request body")]
    ClientAborted,
    #[error("cannot connect to the upstream")]
    UpstreamConnect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the upstream did not answer within {}", humantime::format_duration(*.after))]
    UpstreamTimeout { after: Duration },
    #[error("the upstream failed to answer")]
    UpstreamFailed(#[source] hyper::Error),
    #[error("cannot build the upstream request")]
    BuildRequest(#[source] http::Error),
    #[error("{0}")]
    Csrf(#[from] crate::auth::csrf::CsrfError),
    #[error("sign-in required; send the user to the login endpoint")]
    Unauthenticated,
    #[error("sign-in required")]
    LoginRedirect { location: String },
    #[error("the sign-in provider is unavailable; the session is kept, try again shortly")]
    ProviderUnavailable,
    #[error("the session no longer fits in cookies")]
    SessionTooLarge,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadPath(_)
            | Self::AmbiguousLength
            | Self::DuplicateHost
            | Self::MissingHost
            | Self::ForeignTarget
            | Self::ClientAborted => StatusCode::BAD_REQUEST,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamConnect(_) | Self::UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::BuildRequest(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Csrf(_) => StatusCode::FORBIDDEN,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::LoginRedirect { .. } => StatusCode::FOUND,
            Self::ProviderUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionTooLarge => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn side(&self) -> Side {
        match self {
            Self::BadPath(_)
            | Self::AmbiguousLength
            | Self::DuplicateHost
            | Self::MissingHost
            | Self::ForeignTarget
            | Self::UriTooLong { .. }
            | Self::NoRoute
            | Self::MethodNotAllowed { .. }
            | Self::BodyTooLarge { .. }
            | Self::ClientAborted
            | Self::Csrf(_)
            | Self::Unauthenticated
            | Self::LoginRedirect { .. } => Side::Client,
            Self::UpstreamConnect(_) | Self::UpstreamTimeout { .. } | Self::UpstreamFailed(_) => {
                Side::Upstream
            }
            Self::ProviderUnavailable => Side::Provider,
            Self::BuildRequest(_) | Self::SessionTooLarge => Side::Gateway,
        }
    }

    /// Machine-readable `error` field of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Csrf(_) => return "csrf",
            Self::Unauthenticated => return "unauthenticated",
            Self::LoginRedirect { .. } => return "login_required",
            Self::ProviderUnavailable => return "provider_unavailable",
            _ => {}
        }
        match self.status() {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::URI_TOO_LONG => "uri_too_long",
            StatusCode::BAD_GATEWAY => "bad_gateway",
            StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
            StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
            _ => "bad_request",
        }
    }

    /// Whether the connection must close after the answer (request framing is not trustworthy).
    fn closes_connection(&self) -> bool {
        matches!(
            self,
            Self::AmbiguousLength | Self::BodyTooLarge { .. } | Self::ClientAborted
        )
    }

    /// Logs the failure once and builds the client's answer.
    pub fn respond(&self, route: &str, upstream: &str) -> Response<ResponseBody> {
        let cause = error_chain(self);
        match self.side() {
            Side::Client => tracing::debug!(route, error = %cause, "request refused"),
            Side::Upstream => tracing::warn!(route, upstream, error = %cause, "upstream failed"),
            Side::Provider => tracing::warn!(route, error = %cause, "sign-in provider unavailable"),
            Side::Gateway => tracing::error!(route, upstream, error = %cause, "gateway failed"),
        }
        let message = self.to_string();
        let mut response = json_error(self.status(), self.code(), &message);
        if let Self::MethodNotAllowed {
            allow: Some(allow), ..
        } = self
        {
            response
                .headers_mut()
                .insert(http::header::ALLOW, allow.clone());
        }
        if let Self::LoginRedirect { location } = self
            && let Ok(value) = HeaderValue::from_str(location)
        {
            response.headers_mut().insert(http::header::LOCATION, value);
        }
        if self.closes_connection() {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A JSON error answer: `{"error": code, "message": message}`, never cached or sniffed.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    let mut text = String::with_capacity(32 + code.len() + message.len());
    text.push_str("{\"error\":");
    push_json_string(&mut text, code);
    text.push_str(",\"message\":");
    push_json_string(&mut text, message);
    text.push('}');
    let mut response = Response::new(body::full(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `outer: inner: innermost`, for one log line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_escapes_and_sets_safety_headers() {
        let r = json_error(StatusCode::BAD_REQUEST, "bad_request", "a \"b\" \\ \n");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn statuses_follow_the_failing_side() {
        assert_eq!(GatewayError::NoRoute.status(), StatusCode::NOT_FOUND);
        assert_eq!(GatewayError::NoRoute.side(), Side::Client);
        let timeout = GatewayError::UpstreamTimeout {
            after: Duration::from_secs(1),
        };
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(timeout.side(), Side::Upstream);
        assert_eq!(timeout.code(), "gateway_timeout");
        // A provider outage met by the auth step is not blamed on the route's upstream.
        assert_eq!(GatewayError::ProviderUnavailable.side(), Side::Provider);
        assert_eq!(
            GatewayError::ProviderUnavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            GatewayError::AmbiguousLength
                .respond("r", "u")
                .headers()
                .get(CONNECTION)
                .map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
    }
}
