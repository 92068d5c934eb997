//! Header rewriting between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1),
//! `X-Forwarded-*` (checklist H1–H3) and `Host`.
//!
//! Forwarding headers from a peer outside `trusted_proxies` are never believed: they are replaced
//! (`X-Forwarded-*`) or dropped (`Forwarded`, `X-Real-IP`). This module must never pick where a
//! request goes; it only edits headers.

use crate::config::HostHeader;
use http::header::{
    CONNECTION, COOKIE, FORWARDED, HOST, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use ipnet::IpNet;
use std::net::IpAddr;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Who sent the request, as seen by the listener.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: IpAddr,
    /// The peer is one of `server.trusted_proxies`: its `X-Forwarded-*` are extended, not replaced.
    pub trusted: bool,
    /// The client connection is TLS.
    pub tls: bool,
}

impl Peer {
    pub fn new(ip: IpAddr, tls: bool, trusted_proxies: &[IpNet]) -> Self {
        let ip = ip.to_canonical();
        Self {
            ip,
            trusted: trusted_proxies.iter().any(|net| net.contains(&ip)),
            tls,
        }
    }
}

/// Removes hop-by-hop fields: the fixed list and every field named in `Connection`.
/// `TE: trailers` survives, since gRPC needs it end to end.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most requests carry none of these: one pass over the names (cheap comparisons of known
    // names) instead of a hashed removal per hop-by-hop field.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if let http::header::Entry::Occupied(entry) = headers.entry(CONNECTION) {
        let named: Vec<HeaderValue> = entry.remove_entry_mult().1.collect();
        for value in &named {
            let Ok(text) = value.to_str() else { continue };
            for token in text.split(',').map(str::trim) {
                if !token.is_empty() {
                    headers.remove(token);
                }
            }
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let te_is_trailers = headers
        .get(TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_is_trailers || headers.get_all(TE).iter().count() > 1 {
        headers.remove(TE);
    }
}

/// The fixed hop-by-hop fields (RFC 9110 §7.6.1, and the non-standard `Keep-Alive` and
/// `Proxy-Connection`); `TE` and the fields named in `Connection` are handled apart.
const HOP_BY_HOP: [HeaderName; 7] = [
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION || name == TE || HOP_BY_HOP.contains(name)
}

/// Sets `X-Forwarded-For/Proto/Host` for the upstream and drops unbelievable forwarding headers.
/// `original_host` is the host the client addressed (its `Host` or HTTP/2 `:authority`).
pub fn set_forwarded(headers: &mut HeaderMap, peer: &Peer, original_host: Option<&HeaderValue>) {
    let peer_ip = HeaderValue::from_str(&peer.ip.to_string()).ok();
    if peer.trusted {
        let existing: Vec<&[u8]> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        let chain = if existing.is_empty() {
            peer_ip
        } else {
            let mut joined = existing.join(&b", "[..]);
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(peer.ip.to_string().as_bytes());
            HeaderValue::from_bytes(&joined).ok()
        };
        set_or_remove(headers, X_FORWARDED_FOR, chain);
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(X_FORWARDED_PROTO, proto(peer));
        }
        if !headers.contains_key(&X_FORWARDED_HOST) {
            set_or_remove(headers, X_FORWARDED_HOST, original_host.cloned());
        }
    } else {
        set_or_remove(headers, X_FORWARDED_FOR, peer_ip);
        headers.insert(X_FORWARDED_PROTO, proto(peer));
        set_or_remove(headers, X_FORWARDED_HOST, original_host.cloned());
        for name in [FORWARDED, X_REAL_IP, X_FORWARDED_PORT, X_FORWARDED_PREFIX] {
            headers.remove(name);
        }
    }
}

/// Removes cookies for which `owned` is true from the `Cookie` header(s); drops the header when
/// nothing is left. Untouched when no cookie is owned (the common case allocates nothing).
pub fn strip_cookies(headers: &mut HeaderMap, owned: impl Fn(&str) -> bool) {
    let any_owned = headers.get_all(COOKIE).iter().any(|v| {
        visible_text(v)
            .map(|t| t.split(';').any(|p| owned(pair_name(p))))
            .unwrap_or(false)
    });
    if !any_owned {
        return;
    }
    let mut kept = String::new();
    for value in headers.get_all(COOKIE) {
        let Some(text) = visible_text(value) else {
            continue;
        };
        for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if !owned(pair_name(pair)) {
                if !kept.is_empty() {
                    kept.push_str("; ");
                }
                kept.push_str(pair);
            }
        }
    }
    headers.remove(COOKIE);
    if let Ok(value) = HeaderValue::from_str(&kept)
        && !kept.is_empty()
    {
        headers.insert(COOKIE, value);
    }
}

/// The value as text when it is visible ASCII (and tabs), as `HeaderValue::to_str` decides, but
/// checked without an early exit so that the compiler can check many bytes at a time: a session
/// cookie is 4 KB, and `to_str` took a cycle per byte.
pub fn visible_text(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let visible = bytes.iter().fold(true, |ok, &b| {
        ok & (((32..127).contains(&b)) | (b == b'\t'))
    });
    if visible {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The name of a `name=value` cookie pair (or of a `Set-Cookie` value).
fn pair_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(n, _)| n).trim()
}

/// Drops `Set-Cookie` headers of an upstream response that would set one of the gateway's own
/// cookies (checklist P4): an upstream must not overwrite or poison the session.
pub fn strip_set_cookies(headers: &mut HeaderMap, owned: impl Fn(&str) -> bool) {
    let set_cookie = http::header::SET_COOKIE;
    let is_owned = |v: &HeaderValue| {
        v.to_str().map_or(true, |t| {
            owned(pair_name(t.split(';').next().unwrap_or_default()))
        })
    };
    if !headers.get_all(&set_cookie).iter().any(is_owned) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(&set_cookie)
        .iter()
        .filter(|v| !is_owned(v))
        .cloned()
        .collect();
    headers.remove(&set_cookie);
    for value in kept {
        headers.append(&set_cookie, value);
    }
}

/// Sets the `Host` the upstream sees: its own authority (default) or the client's.
pub fn set_host(
    headers: &mut HeaderMap,
    mode: HostHeader,
    upstream_host: &HeaderValue,
    original_host: Option<HeaderValue>,
) {
    let host = match (mode, original_host) {
        (HostHeader::Preserve, Some(original)) => original,
        _ => upstream_host.clone(),
    };
    headers.insert(HOST, host);
}

fn proto(peer: &Peer) -> HeaderValue {
    HeaderValue::from_static(if peer.tls { "https" } else { "http" })
}

fn set_or_remove(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(value) => {
            headers.insert(name, value);
        }
        None => {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_fields_and_connection_named_fields_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("x-other", "1"),
            ("proxy-authorization", "Basic abc"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("te", "gzip"),
            ("trailer", "x"),
            ("x-kept", "yes"),
        ]);
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn te_trailers_is_kept_for_grpc() {
        let mut h = map(&[("te", "trailers")]);
        remove_hop_by_hop(&mut h);
        assert_eq!(h["te"], "trailers");
    }

    // checklist H2: forwarding headers from an untrusted peer are replaced or dropped.
    #[test]
    fn untrusted_peer_forwarding_headers_are_replaced() {
        let mut h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
        ]);
        let peer = Peer::new("10.0.0.9".parse().unwrap(), false, &[]);
        set_forwarded(
            &mut h,
            &peer,
            Some(&HeaderValue::from_static("app.example")),
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "app.example");
        assert!(h.get("forwarded").is_none() && h.get("x-real-ip").is_none());
    }

    #[test]
    fn trusted_peer_chain_is_extended() {
        let mut h = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "5.6.7.8"),
            ("x-forwarded-proto", "https"),
        ]);
        let nets = ["10.0.0.0/8".parse().unwrap()];
        let peer = Peer::new("10.0.0.9".parse().unwrap(), false, &nets);
        assert!(peer.trusted);
        set_forwarded(
            &mut h,
            &peer,
            Some(&HeaderValue::from_static("app.example")),
        );
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 5.6.7.8, 10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.example");
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let nets = ["127.0.0.0/8".parse().unwrap()];
        let peer = Peer::new("::ffff:127.0.0.1".parse().unwrap(), false, &nets);
        assert!(peer.trusted);
        assert_eq!(peer.ip.to_string(), "127.0.0.1");
    }

    #[test]
    fn owned_cookies_are_stripped_and_others_kept() {
        let mut h = map(&[
            ("cookie", "a=1; __Host-bff=x; __Host-bffC1=y"),
            ("cookie", "b=2"),
        ]);
        strip_cookies(&mut h, |n| n.starts_with("__Host-bff"));
        assert_eq!(h["cookie"], "a=1; b=2");
        let mut h = map(&[("cookie", "__Host-bff=x")]);
        strip_cookies(&mut h, |n| n.starts_with("__Host-bff"));
        assert!(h.get("cookie").is_none());
    }

    #[test]
    fn host_is_the_upstream_unless_preserved() {
        let upstream = HeaderValue::from_static("api.internal:8443");
        let original = HeaderValue::from_static("app.example");
        let mut h = HeaderMap::new();
        set_host(
            &mut h,
            HostHeader::Upstream,
            &upstream,
            Some(original.clone()),
        );
        assert_eq!(h["host"], "api.internal:8443");
        set_host(&mut h, HostHeader::Preserve, &upstream, Some(original));
        assert_eq!(h["host"], "app.example");
    }

    #[test]
    fn visible_text_agrees_with_to_str() {
        for bytes in [
            &b"a=b; c=d"[..],
            b"tab\there",
            b"",
            b"caf\xc3\xa9",
            b"del\x7f",
            b"nul\x00",
            b"esc\x1b",
            b"~ !",
        ] {
            let value = HeaderValue::from_bytes(bytes);
            if let Ok(value) = value {
                assert_eq!(visible_text(&value), value.to_str().ok(), "{bytes:?}");
            }
        }
    }
}
