//! Config parsing and `${VAR}` interpolation: `load_str` (YAML → raw → interpolate → validate,
//! every problem collected), the redacted `check` rendering of what loads, the token handler
//! built from it, and `interpolate` on its own (checklist K2, K3, D5).
//!
//! The input is the config text. The environment is a fixed map. Inputs with a `*_file` key are
//! skipped: those make the loader read files (a fuzzer would find `/dev/zero`), and the file is
//! trusted input anyway.
#![no_main]

use bff_gateway::auth::TokenHandler;
use bff_gateway::config::{interpolate, load_str, render_effective};
use bff_gateway_fuzz::KEYS;
use libfuzzer_sys::fuzz_target;
use serde_yaml::Value;
use std::path::Path;

const SECRET: &str = "fuzz-client-secret-7f3a9c";

fn env(name: &str) -> Option<String> {
    let value = match name {
        "BFF_SESSION_KEY" => KEYS[0],
        "BFF_CLIENT_SECRET" => SECRET,
        "BFF_PUBLIC_URL" => "https://app.example",
        "PORT" => "8080",
        "EMPTY" => "",
        // A value shaped like YAML: interpolation works on parsed values, so it stays a value.
        "YAML" => "x\nserver: {listen: 0.0.0.0:1}",
        "DOLLAR" => "${PORT}",
        _ => return None,
    };
    Some(value.to_owned())
}

fn names_a_file(value: &Value) -> bool {
    match value {
        Value::Mapping(map) => map
            .iter()
            .any(|(k, v)| k.as_str().is_none_or(|k| k.ends_with("_file")) || names_a_file(v)),
        Value::Sequence(items) => items.iter().any(names_a_file),
        Value::Tagged(tagged) => names_a_file(&tagged.value),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Text without `$` comes back unchanged; `$$` is one `$`.
    let interpolated = interpolate(text, &env);
    if !text.contains('$') {
        assert_eq!(interpolated.as_deref(), Ok(text));
    }
    match serde_yaml::from_str::<Value>(text) {
        Ok(value) if names_a_file(&value) => return,
        Err(_) if text.contains("_file") => return,
        _ => {}
    }
    let Ok(config) = load_str(text, "fuzz.yaml", Path::new("/nonexistent"), &env) else {
        return;
    };
    let rendered = render_effective(&config);
    // checklist K2: neither `check` nor `Debug` prints the client secret. Only judged when the
    // secret came from its one `${BFF_CLIENT_SECRET}` (no aliases or escapes could copy it into
    // another value).
    let from_env_once = text.matches("BFF_CLIENT_SECRET").count() == 1
        && !text.contains(['*', '\\'])
        && !text.contains(SECRET);
    if let Some(th) = &config.token_handler
        && from_env_once
        && th.oauth.client_secret.expose() == SECRET
    {
        assert!(!rendered.contains(SECRET), "{rendered}");
        assert!(!format!("{config:?}").contains(SECRET));
    }
    let _ = TokenHandler::new(&config);
});
