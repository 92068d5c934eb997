//! Query parsing of `/auth/callback` (and of the other `/auth/*` endpoints that read one:
//! `/auth/login`, `/auth/logout/continue`, `/auth/logout/done`) through the real endpoint
//! (checklist B1, B2, B3, B4, A8, D5).
//!
//! Input: the query string, then optional `Cookie` header lines, separated by `\n`. The fuzzer
//! cannot forge a sealed login cookie, so no callback ever gets as far as the token request.
#![no_main]

use bff_gateway_fuzz::{get, lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parts = lines(data);
    let Some((query, cookies)) = parts.split_first() else {
        return;
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    for path in ["/callback", "/login", "/logout/continue", "/logout/done"] {
        let Some(response) = get(path, Some(query), cookies) else {
            continue;
        };
        let status = response.status();
        // checklist D5: malformed input is a 4xx (or a redirect), never a server error.
        assert!(!status.is_server_error(), "{path}: {status}");
        if path == "/callback" {
            // checklist B1: without the browser's login cookie there is no session.
            assert!(status.is_client_error(), "{path}: {status}");
            let sets_session = response
                .headers()
                .get_all(http::header::SET_COOKIE)
                .iter()
                .any(|v| {
                    v.as_bytes().starts_with(b"__Host-bff=")
                        && !v.as_bytes().starts_with(b"__Host-bff=;")
                });
            assert!(
                !sets_session,
                "a callback without a login cookie set a session"
            );
        }
    }
});
