//! Validates where a browser may be sent after login or logout (checklist A8, H4).
//!
//! Only a path on this site is accepted: it starts with one `/`, is printable ASCII, and neither it
//! nor its percent-decoded form can be read as another host (`//evil`, `/\evil`, `/%2f%2fevil`,
//! `/%5cevil`) or smuggle a header (CR, LF, NUL, tabs); its path part must also be one the
//! gateway would route (`request_path::normalise`: no malformed or non-UTF-8 escapes, no dot
//! segments), so a login never ends on the gateway's own 400. Anything else falls back to the
//! default.

/// Longest accepted `return_to`.
pub const MAX_LEN: usize = 2048;

/// Whether `path` is a safe same-origin target.
pub fn is_safe_local_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_LEN || bytes[0] != b'/' {
        return false;
    }
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) || bytes.contains(&b'\\') {
        return false;
    }
    if matches!(bytes.get(1), Some(b'/')) {
        return false;
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode(bytes).collect();
    if decoded.iter().any(|b| b.is_ascii_control() || *b == b'\\') {
        return false;
    }
    if matches!(decoded.get(1), Some(b'/')) {
        return false;
    }
    let path_part = path.split(['?', '#']).next().unwrap_or(path);
    crate::request_path::normalise(path_part).is_ok()
}

/// The requested target when it is safe, else `default`.
pub fn resolve<'a>(requested: Option<&'a str>, default: &'a str) -> &'a str {
    match requested {
        Some(path) if is_safe_local_path(path) => path,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_accepted() {
        for path in [
            "/",
            "/app",
            "/app/contacts?tab=1",
            "/a#frag",
            "/%20x",
            "/a/b/",
        ] {
            assert!(is_safe_local_path(path), "{path}");
        }
    }

    // Issue 7, checklist D5: a path the gateway itself would refuse (400) is no target either.
    #[test]
    fn paths_the_gateway_would_refuse_are_refused() {
        for path in [
            "/%zz",
            "/a%",
            "/%ff%fe",
            "/%c0%ae%c0%ae/admin",
            "/a/../b",
            "/a/%2e%2e/b",
            "/a/./b",
        ] {
            assert!(!is_safe_local_path(path), "{path}");
        }
        // Only the path part is held to the path rules.
        for path in ["/a?next=%zz", "/a?x=../y", "/a#%zz", "/%C3%A9?q=%ff"] {
            assert!(is_safe_local_path(path), "{path}");
        }
    }

    // checklist A8, §2 attack 1: every open-redirect payload falls back to the default.
    #[test]
    fn open_redirect_payloads_are_refused() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        for path in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/%5cevil.example",
            "/%2f%2fevil.example",
            "/%2F/evil.example",
            "https:evil.example",
            "/\t/evil.example",
            "javascript:alert(1)",
            "/%0d%0aLocation:%20https://evil",
            "/%0aSet-Cookie:x=y",
            "/a%00b",
            "",
            "evil",
            "/é",
            long.as_str(),
        ] {
            assert!(!is_safe_local_path(path), "{path:?} was accepted");
            assert_eq!(resolve(Some(path), "/home"), "/home");
        }
    }

    #[test]
    fn at_sign_paths_stay_on_this_site() {
        // `/ok@evil.example` is a path on this site, not userinfo: it starts with `/`.
        assert!(is_safe_local_path("/ok@evil.example"));
    }

    #[test]
    fn missing_target_uses_the_default() {
        assert_eq!(resolve(None, "/home"), "/home");
    }
}
