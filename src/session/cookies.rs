//! Cookie attributes, chunking and clearing for sealed values (checklist S1, S4).
//!
//! A browser silently drops a `Set-Cookie` whose name and value exceed 4096 bytes, so a large
//! sealed value is split: the base cookie holds `chunks-N` and `<name>C1`..`<name>CN` hold the
//! parts, each whole `Set-Cookie` line under [`MAX_SET_COOKIE_BYTES`]. Writing a smaller value
//! deletes the chunks a larger earlier one left behind. A name sent twice (cookie tossing from a
//! sibling domain or another path) makes the value unreadable, never ambiguous.

use cookie::{Cookie, SameSite};
use http::HeaderValue;
use std::time::Duration;
use thiserror::Error;

/// Upper bound for one whole `Set-Cookie` value, attributes included (browsers: 4096 name+value).
pub const MAX_SET_COOKIE_BYTES: usize = 4000;
/// At most this many chunks are read or written (about 190 KB); more is refused.
pub const MAX_CHUNKS: usize = 48;
const CHUNK_MARKER: &str = "chunks-";

/// How one cookie family is written.
#[derive(Debug, Clone)]
pub struct CookieSpec {
    pub name: String,
    pub secure: bool,
    pub same_site: SameSite,
    /// `None` makes a browser-session cookie.
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ChunkError {
    #[error("the cookie appears more than once")]
    Duplicate,
    #[error("a chunk is missing or the chunk count is invalid")]
    BadChunks,
    #[error("the value needs more than {MAX_CHUNKS} cookies")]
    TooLarge,
}

/// The cookies of a request, split once.
#[derive(Debug, Default)]
pub struct RequestCookies<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> RequestCookies<'a> {
    /// Parses every `Cookie` header (HTTP/2 may send several). Malformed pairs are skipped.
    pub fn parse(headers: impl Iterator<Item = &'a HeaderValue>) -> Self {
        let mut pairs = Vec::new();
        for value in headers {
            let Some(text) = crate::proxy::headers::visible_text(value) else {
                continue;
            };
            for pair in text.split(';') {
                if let Some((name, value)) = pair.trim().split_once('=') {
                    pairs.push((name.trim(), value.trim()));
                }
            }
        }
        Self { pairs }
    }

    /// All (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.pairs.iter().copied()
    }

    /// The value of a cookie that must appear at most once.
    pub fn get_unique(&self, name: &str) -> Result<Option<&'a str>, ChunkError> {
        let mut found = None;
        for (n, v) in &self.pairs {
            if *n == name {
                if found.is_some() {
                    return Err(ChunkError::Duplicate);
                }
                found = Some(*v);
            }
        }
        Ok(found)
    }

    /// Reassembles the value of a cookie family; `Ok(None)` when the base cookie is absent.
    pub fn read(&self, name: &str) -> Result<Option<String>, ChunkError> {
        let Some(base) = self.get_unique(name)? else {
            return Ok(None);
        };
        let Some(count) = base.strip_prefix(CHUNK_MARKER) else {
            return Ok(Some(base.to_owned()));
        };
        let count: usize = count.parse().map_err(|_| ChunkError::BadChunks)?;
        if count == 0 || count > MAX_CHUNKS {
            return Err(ChunkError::BadChunks);
        }
        // One pass over the pairs, no name built per chunk, one allocation of the exact size.
        let mut parts: [Option<&str>; MAX_CHUNKS] = [None; MAX_CHUNKS];
        for (n, v) in &self.pairs {
            let Some(index) = n
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('C'))
                .filter(|digits| !digits.starts_with(['+', '0']))
                .and_then(|digits| digits.parse::<usize>().ok())
            else {
                continue;
            };
            if let Some(slot) = index.checked_sub(1).and_then(|i| parts.get_mut(i))
                && index <= count
            {
                if slot.is_some() {
                    return Err(ChunkError::Duplicate);
                }
                *slot = Some(*v);
            }
        }
        let parts = parts.get(..count).ok_or(ChunkError::BadChunks)?;
        let mut length = 0;
        for part in parts {
            length += part.ok_or(ChunkError::BadChunks)?.len();
        }
        let mut value = String::with_capacity(length);
        for part in parts.iter().flatten() {
            value.push_str(part);
        }
        Ok(Some(value))
    }

    /// How many chunk cookies of this family the browser holds (to delete stale ones).
    pub fn chunk_count(&self, name: &str) -> usize {
        let prefix_len = name.len() + 1;
        self.pairs
            .iter()
            .filter(|(n, _)| {
                n.len() > prefix_len
                    && n.starts_with(name)
                    && n.as_bytes()[name.len()] == b'C'
                    && n[prefix_len..].bytes().all(|b| b.is_ascii_digit())
            })
            .filter_map(|(n, _)| n[prefix_len..].parse::<usize>().ok())
            .max()
            .unwrap_or(0)
    }

    /// The `Cookie` header without this gateway's cookies, or `None` when nothing is left.
    pub fn without_families(&self, names: &[&str]) -> Option<HeaderValue> {
        let mut out = String::new();
        for (n, v) in &self.pairs {
            if names.iter().any(|family| is_family_member(n, family)) {
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(n);
            out.push('=');
            out.push_str(v);
        }
        if out.is_empty() {
            None
        } else {
            HeaderValue::from_str(&out).ok()
        }
    }
}

/// `name` itself, or `name` + `C` + digits.
pub fn is_family_member(cookie: &str, family: &str) -> bool {
    cookie == family
        || cookie.strip_prefix(family).is_some_and(|rest| {
            rest.len() > 1
                && rest.as_bytes()[0] == b'C'
                && rest[1..].bytes().all(|b| b.is_ascii_digit())
        })
}

fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}C{index}")
}

/// `Set-Cookie` values that store `value`, and delete chunks above the new count up to
/// `previous_chunks`.
pub fn write(
    spec: &CookieSpec,
    value: &str,
    previous_chunks: usize,
) -> Result<Vec<HeaderValue>, ChunkError> {
    let mut out = Vec::new();
    let single = render(spec, &spec.name, value, spec.max_age);
    if single.len() <= MAX_SET_COOKIE_BYTES {
        push(&mut out, single);
        for i in 1..=previous_chunks.min(MAX_CHUNKS) {
            push(&mut out, render_removal(spec, &chunk_name(&spec.name, i)));
        }
        return Ok(out);
    }
    // Room for the value in one chunk: the limit minus the longest chunk name and attributes.
    let overhead = render(spec, &chunk_name(&spec.name, MAX_CHUNKS), "", spec.max_age).len();
    let room = MAX_SET_COOKIE_BYTES.saturating_sub(overhead);
    if room == 0 {
        return Err(ChunkError::TooLarge);
    }
    let count = value.len().div_ceil(room);
    if count > MAX_CHUNKS {
        return Err(ChunkError::TooLarge);
    }
    push(
        &mut out,
        render(
            spec,
            &spec.name,
            &format!("{CHUNK_MARKER}{count}"),
            spec.max_age,
        ),
    );
    // Sealed values are base64url (ASCII), so byte slicing is on character boundaries.
    for (i, part) in value.as_bytes().chunks(room).enumerate() {
        let part = std::str::from_utf8(part).map_err(|_| ChunkError::BadChunks)?;
        push(
            &mut out,
            render(spec, &chunk_name(&spec.name, i + 1), part, spec.max_age),
        );
    }
    for i in count + 1..=previous_chunks.min(MAX_CHUNKS) {
        push(&mut out, render_removal(spec, &chunk_name(&spec.name, i)));
    }
    Ok(out)
}

/// `Set-Cookie` values that delete the base cookie and `previous_chunks` chunks, with the same
/// attributes they were set with (otherwise a browser keeps them).
pub fn clear(spec: &CookieSpec, previous_chunks: usize) -> Vec<HeaderValue> {
    let mut out = Vec::new();
    push(&mut out, render_removal(spec, &spec.name));
    for i in 1..=previous_chunks.min(MAX_CHUNKS) {
        push(&mut out, render_removal(spec, &chunk_name(&spec.name, i)));
    }
    out
}

fn render(spec: &CookieSpec, name: &str, value: &str, max_age: Option<Duration>) -> String {
    let mut cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .http_only(true)
        .secure(spec.secure)
        .same_site(spec.same_site);
    if let Some(age) = max_age {
        let seconds = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        cookie = cookie.max_age(cookie::time::Duration::seconds(seconds));
    }
    cookie.build().to_string()
}

fn render_removal(spec: &CookieSpec, name: &str) -> String {
    let mut text = render(spec, name, "", Some(Duration::ZERO));
    text.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    text
}

fn push(out: &mut Vec<HeaderValue>, text: String) {
    // Names and values are validated ASCII; a failure would only drop this one header.
    if let Ok(value) = HeaderValue::from_str(&text) {
        out.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CookieSpec {
        CookieSpec {
            name: "__Host-bff".to_owned(),
            secure: true,
            same_site: SameSite::Strict,
            max_age: Some(Duration::from_secs(3600)),
        }
    }

    fn request_from(set_cookies: &[HeaderValue]) -> HeaderValue {
        let pairs: Vec<String> = set_cookies
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .filter(|p| !p.ends_with('='))
            .collect();
        HeaderValue::from_str(&pairs.join("; ")).unwrap()
    }

    // checklist S1: attributes of the session cookie.
    #[test]
    fn session_cookie_has_secure_attributes() {
        let set = write(&spec(), "abc", 0).unwrap();
        assert_eq!(set.len(), 1);
        let text = set[0].to_str().unwrap();
        for attribute in [
            "__Host-bff=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(text.contains(attribute), "{attribute} missing in {text}");
        }
        assert!(!text.contains("Domain"), "{text}");
    }

    // checklist S4: every Set-Cookie stays under the browser limit, and the value reassembles.
    #[test]
    fn large_values_are_chunked_below_the_limit_and_reassemble() {
        for len in [3_000, 3_990, 4_100, 12_345, 60_000] {
            let value: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let set = write(&spec(), &value, 0).unwrap();
            for header in &set {
                assert!(
                    header.len() <= MAX_SET_COOKIE_BYTES,
                    "{} bytes",
                    header.len()
                );
            }
            let header = request_from(&set);
            let cookies = RequestCookies::parse(std::iter::once(&header));
            assert_eq!(
                cookies.read("__Host-bff").unwrap().as_deref(),
                Some(value.as_str())
            );
        }
    }

    #[test]
    fn stale_chunks_of_a_larger_earlier_value_are_deleted() {
        let set = write(&spec(), "small", 5).unwrap();
        assert_eq!(set.len(), 6);
        for (i, header) in set.iter().skip(1).enumerate() {
            let text = header.to_str().unwrap();
            assert!(
                text.starts_with(&format!("__Host-bffC{}=;", i + 1)),
                "{text}"
            );
            assert!(text.contains("Max-Age=0"), "{text}");
        }
    }

    #[test]
    fn missing_or_duplicated_chunks_make_the_value_unreadable() {
        let header = HeaderValue::from_static("__Host-bff=chunks-2; __Host-bffC1=aaa");
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert_eq!(cookies.read("__Host-bff"), Err(ChunkError::BadChunks));

        let header = HeaderValue::from_static("__Host-bff=a; other=1; __Host-bff=b");
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert_eq!(cookies.read("__Host-bff"), Err(ChunkError::Duplicate));

        let header = HeaderValue::from_static("__Host-bff=chunks-999");
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert_eq!(cookies.read("__Host-bff"), Err(ChunkError::BadChunks));
    }

    #[test]
    fn gateway_cookies_are_removed_from_the_forwarded_cookie_header() {
        let header = HeaderValue::from_static(
            "app=1; __Host-bff=chunks-2; __Host-bffC1=x; __Host-bffC2=y; __Host-bffX=keep; theme=dark",
        );
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert_eq!(cookies.chunk_count("__Host-bff"), 2);
        let rest = cookies.without_families(&["__Host-bff"]).unwrap();
        assert_eq!(rest, "app=1; __Host-bffX=keep; theme=dark");
        let only_ours = HeaderValue::from_static("__Host-bff=a");
        let cookies = RequestCookies::parse(std::iter::once(&only_ours));
        assert!(cookies.without_families(&["__Host-bff"]).is_none());
    }

    #[test]
    fn clearing_uses_the_same_attributes_and_expires() {
        let set = clear(&spec(), 2);
        assert_eq!(set.len(), 3);
        for header in &set {
            let text = header.to_str().unwrap();
            assert!(
                text.contains("Path=/") && text.contains("Secure") && text.contains("Max-Age=0"),
                "{text}"
            );
        }
    }

    #[test]
    fn absent_cookie_reads_as_none() {
        let header = HeaderValue::from_static("a=b");
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert_eq!(cookies.read("__Host-bff"), Ok(None));
    }
}

/// Properties of chunking over sizes, names and attributes (checklist S1, S4, S5, S6).
#[cfg(test)]
mod properties {
    use super::*;
    use crate::session::codec::properties::cookie_name;
    use crate::session::codec::{MasterKey, Purpose, SessionCodec};
    use proptest::collection::vec;
    use proptest::prelude::*;

    const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// A base64url value (what the codec writes) of `1..len` characters: a length and a seed
    /// (drawing every character from proptest would make the large cases slow).
    fn value(len: usize) -> impl Strategy<Value = String> {
        (1..len, any::<u64>()).prop_map(|(len, seed)| {
            let mut state = seed | 1;
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    BASE64URL[(state % 64) as usize] as char
                })
                .collect()
        })
    }

    fn spec() -> impl Strategy<Value = CookieSpec> {
        (
            cookie_name(),
            any::<bool>(),
            prop_oneof![Just(SameSite::Strict), Just(SameSite::Lax)],
            proptest::option::of(0..=400 * 24 * 3600u64),
        )
            .prop_map(|(name, secure, same_site, max_age)| CookieSpec {
                name: format!("__Host-{name}"),
                secure,
                same_site,
                max_age: max_age.map(Duration::from_secs),
            })
    }

    /// The `name=value` pairs a browser keeps from these `Set-Cookie` values.
    fn kept(set: &[HeaderValue]) -> Vec<String> {
        set.iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .filter(|pair| !pair.ends_with('='))
            .collect()
    }

    fn names(set: &[HeaderValue]) -> Vec<String> {
        set.iter()
            .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        // checklist S1, S4: any value up to the chunk budget is written as cookies that each
        // fit a browser (name and value under 4096 bytes, the whole line under
        // MAX_SET_COOKIE_BYTES), carry the session attributes, name each cookie once, delete the
        // stale chunks of a larger earlier value, and read back to the same value.
        #[test]
        fn split_then_join_round_trips_and_every_chunk_fits(
            spec in spec(),
            value in prop_oneof![value(8_000), value(MAX_CHUNKS * MAX_SET_COOKIE_BYTES)],
            previous_chunks in 0..=MAX_CHUNKS + 2,
        ) {
            let set = match write(&spec, &value, previous_chunks) {
                Ok(set) => set,
                Err(error) => {
                    // Only a value beyond the chunk budget is refused.
                    prop_assert_eq!(error, ChunkError::TooLarge);
                    prop_assert!(value.len() > MAX_CHUNKS * 3_000);
                    return Ok(());
                }
            };
            for header in &set {
                let text = header.to_str().unwrap();
                prop_assert!(text.len() <= MAX_SET_COOKIE_BYTES, "{} bytes", text.len());
                let pair = text.split(';').next().unwrap();
                prop_assert!(pair.len() < 4096);
                prop_assert!(text.contains("; Path=/") && text.contains("; HttpOnly"), "{}", text);
                prop_assert_eq!(text.contains("; Secure"), spec.secure);
                let same_site = match spec.same_site {
                    SameSite::Lax => "; SameSite=Lax",
                    _ => "; SameSite=Strict",
                };
                prop_assert!(text.contains(same_site), "{}", text);
                prop_assert!(!text.contains("Domain"), "{}", text);
            }
            let mut seen = names(&set);
            let total = seen.len();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(seen.len(), total, "a name is set twice");
            let kept = kept(&set);
            // Stale chunks above the new count are deleted, none is left behind.
            let live = kept.len().saturating_sub(1);
            let deleted = set.len() - kept.len();
            prop_assert_eq!(deleted, previous_chunks.min(MAX_CHUNKS).saturating_sub(live));
            let header = HeaderValue::from_str(&kept.join("; ")).unwrap();
            let cookies = RequestCookies::parse(std::iter::once(&header));
            prop_assert_eq!(cookies.read(&spec.name), Ok(Some(value.clone())));
            prop_assert_eq!(cookies.chunk_count(&spec.name), live);
            prop_assert!(cookies.without_families(&[&spec.name]).is_none());
        }

        // checklist S6 and RFC 6265bis §4.2.2: the chunks read back when sent as separate
        // `Cookie` lines (HTTP/2 crumbs) and in any order, among other cookies.
        #[test]
        fn chunks_join_from_crumbs_in_any_order(
            spec in spec(),
            value in value(40_000),
            seed in any::<u64>(),
        ) {
            let set = write(&spec, &value, 0).unwrap();
            let mut pairs = kept(&set);
            pairs.push("theme=dark".to_owned());
            // Fisher-Yates with a seeded xorshift: any order of the pairs.
            let mut state = seed | 1;
            for i in (1..pairs.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                pairs.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let lines: Vec<HeaderValue> =
                pairs.iter().map(|p| HeaderValue::from_str(p).unwrap()).collect();
            let cookies = RequestCookies::parse(lines.iter());
            prop_assert_eq!(cookies.read(&spec.name), Ok(Some(value.clone())));
            let rest = cookies.without_families(&[&spec.name]).unwrap();
            prop_assert_eq!(rest.to_str().unwrap(), "theme=dark");
        }

        // checklist S5: a chunk (or the base cookie) sent twice makes the value unreadable.
        #[test]
        fn a_doubled_chunk_makes_the_value_unreadable(
            spec in spec(),
            value in value(20_000),
            which in any::<prop::sample::Index>(),
        ) {
            let set = write(&spec, &value, 0).unwrap();
            let mut pairs = kept(&set);
            prop_assume!(!pairs.is_empty());
            let doubled = pairs[which.index(pairs.len())].clone();
            pairs.push(doubled);
            let header = HeaderValue::from_str(&pairs.join("; ")).unwrap();
            let cookies = RequestCookies::parse(std::iter::once(&header));
            prop_assert_eq!(cookies.read(&spec.name), Err(ChunkError::Duplicate));
        }

        // checklist S2, S4, K3: a sealed payload of any size, under any key ring, survives
        // sealing, chunking, the browser and reassembly.
        #[test]
        fn sealed_payloads_survive_chunking_under_any_key_ring(
            keys in vec(any::<[u8; 32]>(), 1..=4),
            payload in vec(any::<u8>(), 0..16 * 1024),
            spec in spec(),
        ) {
            let keys: Vec<MasterKey> = keys.into_iter().map(MasterKey::new).collect();
            let codec =
                SessionCodec::new(Purpose::Session, &keys, "https://app.example app").unwrap();
            let sealed = codec.seal(&spec.name, &payload, 1_800_000_060);
            let set = write(&spec, &sealed, 0).unwrap();
            let header = HeaderValue::from_str(&kept(&set).join("; ")).unwrap();
            let cookies = RequestCookies::parse(std::iter::once(&header));
            let joined = cookies.read(&spec.name).unwrap().unwrap();
            prop_assert_eq!(codec.open(&spec.name, &joined, 1_800_000_000), Ok(payload));
        }
    }
}
