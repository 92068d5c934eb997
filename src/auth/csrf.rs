//! Cross-site request defences for signed-in API routes (checklist X1–X3) and CORS for the
//! configured origins.
//!
//! Every request on such a route must carry the configured header (default `X-CSRF: 1`), which a
//! cross-site form or image cannot send and a cross-origin `fetch` can only send after a CORS
//! pre-flight this gateway answers for configured origins only. `Origin` and `Sec-Fetch-Site`
//! from another site are refused before anything reaches the upstream.

use http::header::{HeaderMap, HeaderName, HeaderValue, ORIGIN};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("the request lacks the anti-CSRF header; send it with every API call")]
    MissingHeader,
    #[error("cross-site requests are not allowed")]
    CrossSite,
    #[error("requests from this origin are not allowed")]
    ForeignOrigin,
}

/// Origin rules shared by the CSRF check and CORS.
#[derive(Debug, Clone)]
pub struct Origins {
    /// `scheme://authority` of `server.public_url`.
    pub public: String,
    pub allowed: Vec<String>,
}

impl Origins {
    /// The request's `Origin` when it is configured for CORS (not the gateway's own origin).
    pub fn cors_origin<'h>(&self, headers: &'h HeaderMap) -> Option<&'h HeaderValue> {
        let origin = headers.get(ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.allowed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(text))
            .then_some(origin)
    }

    fn is_trusted(&self, origin: &str) -> bool {
        origin.eq_ignore_ascii_case(&self.public)
            || self.allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
    }

    /// Checks a request that cannot carry the CSRF header, such as a top-level `GET` navigation
    /// (the optional GET logout, checklist O-get): a foreign `Origin` or a `Sec-Fetch-Site` of
    /// `cross-site`/`same-site` from an untrusted origin is refused. Browsers send no `Origin`
    /// on a plain navigation, so its absence is not held against the request.
    pub fn check_navigation(&self, headers: &HeaderMap) -> Result<(), CsrfError> {
        let origin = headers.get(ORIGIN).and_then(|o| o.to_str().ok());
        if origin.is_some_and(|o| !self.is_trusted(o)) {
            return Err(CsrfError::ForeignOrigin);
        }
        let site = headers.get(SEC_FETCH_SITE).map(HeaderValue::as_bytes);
        let origin_trusted = origin.is_some_and(|o| self.is_trusted(o));
        match site {
            Some(b"cross-site" | b"same-site") if !origin_trusted => Err(CsrfError::CrossSite),
            _ => Ok(()),
        }
    }

    /// Checks one API request. `require_header` is false only for WebSocket upgrades, where the
    /// Origin check is the whole defence and therefore strict (an Origin must be present).
    pub fn check(
        &self,
        headers: &HeaderMap,
        csrf_header: &HeaderName,
        require_header: bool,
    ) -> Result<(), CsrfError> {
        let origin = headers.get(ORIGIN).and_then(|o| o.to_str().ok());
        match origin {
            Some(o) if !self.is_trusted(o) => return Err(CsrfError::ForeignOrigin),
            None if !require_header => return Err(CsrfError::ForeignOrigin),
            _ => {}
        }
        let site = headers
            .get(SEC_FETCH_SITE)
            .map(HeaderValue::as_bytes)
            .unwrap_or(b"");
        let origin_trusted = origin.is_some_and(|o| self.is_trusted(o));
        match site {
            b"cross-site" | b"same-site" if !origin_trusted => return Err(CsrfError::CrossSite),
            _ => {}
        }
        if require_header && headers.get(csrf_header).map(HeaderValue::as_bytes) != Some(b"1") {
            return Err(CsrfError::MissingHeader);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Origins {
        Origins {
            public: "https://app.example".into(),
            allowed: vec!["https://spa.example".into()],
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const X: HeaderName = HeaderName::from_static("x-csrf");

    // checklist O-get, X2: a GET logout is refused from another site, allowed as a navigation.
    #[test]
    fn navigations_from_other_sites_are_refused() {
        let o = origins();
        assert_eq!(
            o.check_navigation(&headers(&[("sec-fetch-site", "cross-site")])),
            Err(CsrfError::CrossSite)
        );
        assert_eq!(
            o.check_navigation(&headers(&[("sec-fetch-site", "same-site")])),
            Err(CsrfError::CrossSite)
        );
        assert_eq!(
            o.check_navigation(&headers(&[("origin", "https://evil.example")])),
            Err(CsrfError::ForeignOrigin)
        );
        assert!(
            o.check_navigation(&headers(&[("sec-fetch-site", "same-origin")]))
                .is_ok()
        );
        assert!(
            o.check_navigation(&headers(&[("sec-fetch-site", "none")]))
                .is_ok()
        );
        assert!(o.check_navigation(&headers(&[])).is_ok());
    }

    // checklist X1: the header is required on every method.
    #[test]
    fn missing_header_is_refused() {
        assert_eq!(
            origins().check(&headers(&[]), &X, true),
            Err(CsrfError::MissingHeader)
        );
        assert_eq!(
            origins().check(&headers(&[("x-csrf", "0")]), &X, true),
            Err(CsrfError::MissingHeader)
        );
        assert!(
            origins()
                .check(&headers(&[("x-csrf", "1")]), &X, true)
                .is_ok()
        );
    }

    // checklist X2: foreign Origin and cross-site fetch metadata are refused.
    #[test]
    fn foreign_origins_and_cross_site_requests_are_refused() {
        let o = origins();
        let evil = headers(&[("x-csrf", "1"), ("origin", "https://evil.example")]);
        assert_eq!(o.check(&evil, &X, true), Err(CsrfError::ForeignOrigin));
        let null = headers(&[("x-csrf", "1"), ("origin", "null")]);
        assert_eq!(o.check(&null, &X, true), Err(CsrfError::ForeignOrigin));
        let cross = headers(&[("x-csrf", "1"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(o.check(&cross, &X, true), Err(CsrfError::CrossSite));
        let sibling = headers(&[("x-csrf", "1"), ("sec-fetch-site", "same-site")]);
        assert_eq!(o.check(&sibling, &X, true), Err(CsrfError::CrossSite));
        let configured = headers(&[
            ("x-csrf", "1"),
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://spa.example"),
        ]);
        assert!(o.check(&configured, &X, true).is_ok());
        let same = headers(&[
            ("x-csrf", "1"),
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://app.example"),
        ]);
        assert!(o.check(&same, &X, true).is_ok());
    }

    // checklist X-ws: WebSocket upgrades need a trusted Origin.
    #[test]
    fn websocket_upgrades_need_a_trusted_origin() {
        let o = origins();
        assert_eq!(
            o.check(&headers(&[]), &X, false),
            Err(CsrfError::ForeignOrigin)
        );
        assert!(
            o.check(&headers(&[("origin", "https://app.example")]), &X, false)
                .is_ok()
        );
    }

    #[test]
    fn cors_applies_to_configured_origins_only() {
        let o = origins();
        assert!(
            o.cors_origin(&headers(&[("origin", "https://spa.example")]))
                .is_some()
        );
        assert!(
            o.cors_origin(&headers(&[("origin", "https://app.example")]))
                .is_none()
        );
        assert!(
            o.cors_origin(&headers(&[("origin", "https://evil.example")]))
                .is_none()
        );
    }
}
