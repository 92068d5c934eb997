//! Writes the seed corpora under `fuzz/corpus/<target>/`: real cookies sealed with the fixed
//! test keys, real callback queries, the repository's configuration files:
//! `cargo test --manifest-path fuzz/Cargo.toml --lib -- --ignored write_seed_corpora`.
//! `fuzz/corpus/id_token/` is not written here: its RS256 token's signing key no longer exists,
//! and the harness-signed inputs are plain JSON (mode byte, header, `\n`, claims).

use super::*;
use bff_gateway::session::cookies::{self, CookieSpec};
use bff_gateway::session::{LoginState, Session};
use cookie::SameSite;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(target: &str, name: &str, mode: Option<u8>, body: &[u8]) {
    let mut bytes = Vec::from_iter(mode);
    bytes.extend_from_slice(body);
    fs::write(corpus(target).join(name), bytes).unwrap();
}

fn session(at_len: usize) -> Session {
    let claims = serde_json::json!({"sub": "248289761001", "name": "Jane Doe", "email": "janedoe@example.com"});
    Session {
        at: "eyJhbGciOiJSUzI1NiJ9.".to_owned() + &"a".repeat(at_len),
        at_exp: Some(NOW + 300),
        rt: Some("8xLOxBtZp8".to_owned()),
        idt: Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln".to_owned()),
        claims: claims.as_object().cloned().unwrap(),
        created: NOW - 60,
        seen: NOW - 10,
    }
}

fn spec(name: &str, same_site: SameSite, hours: u64) -> CookieSpec {
    CookieSpec {
        name: name.to_owned(),
        secure: true,
        same_site,
        max_age: Some(Duration::from_secs(hours * 3600)),
    }
}

/// The `Cookie` header for `plaintext` sealed by `codec`, written (and chunked) as the gateway does.
fn cookie_header(
    codec: &SessionCodec,
    name: &str,
    plaintext: &[u8],
    same_site: SameSite,
) -> Vec<u8> {
    let sealed = codec.seal(name, plaintext, NOW + 8 * 3600);
    let set = cookies::write(&spec(name, same_site, 8), &sealed, 0).unwrap();
    echo_back(&set).unwrap().as_bytes().to_vec()
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand when the formats change"]
fn write_seed_corpora() {
    let th = handler();
    let small = serde_json::to_vec(&session(40)).unwrap();
    let large = serde_json::to_vec(&session(9_000)).unwrap();
    let session_codec = codec(Purpose::Session);
    let old_key_only = SessionCodec::new(
        Purpose::Session,
        &[MasterKey::from_base64(KEYS[1]).unwrap()],
        APP,
    )
    .unwrap();

    // session_cookie: mode 0 = Cookie header lines, mode 1 = plaintext.
    let t = "session_cookie";
    let single = cookie_header(session_codec, SESSION_COOKIE, &small, SameSite::Strict);
    let mut with_others = b"theme=dark; ".to_vec();
    with_others.extend_from_slice(&single);
    with_others.extend_from_slice(b"; _ga=GA1.2.3");
    write(t, "sealed-single", Some(0), &with_others);
    let chunked = cookie_header(session_codec, SESSION_COOKIE, &large, SameSite::Strict);
    write(t, "sealed-chunked", Some(0), &chunked);
    // HTTP/2 sends cookie crumbs as separate header lines (checklist S6).
    let crumbs: Vec<u8> = chunked
        .split(|b| *b == b';')
        .map(|c| c.trim_ascii())
        .collect::<Vec<_>>()
        .join(&b'\n');
    write(t, "sealed-chunked-h2-crumbs", Some(0), &crumbs);
    write(
        t,
        "sealed-old-key",
        Some(0),
        &cookie_header(&old_key_only, SESSION_COOKIE, &small, SameSite::Strict),
    );
    let mut doubled = single.clone();
    doubled.extend_from_slice(b"; ");
    doubled.extend_from_slice(&single);
    write(t, "sealed-doubled", Some(0), &doubled);
    write(
        t,
        "chunk-missing",
        Some(0),
        b"__Host-bff=chunks-3; __Host-bffC1=AQ; __Host-bffC3=AQ",
    );
    write(t, "plaintext-session", Some(1), &small);
    write(t, "plaintext-large-session", Some(1), &large);
    // The fuzz finding of issue 7 (timestamps that overflow the lifetime sums).
    write(
        t,
        "regression-overflowing-timestamps",
        Some(1),
        br#"{"at":"a","created":18446744073709551615,"seen":1800000000}"#,
    );
    assert!(th.open_session(&parse(&single), NOW).is_ok());
    assert!(th.open_session(&parse(&chunked), NOW).is_ok());

    // login_cookie: mode 0 = Cookie header lines (sealed now: they expire, the shape stays),
    // mode 1 = plaintext of the login state.
    let t = "login_cookie";
    let login = LoginState {
        state: "fuzz-state".to_owned(),
        verifier: Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned()),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        return_to: "/app/contacts?tab=1".to_owned(),
        created: bff_gateway::auth::unix_now(),
        created_ms: bff_gateway::auth::unix_now() * 1000,
    };
    let login = serde_json::to_vec(&login).unwrap();
    let name = login_cookie_name("fuzz-state");
    let mut header = cookie_header(codec(Purpose::Login), &name, &login, SameSite::Lax);
    header.extend_from_slice(b"; ");
    header.extend_from_slice(&single);
    write(t, "sealed-login-and-session", Some(0), &header);
    write(t, "plaintext-login", Some(1), &login);
    write(
        t,
        "plaintext-login-minimal",
        Some(1),
        br#"{"state":"fuzz-state","return_to":"/","created":1800000000}"#,
    );
    write(
        t,
        "regression-overflowing-created",
        Some(1),
        br#"{"state":"fuzz-state","return_to":"/","created":18446744073709551615}"#,
    );

    // callback_query: query, then Cookie lines.
    let t = "callback_query";
    for (name, text) in [
        (
            "code",
            "code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj&iss=https%3A%2F%2Fas.example",
        ),
        (
            "code-keycloak",
            "state=af0ifjsldkj&session_state=5b1a7a1c-1f2e-4a8b&iss=https%3A%2F%2Fas.example%2Frealms%2Fdemo&code=8b7f2c1e.5b1a7a1c.d3a4",
        ),
        (
            "error",
            "error=access_denied&error_description=The+user+denied+access&state=af0ifjsldkj",
        ),
        (
            "error-login-required",
            "error=login_required&state=af0ifjsldkj&iss=https%3A%2F%2Fas.example",
        ),
        ("duplicated-state", "code=abc&state=x&state=y"),
        ("no-state", "code=abc"),
        (
            "login-return-to",
            "return_to=%2Fapp%2Fcontacts%3Ftab%3D1&prompt=none",
        ),
        (
            "logout-continue",
            "t=AQAAAAEAAAAAaQ0Kx1y2z3A4B5C6D7E8F9G0H1I2J3K4L5M6N7O8P9Q0R1S2T3U4",
        ),
    ] {
        write(t, name, None, text.as_bytes());
    }
    // With foreign and stale login cookies (a live one would send the code to the provider).
    let mut with_cookie = b"code=SplxlOBeZQQYbYS6WxSbIA&state=fuzz-state\n".to_vec();
    with_cookie.extend_from_slice(
        format!("{}=AQAAAAE; theme=dark", login_cookie_name("fuzz-state")).as_bytes(),
    );
    write(t, "code-with-foreign-login-cookie", None, &with_cookie);

    // return_to: accepted paths and the open-redirect payloads of checklist A8.
    let t = "return_to";
    for (i, path) in [
        "/",
        "/app/contacts?tab=1",
        "/a#frag",
        "/%20x",
        "/ok@evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%5cevil.example",
        "/%2f%2fevil.example",
        "/%2F/evil.example",
        "https://evil.example",
        "/%0d%0aLocation:%20https://evil",
        "/a%00b",
        "/\t/evil",
    ]
    .iter()
    .enumerate()
    {
        write(t, &format!("path-{i:02}"), None, path.as_bytes());
    }

    // config: the repository's files and the smallest token-handler config.
    let t = "config";
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    write(
        t,
        "gateway.yaml",
        None,
        &fs::read(root.join("gateway.yaml")).unwrap(),
    );
    write(t, "fuzz.yaml", None, config_text().as_bytes());
    write(
        t,
        "proxy-only.yaml",
        None,
        b"server:\n  listen: \"${BFF_LISTEN:-127.0.0.1:8080}\"\n  public_url: ${BFF_PUBLIC_URL}\nroutes:\n  - path: /\n    upstream: http://127.0.0.1:${PORT}\n    strip_prefix: true\n",
    );
}

fn parse(header: &[u8]) -> RequestCookies<'static> {
    let value: &'static HeaderValue = Box::leak(Box::new(HeaderValue::from_bytes(header).unwrap()));
    RequestCookies::parse(std::iter::once(value))
}

use bff_gateway::session::RequestCookies;
