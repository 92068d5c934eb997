//! Session cookie decoding: `Cookie` header parsing, chunk reassembly, AES-GCM open, the JSON of
//! the session and its lifetimes (checklist S3, S4, S5, S6, D5).
//!
//! Input: one mode byte, then
//! - even: `Cookie` header lines separated by `\n`, as a browser (or an attacker) sends them;
//! - odd: a plaintext, sealed with the handler's own key and written as the handler writes its
//!   cookies, so the fuzzer reaches the chunk reader with valid chunks and the JSON behind the AEAD.
#![no_main]

use bff_gateway::session::cookies::{self, CookieSpec, RequestCookies};
use bff_gateway::session::{Purpose, Session};
use bff_gateway_fuzz::{LOGIN_PREFIX, NOW, SESSION_COOKIE, codec, echo_back, handler, lines};
use cookie::SameSite;
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use std::sync::Once;
use std::time::Duration;

fn spec() -> CookieSpec {
    CookieSpec {
        name: SESSION_COOKIE.to_owned(),
        secure: true,
        same_site: SameSite::Strict,
        max_age: Some(Duration::from_secs(8 * 3600)),
    }
}

/// The harness's codec must be the handler's, or the odd mode fuzzes nothing.
fn self_check() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let plaintext = format!(r#"{{"at":"a","created":{NOW},"seen":{NOW}}}"#);
        let sealed = codec(Purpose::Session).seal(SESSION_COOKIE, plaintext.as_bytes(), NOW + 60);
        let header = HeaderValue::from_str(&format!("{SESSION_COOKIE}={sealed}")).ok();
        let cookies = RequestCookies::parse(header.iter());
        assert!(
            handler().open_session(&cookies, NOW).is_ok(),
            "the fuzz codec no longer matches the token handler's"
        );
    });
}

fn exercise(cookies: &RequestCookies<'_>) -> Option<std::sync::Arc<Session>> {
    let th = handler();
    let _ = cookies.chunk_count(SESSION_COOKIE);
    let _ = cookies.without_families(&[SESSION_COOKIE]);
    let _ = cookies
        .iter()
        .filter(|(n, _)| n.starts_with(LOGIN_PREFIX))
        .count();
    let _ = th.clear_session(cookies);
    let session = th.open_session(cookies, NOW).ok()?;
    let _ = th.expires_at(&session);
    let _ = th.needs_touch(&session, NOW);
    Some(session)
}

fuzz_target!(|data: &[u8]| {
    self_check();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let values: Vec<HeaderValue> = lines(rest)
            .into_iter()
            .filter_map(|l| HeaderValue::from_bytes(l).ok())
            .collect();
        let cookies = RequestCookies::parse(values.iter());
        let _ = exercise(&cookies);
        return;
    }
    let sealed = codec(Purpose::Session).seal(SESSION_COOKIE, rest, NOW + 3600);
    let Ok(set) = cookies::write(&spec(), &sealed, 0) else {
        return;
    };
    // checklist S4: whatever the handler writes fits a browser's cookie limit.
    for value in &set {
        assert!(
            value.len() <= cookies::MAX_SET_COOKIE_BYTES,
            "{} bytes",
            value.len()
        );
    }
    let header = echo_back(&set);
    let cookies = RequestCookies::parse(header.iter());
    let Some(session) = exercise(&cookies) else {
        return;
    };
    // A session that opened is written back and reopens to the same session.
    if let Ok(rewritten) = handler().write_session(&session, &cookies) {
        let header = echo_back(&rewritten);
        let again = RequestCookies::parse(header.iter());
        if let Ok(reopened) = handler().open_session(&again, NOW) {
            assert_eq!(
                serde_json::to_value(&*reopened).ok(),
                serde_json::to_value(&*session).ok()
            );
        }
    }
});
