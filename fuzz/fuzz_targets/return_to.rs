//! `return_to` validation (checklist A8, H4, D5). Crash-free is not enough here: every path the
//! validator accepts is checked against an independent oracle, a WHATWG URL parser (what a
//! browser does with a `Location`), so an accepted open redirect is a failure too.
#![no_main]

use bff_gateway::auth::pages;
use bff_gateway::auth::return_to::{MAX_LEN, is_safe_local_path, resolve};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use url::Url;

fn base() -> &'static Url {
    static BASE: OnceLock<Url> = OnceLock::new();
    BASE.get_or_init(|| {
        Url::parse("https://app.example/auth/callback").unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Whether a browser that follows `target` from the gateway stays on the gateway's origin.
fn stays_on_site(target: &str) -> bool {
    base()
        .join(target)
        .is_ok_and(|url| url.origin() == base().origin())
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let accepted = is_safe_local_path(path);
    let resolved = resolve(Some(path), "/home");
    assert_eq!(resolved, if accepted { path } else { "/home" });
    if !accepted {
        return;
    }
    assert!(path.starts_with('/') && path.len() <= MAX_LEN, "{path:?}");
    // checklist H4: nothing that could split a header or be read as another host.
    assert!(path.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{path:?}");
    assert!(stays_on_site(path), "{path:?} leaves the site");
    // Decoded once more (a proxy or framework that decodes before redirecting), still local.
    let decoded: Vec<u8> = percent_decode(path.as_bytes());
    if let Ok(decoded) = std::str::from_utf8(&decoded) {
        assert!(
            stays_on_site(decoded),
            "{path:?} decodes to {decoded:?}, off the site"
        );
        assert!(!decoded.bytes().any(|b| b.is_ascii_control()), "{path:?}");
    }
    // The redirect the gateway builds carries the path unchanged.
    let response = pages::redirect(path);
    assert_eq!(
        response
            .headers()
            .get(http::header::LOCATION)
            .map(|l| l.as_bytes()),
        Some(path.as_bytes())
    );
    let _ = pages::continue_to(path);
});

/// An independent percent-decoder (not the one under test).
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}
