//! The few responses the `/auth/*` endpoints write themselves: a same-origin "continue" page, a
//! plain error page, redirects and JSON. Everything shown is HTML-escaped; nothing is cached;
//! no Referer leaves (checklist B4, B6, K5).

use crate::body::{self, ResponseBody};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, LOCATION, REFERRER_POLICY,
    SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
};
use http::{Response, StatusCode};

fn base(status: StatusCode, content_type: &'static str, body: String) -> Response<ResponseBody> {
    let mut response = Response::new(body::full(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

/// A 302 to `location` (already validated or built from config).
pub fn redirect(location: &str) -> Response<ResponseBody> {
    let mut response = base(
        StatusCode::FOUND,
        "text/plain; charset=utf-8",
        String::new(),
    );
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
        }
        Err(_) => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
    }
    response
}

/// A tiny same-origin page that navigates to `location`. Used at the end of the callback: a
/// `SameSite=Strict` session cookie is not sent on a redirect that continues the provider's
/// cross-site navigation, but it is sent on a navigation this same-origin page starts.
pub fn continue_to(location: &str) -> Response<ResponseBody> {
    let href = escape(location);
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={href}\"><title>Signed in</title></head>\
         <body><p>Signed in. <a href=\"{href}\">Continue</a></p></body></html>"
    );
    base(StatusCode::OK, "text/html; charset=utf-8", body)
}

/// A plain error page; `title` and `detail` are escaped.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response<ResponseBody> {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{d}</p></body></html>",
        t = escape(title),
        d = escape(detail)
    );
    base(status, "text/html; charset=utf-8", body)
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    base(status, "application/json", value.to_string())
}

/// Appends `Set-Cookie` values.
pub fn with_cookies(
    mut response: Response<ResponseBody>,
    cookies: Vec<HeaderValue>,
) -> Response<ResponseBody> {
    for cookie in cookies {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // checklist B4: nothing from the query reaches the page unescaped.
    #[test]
    fn error_pages_escape_everything() {
        let r = error_page(StatusCode::BAD_REQUEST, "<b>", "<script>alert(1)</script>");
        assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(
            r.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(
            escape("<a href=\"x\">'"),
            "&lt;a href=&quot;x&quot;&gt;&#39;"
        );
    }

    #[test]
    fn redirects_refuse_header_injection() {
        assert_eq!(
            redirect("/ok\r\nSet-Cookie: x=y").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(redirect("/ok").headers()[LOCATION], "/ok");
    }
}
