//! Login-state cookie decoding: every `<prefix><id>` cookie `/auth/login` opens to evict the
//! oldest, and the one `/auth/callback` opens for its `state` (checklist A7, B1, B2, S3, D5).
//!
//! Input: one mode byte, then
//! - even: `Cookie` header lines separated by `\n`;
//! - odd: a plaintext, sealed with the handler's login key under the cookie name of the state
//!   [`STATE`], so the fuzzer reaches the `LoginState` JSON and what the callback does with it.
//!
//! The callback query carries `error=`, never a `code`, so no request leaves the process.
#![no_main]

use bff_gateway::auth::unix_now;
use bff_gateway::session::Purpose;
use bff_gateway_fuzz::{codec, get, lines, login_cookie_name};
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

const STATE: &str = "fuzz-state";
const CALLBACK_QUERY: &str = "state=fuzz-state&error=access_denied&iss=https%3A%2F%2Fas.example";

fn sealed_cookie(plaintext: &[u8]) -> Vec<u8> {
    let name = login_cookie_name(STATE);
    let sealed = codec(Purpose::Login).seal(&name, plaintext, unix_now() + 600);
    format!("{name}={sealed}").into_bytes()
}

/// The harness's cookie name and codec must be the handler's, or the odd mode fuzzes nothing.
fn self_check() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let now = unix_now();
        let login = format!(
            r#"{{"state":"{STATE}","verifier":"v","nonce":"n","return_to":"/app","created":{now}}}"#
        );
        let cookie = sealed_cookie(login.as_bytes());
        let response = get("/callback", Some(CALLBACK_QUERY), &[&cookie]);
        let location = response
            .as_ref()
            .and_then(|r| r.headers().get(http::header::LOCATION))
            .and_then(|l| l.to_str().ok());
        assert_eq!(
            location,
            Some("/app?auth_error=access_denied"),
            "the fuzz login cookie no longer matches the token handler's"
        );
    });
}

fuzz_target!(|data: &[u8]| {
    self_check();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let sealed;
    let cookie_lines = if mode % 2 == 0 {
        lines(rest)
    } else {
        sealed = sealed_cookie(rest);
        vec![sealed.as_slice()]
    };
    for (path, query) in [("/login", None), ("/callback", Some(CALLBACK_QUERY))] {
        if let Some(response) = get(path, query, &cookie_lines) {
            // checklist D5: a cookie never turns into a server error.
            if mode % 2 == 0 {
                assert!(
                    !response.status().is_server_error(),
                    "{}",
                    response.status()
                );
            }
        }
    }
});
