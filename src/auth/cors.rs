//! CORS for the origins in `auth.allowed_origins` on signed-in routes: pre-flights are answered
//! before any auth step (never redirected, never 401), and answers, refusals included, carry the
//! headers so the SPA can read them. Other origins get no CORS headers at all.

use crate::body::{self, ResponseBody};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, VARY,
};
use http::{Response, StatusCode};

/// Adds the CORS answer headers for an allowed origin.
pub fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(VARY, HeaderValue::from_static("Origin"));
}

/// The answer to a pre-flight from an allowed origin.
pub fn preflight(
    origin: &HeaderValue,
    request: &HeaderMap,
    route_methods: &Option<HeaderValue>,
) -> Response<ResponseBody> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let h = response.headers_mut();
    allow(h, origin.clone());
    let methods = route_methods
        .clone()
        .or_else(|| request.get(ACCESS_CONTROL_REQUEST_METHOD).cloned());
    if let Some(methods) = methods {
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    if let Some(requested) = request.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}
