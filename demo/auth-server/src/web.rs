//! HTTP plumbing shared by the endpoints: parameters, bounded bodies, cookies and responses.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

/// Response body type of every endpoint.
pub type Body = Full<Bytes>;
/// Response type of every endpoint.
pub type Response = hyper::Response<Body>;
/// A request as the endpoints see it: head plus the (bounded) body, already read.
pub struct Request {
    pub method: Method,
    pub uri: http::Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Largest request body read (forms are tiny).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Broken,
}

/// Reads a request, refusing bodies over [`MAX_BODY_BYTES`].
pub async fn read(request: hyper::Request<Incoming>) -> Result<Request, BodyError> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge),
        Err(_) => return Err(BodyError::Broken),
    };
    Ok(Request {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    })
}

/// Parameters from a query string or a form body. Empty values count as absent (RFC 6749 §3.1);
/// a repeated name is an error (RFC 6749 §3.1, §3.2).
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// A parameter was sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated(pub &'static str);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes.
    pub fn parse(bytes: &[u8]) -> Self {
        Self {
            pairs: form_urlencoded::parse(bytes).into_owned().collect(),
        }
    }

    /// The query parameters of `request`.
    pub fn query(request: &Request) -> Self {
        Self::parse(request.uri.query().unwrap_or("").as_bytes())
    }

    /// The form parameters of `request` (its query for GET/HEAD).
    pub fn query_or_form(request: &Request) -> Self {
        if request.method == Method::GET || request.method == Method::HEAD {
            Self::query(request)
        } else {
            Self::parse(&request.body)
        }
    }

    /// The value of `name`, if sent once with a non-empty value.
    pub fn get(&self, name: &'static str) -> Result<Option<&str>, Repeated> {
        let mut found = self
            .pairs
            .iter()
            .filter(|(n, v)| n == name && !v.is_empty());
        let first = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return Err(Repeated(name));
        }
        Ok(first)
    }

    /// The value of `name`, treating a repeated parameter as absent (for lenient pages).
    pub fn get_lenient(&self, name: &'static str) -> Option<&str> {
        self.get(name).ok().flatten()
    }
}

/// Whether the request body is declared as a form.
pub fn is_form(request: &Request) -> bool {
    request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

fn with_status(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn put(response: &mut Response, name: HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

/// Marks a response as not cacheable (every token, form and redirect).
pub fn no_store(response: &mut Response) {
    put(response, header::CACHE_CONTROL, "no-store");
    put(response, header::PRAGMA, "no-cache");
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response {
    let mut response = with_status(status, value.to_string());
    put(&mut response, header::CONTENT_TYPE, "application/json");
    no_store(&mut response);
    response
}

/// An OAuth error response (RFC 6749 §5.2).
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// An OAuth error (RFC 6749 §5.2) on its way to becoming a JSON response.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// A `WWW-Authenticate` challenge to add.
    pub challenge: Option<&'static str>,
}

impl OAuthError {
    /// A 400 with `error`.
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    /// A 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_request", description)
    }

    /// The JSON response.
    pub fn into_response(self) -> Response {
        let mut response = oauth_error(self.status, self.error, &self.description);
        if let Some(challenge) = self.challenge {
            www_authenticate(&mut response, challenge);
        }
        response
    }
}

impl From<Repeated> for OAuthError {
    fn from(Repeated(name): Repeated) -> Self {
        Self::invalid_request(format!("the {name} parameter is repeated"))
    }
}

/// An HTML page, with headers that keep it out of frames and caches.
pub fn html(status: StatusCode, page: String) -> Response {
    let mut response = with_status(status, page);
    put(
        &mut response,
        header::CONTENT_TYPE,
        "text/html; charset=utf-8",
    );
    put(
        &mut response,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    );
    put(&mut response, header::X_FRAME_OPTIONS, "DENY");
    put(&mut response, header::REFERRER_POLICY, "no-referrer");
    put(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    no_store(&mut response);
    response
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = with_status(status, body);
    put(
        &mut response,
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    );
    response
}

/// A 302 to `location` (which must be a valid header value; otherwise a 500).
pub fn redirect(location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "bad redirect target\n");
    };
    let mut response = with_status(StatusCode::FOUND, Bytes::new());
    response.headers_mut().insert(header::LOCATION, value);
    put(&mut response, header::REFERRER_POLICY, "no-referrer");
    no_store(&mut response);
    response
}

/// A redirect with another status (e.g. `307`) to `location`.
pub fn redirect_with_status(status: StatusCode, location: &str) -> Response {
    let mut response = redirect(location);
    if response.status() == StatusCode::FOUND {
        *response.status_mut() = status;
    }
    response
}

/// Adds a `Set-Cookie` header (silently skipped if `value` is not a valid header value).
pub fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Adds a `WWW-Authenticate` header.
pub fn www_authenticate(response: &mut Response, value: &'static str) {
    put(response, header::WWW_AUTHENTICATE, value);
}

/// 404.
pub fn not_found() -> Response {
    json(StatusCode::NOT_FOUND, &json!({"error": "not_found"}))
}

/// 405 with the allowed methods.
pub fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": "method_not_allowed"}),
    );
    put(&mut response, header::ALLOW, allow);
    response
}

/// 500 without details (never echo internals).
pub fn server_error() -> Response {
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "internal error",
    )
}

/// Appends `pairs` to `base`'s query, form-encoded (keeps an existing query).
pub fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    let separator = match base.contains('?') {
        true if base.ends_with('?') || base.ends_with('&') => "",
        true => "&",
        false => "?",
    };
    format!("{base}{separator}{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_refuse_repeats_and_ignore_empty_values() {
        let p = Params::parse(b"a=1&b=&c=x&c=y&d=%20z");
        assert_eq!(p.get("a"), Ok(Some("1")));
        assert_eq!(p.get("b"), Ok(None));
        assert_eq!(p.get("c"), Err(Repeated("c")));
        assert_eq!(p.get("d"), Ok(Some(" z")));
        assert_eq!(p.get_lenient("c"), None);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("ab=1; a=2"));
        assert_eq!(cookie(&headers, "a").as_deref(), Some("2"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn queries_are_encoded_and_appended() {
        assert_eq!(
            with_query("https://a/cb", &[("code", "x y"), ("state", "&=")]),
            "https://a/cb?code=x+y&state=%26%3D"
        );
        assert_eq!(
            with_query("https://a/cb?k=v", &[("a", "b")]),
            "https://a/cb?k=v&a=b"
        );
    }

    #[test]
    fn invalid_redirects_are_server_errors() {
        assert_eq!(redirect("https://a/\n").status(), 500);
        assert_eq!(redirect("https://a/").status(), 302);
    }
}
