//! Normalises a request path once, before routing, so that the path a route matched is exactly
//! the path the upstream receives (checklist P1).
//!
//! Refused, not repaired: anything but an origin-form path, raw bytes outside ASCII (RFC 3986
//! has them percent-encoded; an upstream could read them in another charset), malformed `%`
//! escapes, escapes that decode to a separator or a dot segment (`%2f`, `%5c`, `%2e%2e`, `%00`),
//! escapes that do not decode to UTF-8 (`%ff`, or the overlong `%c0%ae`, which a lax decoder
//! reads as `.`), a raw `\`, and `.` or `..` segments. Repeated slashes are merged. This module must never
//! decode a path for the upstream: what is forwarded is the client's own bytes, minus merged
//! slashes.

use std::borrow::Cow;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("the request target must be a path starting with `/`")]
    NotOriginForm,
    #[error("the path has a byte outside ASCII; send it percent-encoded")]
    RawNonAscii,
    #[error("the path has a malformed `%` escape")]
    BadPercentEncoding,
    #[error("the path has an escaped `/`, `\\` or NUL (`%2f`, `%5c`, `%00`)")]
    EncodedSeparator,
    #[error("the path has `%` escapes that do not decode to UTF-8 (such as `%ff` or `%c0%ae`)")]
    NotUtf8,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path contains a `.` or `..` segment")]
    DotSegment,
}

/// Returns the normalised path, borrowing when nothing had to change (the common case).
pub fn normalise(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    let mut needs_merge = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(PathError::Backslash),
            0x80.. => return Err(PathError::RawNonAscii),
            b'%' => {
                let value = decode_escape(bytes, i)?;
                if matches!(value, b'/' | b'\\' | 0) {
                    return Err(PathError::EncodedSeparator);
                }
                i += if value < 0x80 {
                    3
                } else {
                    escaped_utf8_len(bytes, i, value)?
                };
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => needs_merge = true,
            _ => {}
        }
        i += 1;
    }
    if path.split('/').any(is_dot_segment) {
        return Err(PathError::DotSegment);
    }
    if !needs_merge {
        return Ok(Cow::Borrowed(path));
    }
    let mut merged = String::with_capacity(path.len());
    let mut previous_slash = false;
    for c in path.chars() {
        if c == '/' && previous_slash {
            continue;
        }
        previous_slash = c == '/';
        merged.push(c);
    }
    Ok(Cow::Owned(merged))
}

fn decode_escape(bytes: &[u8], at: usize) -> Result<u8, PathError> {
    let hex = |b: Option<&u8>| match b {
        Some(b) => (*b as char)
            .to_digit(16)
            .ok_or(PathError::BadPercentEncoding),
        None => Err(PathError::BadPercentEncoding),
    };
    let high = hex(bytes.get(at + 1))?;
    let low = hex(bytes.get(at + 2))?;
    Ok((high * 16 + low) as u8)
}

/// The length in path bytes of the escaped UTF-8 character starting with the escape at `at`,
/// whose value `lead` is not ASCII: its continuation bytes must be escapes that follow at once.
/// The decoded bytes are checked by `std::str::from_utf8`, which refuses overlong forms,
/// surrogates and values past U+10FFFF.
fn escaped_utf8_len(bytes: &[u8], at: usize, lead: u8) -> Result<usize, PathError> {
    let len = match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return Err(PathError::NotUtf8),
    };
    let mut decoded = [lead, 0, 0, 0];
    for (k, slot) in decoded.iter_mut().enumerate().take(len).skip(1) {
        let escape = at + 3 * k;
        if bytes.get(escape) != Some(&b'%') {
            return Err(PathError::NotUtf8);
        }
        *slot = decode_escape(bytes, escape)?;
    }
    match std::str::from_utf8(&decoded[..len]) {
        Ok(_) => Ok(3 * len),
        Err(_) => Err(PathError::NotUtf8),
    }
}

/// `.` and `..`, also when their dots are escaped (`%2e`, `.%2E`, ...).
fn is_dot_segment(segment: &str) -> bool {
    let mut dots = 0;
    let mut rest = segment.as_bytes();
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && (rest[2] | 0x20) == b'e'
        {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_unchanged_and_borrowed() {
        for path in [
            "/",
            "/api/contacts",
            "/a/b.json",
            "/a/%20b",
            "/a/...",
            "/a/.hidden",
        ] {
            assert!(
                matches!(normalise(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn repeated_slashes_are_merged() {
        assert_eq!(normalise("//api///x//").unwrap(), "/api/x/");
    }

    // checklist P1: no escaping out of a route's prefix by dot segments, raw or encoded.
    #[test]
    fn dot_segments_are_refused_raw_or_encoded() {
        for path in [
            "/api/../admin",
            "/api/./x",
            "/api/..",
            "/api/%2e%2e/admin",
            "/api/%2E%2e/admin",
            "/api/.%2e/admin",
            "/api/%2e/x",
        ] {
            assert_eq!(normalise(path), Err(PathError::DotSegment), "{path}");
        }
    }

    // checklist P1: encoded separators and backslashes are refused.
    #[test]
    fn encoded_separators_and_backslashes_are_refused() {
        for path in ["/api%2f..%2fadmin", "/api/%2F", "/api/%5cadmin", "/a%00b"] {
            assert_eq!(normalise(path), Err(PathError::EncodedSeparator), "{path}");
        }
        assert_eq!(normalise("/api\\..\\admin"), Err(PathError::Backslash));
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for path in ["/a%", "/a%2", "/a%zz", "/a%g0"] {
            assert_eq!(
                normalise(path),
                Err(PathError::BadPercentEncoding),
                "{path}"
            );
        }
    }

    // Browsers send such bytes percent-encoded; only a hand-made request has them raw.
    #[test]
    fn raw_bytes_outside_ascii_are_refused() {
        for path in ["/api/é", "/api/\u{ff0f}admin"] {
            assert_eq!(normalise(path), Err(PathError::RawNonAscii), "{path}");
        }
        assert!(normalise("/api/%C3%A9").is_ok());
    }

    // Issue 7, checklist P1, D5: escapes must decode to UTF-8; an overlong `%c0%ae` is a `.` to a
    // lax decoder, `%ff` and lone or cut-short sequences are no text at all.
    #[test]
    fn escapes_that_are_not_utf8_are_refused() {
        for path in [
            "/api/%ff",
            "/api/%c0%ae%c0%ae/admin",
            "/api/%e0%80%ae",
            "/api/%80",
            "/api/%c3",
            "/api/%c3x",
            "/api/%c3%41",
            "/api/%e2%82",
            "/api/%ed%a0%80",
            "/api/%f4%90%80%80",
            "/api/%f8%88%80%80%80",
        ] {
            assert_eq!(normalise(path), Err(PathError::NotUtf8), "{path}");
        }
        assert_eq!(normalise("/api/%c3%z9"), Err(PathError::BadPercentEncoding));
        for path in [
            "/api/%C3%A9",
            "/api/%e2%82%ac/x",
            "/%F0%9F%98%80",
            "/a%7fb",
            "/%ef%bf%bd",
        ] {
            assert!(
                matches!(normalise(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn only_origin_form_is_accepted() {
        for path in ["", "*", "api", "http://x/"] {
            assert_eq!(normalise(path), Err(PathError::NotOriginForm), "{path}");
        }
    }
}
