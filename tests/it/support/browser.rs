//! A scripted browser for the token-handler tests: a cookie jar that follows `Set-Cookie`
//! (including deletion), no automatic redirects, and helpers for the login dance.

use reqwest::header::{HeaderMap, HeaderValue};
use std::collections::BTreeMap;

/// One stored cookie with the attributes the tests assert on.
#[derive(Debug, Clone)]
pub struct StoredCookie {
    pub value: String,
    pub attributes: String,
}

impl StoredCookie {
    /// Asserts that the cookie was set with every one of `attributes`.
    pub fn assert_attributes(&self, attributes: &[&str]) {
        for attribute in attributes {
            assert!(
                self.attributes.contains(attribute),
                "{attribute}: {}",
                self.attributes
            );
        }
    }
}

/// Where a login went: the provider's authorize URL and the callback URL it redirected back to.
pub struct StartedLogin {
    pub authorize: String,
    pub callback: String,
}

pub struct Browser {
    pub client: reqwest::Client,
    /// Cookies per host (`127.0.0.1:port`), like a browser's jar for distinct origins.
    pub jars: BTreeMap<String, BTreeMap<String, StoredCookie>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            client: crate::support::client(),
            jars: BTreeMap::new(),
        }
    }

    fn host_of(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split('/').next().unwrap_or_default().to_owned()
    }

    pub fn jar(&self, url: &str) -> BTreeMap<String, StoredCookie> {
        self.jars
            .get(&Self::host_of(url))
            .cloned()
            .unwrap_or_default()
    }

    pub fn cookie_header(&self, url: &str) -> Option<String> {
        let jar = self.jars.get(&Self::host_of(url))?;
        if jar.is_empty() {
            return None;
        }
        Some(
            jar.iter()
                .map(|(k, v)| format!("{k}={}", v.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// Stores the `Set-Cookie` headers of a response from `url`.
    pub fn store(&mut self, url: &str, headers: &HeaderMap) {
        let jar = self.jars.entry(Self::host_of(url)).or_default();
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap_or_default().to_owned();
            let (pair, attributes) = text.split_once(';').unwrap_or((&text, ""));
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let deleted = attributes.contains("Max-Age=0");
            if deleted {
                jar.remove(name.trim());
            } else {
                jar.insert(
                    name.trim().to_owned(),
                    StoredCookie {
                        value: value.trim().to_owned(),
                        attributes: attributes.to_owned(),
                    },
                );
            }
        }
    }

    /// Sends a request with the jar's cookies and stores what comes back.
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.request(method, url);
        if let Some(cookies) = self.cookie_header(url) {
            request = request.header("cookie", cookies);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("request");
        self.store(url, response.headers());
        response
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, url, &[]).await
    }

    /// `GET login_url` (a gateway's `/auth/login`), then the provider's authorize URL, which
    /// answers without a form; the redirect back to the callback is not followed.
    pub async fn start_login(&mut self, login_url: &str) -> StartedLogin {
        let login = self.get(login_url).await;
        assert_eq!(login.status(), 302, "login must redirect to the provider");
        let authorize = location(&login);
        let at_provider = self.get(&authorize).await;
        assert!(
            at_provider.status().is_redirection(),
            "provider did not redirect back: {}",
            at_provider.status()
        );
        let callback = absolute(&authorize, &location(&at_provider));
        StartedLogin {
            authorize,
            callback,
        }
    }

    /// Follows redirects (resolving relative Locations) until a non-redirect answer.
    pub async fn follow(&mut self, mut url: String) -> (String, reqwest::Response) {
        for _ in 0..10 {
            let response = self.get(&url).await;
            if !response.status().is_redirection() {
                return (url, response);
            }
            let location = location(&response);
            url = absolute(&url, &location);
        }
        panic!("too many redirects");
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
        let host = rest.split('/').next().unwrap_or_default();
        format!("{scheme}://{host}{location}")
    }
}

/// Every `Set-Cookie` line of a response.
pub fn set_cookie_lines(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Whether the response deletes cookie `name` (`name=;` with `Max-Age=0`).
pub fn clears(response: &reqwest::Response, name: &str) -> bool {
    set_cookie_lines(response)
        .iter()
        .any(|l| l.starts_with(&format!("{name}=;")) && l.contains("Max-Age=0"))
}

/// Query parameters of a URL.
pub fn query_params(url: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some((_, query)) = url.split_once('?') {
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            out.entry(k.into_owned()).or_default().push(v.into_owned());
        }
    }
    out
}

pub fn header_value(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).expect("header value")
}
