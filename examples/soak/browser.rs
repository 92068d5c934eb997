//! One virtual user's browser: its own connection pool and a cookie jar kept the way a browser
//! keeps it (RFC 6265): cookies are per host — not per port, so the gateway and the provider
//! on 127.0.0.1 share one jar, as they would in a browser — and path; every `Set-Cookie` of
//! every response is applied when that response arrives, concurrent ones included, so the last
//! response to arrive wins; `Max-Age=0` or an `Expires` in the past deletes. `Secure` and
//! `SameSite` are not enforced: everything here is same-site loopback, which browsers treat
//! as a secure context.
//!
//! The jar's lock is a std mutex held only to read or apply headers, never across an await.

use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode, Url};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long one request may take before it counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

struct Stored {
    host: String,
    path: String,
    name: String,
    value: String,
    /// Unix seconds; `None` for a browser-session cookie.
    expires: Option<i64>,
}

#[derive(Default)]
pub struct Jar {
    cookies: Vec<Stored>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// RFC 6265 §5.1.4: `/a` matches `/a`, `/a/` and `/a/b`, not `/ab`.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => request_path[..i].to_owned(),
    }
}

impl Jar {
    /// The `Cookie` header a browser sends to `url` (longer paths first), if any.
    pub fn header(&self, url: &Url) -> Option<String> {
        let host = url.host_str()?;
        let now = unix_now();
        let mut matching: Vec<&Stored> = self
            .cookies
            .iter()
            .filter(|c| c.host == host && path_matches(&c.path, url.path()))
            .filter(|c| c.expires.is_none_or(|e| e > now))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let pairs: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        Some(pairs.join("; "))
    }

    /// Applies every `Set-Cookie` of one response from `url`, in order.
    pub fn store(&mut self, url: &Url, headers: &HeaderMap) {
        let Some(host) = url.host_str() else { return };
        let now = unix_now();
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(cookie) = cookie::Cookie::parse(text) else {
                continue;
            };
            let path = match cookie.path() {
                Some(p) if p.starts_with('/') => p.to_owned(),
                _ => default_path(url.path()),
            };
            let expires = match cookie.max_age() {
                Some(age) => Some(now.saturating_add(age.whole_seconds())),
                None => cookie.expires_datetime().map(|t| t.unix_timestamp()),
            };
            self.cookies
                .retain(|c| !(c.host == host && c.path == path && c.name == cookie.name()));
            if expires.is_none_or(|e| e > now) {
                self.cookies.push(Stored {
                    host: host.to_owned(),
                    path,
                    name: cookie.name().to_owned(),
                    value: cookie.value().to_owned(),
                    expires,
                });
            }
        }
    }

    /// Whether a cookie named `name` (or starting with it) is held for `host`.
    pub fn holds(&self, host: &str, name: &str) -> bool {
        self.cookies
            .iter()
            .any(|c| c.host == host && c.name.starts_with(name))
    }
}

/// One answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn location(&self, base: &Url) -> Option<Url> {
        let location = self.headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
        base.join(location).ok()
    }
}

pub struct Browser {
    client: reqwest::Client,
    pub jar: Mutex<Jar>,
}

impl Browser {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()?;
        Ok(Self {
            client,
            jar: Mutex::new(Jar::default()),
        })
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, Jar> {
        self.jar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn cookie_header(&self, url: &Url) -> Option<String> {
        self.jar().header(url)
    }

    pub fn store(&self, url: &Url, headers: &HeaderMap) {
        self.jar().store(url, headers);
    }

    pub fn holds(&self, url: &Url, name: &str) -> bool {
        url.host_str()
            .is_some_and(|host| self.jar().holds(host, name))
    }

    /// Sends one request with the jar's cookies as they are now, reads the whole answer and
    /// applies its `Set-Cookie` headers.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self.client.request(method, url.clone());
        if let Some(cookies) = self.cookie_header(url) {
            request = request.header(COOKIE, cookies);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        self.store(url, &headers);
        let body = response.bytes().await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_on_segment_boundaries() {
        assert!(path_matches("/", "/api/x"));
        assert!(path_matches("/auth", "/auth/callback"));
        assert!(!path_matches("/auth", "/authx"));
        assert_eq!(default_path("/auth/callback"), "/auth");
    }
}
