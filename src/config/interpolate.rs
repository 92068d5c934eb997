//! `${VAR}` / `${VAR:-default}` interpolation on parsed values, and `*_file` secrets.
//!
//! Interpolation runs on one scalar value at a time, after YAML parsing, so a variable can never
//! inject keys or structure. The environment is passed in as a lookup function: this module must
//! never read the process environment itself, and never put a value it resolved into an error.

use std::path::Path;
use thiserror::Error;

/// How the loader looks up environment variables (the process env in `main`, a map in tests).
pub type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InterpolateError {
    #[error(
        "environment variable `{0}` is not set; set it, or give a default with ${{{0}:-default}}"
    )]
    MissingVariable(String),
    #[error("`${{` is not closed by `}}`; write `$$` for a literal `$`")]
    Unterminated,
    #[error(
        "`{0}` is not a valid variable name (letters, digits and `_`, not starting with a digit)"
    )]
    BadName(String),
}

/// Replaces every `${NAME}` and `${NAME:-default}` in `text`; `$$` is a literal `$`.
///
/// `${NAME:-default}` uses the default when NAME is unset or empty, as a POSIX shell does.
pub fn interpolate(text: &str, env: &Env<'_>) -> Result<String, InterpolateError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_and_tail) = after.strip_prefix('{') {
            let end = body_and_tail
                .find('}')
                .ok_or(InterpolateError::Unterminated)?;
            let body = &body_and_tail[..end];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            if !is_variable_name(name) {
                return Err(InterpolateError::BadName(name.to_owned()));
            }
            match (env(name), default) {
                (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(InterpolateError::MissingVariable(name.to_owned())),
            }
            rest = &body_and_tail[end + 1..];
        } else {
            // A lone `$` not followed by `{` or `$` is kept as written.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("give either `{key}` or `{key}_file`, not both")]
    Both { key: String },
    #[error("cannot read `{key}_file` {path}: {source}")]
    Unreadable {
        key: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Resolves a secret given inline (`key`) or as a mounted file (`key_file`, a Kubernetes Secret).
///
/// One trailing newline is removed from a file's content, since `kubectl create secret
/// --from-file` and editors often leave one.
pub fn resolve_secret(
    key: &str,
    inline: Option<String>,
    file: Option<&Path>,
) -> Result<Option<String>, SecretError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(SecretError::Both {
            key: key.to_owned(),
        }),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
                key: key.to_owned(),
                path: path.display().to_string(),
                source,
            })?;
            let text = text
                .strip_suffix("\r\n")
                .or_else(|| text.strip_suffix('\n'))
                .unwrap_or(&text);
            Ok(Some(text.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(interpolate("127.0.0.1:80", &env).unwrap(), "127.0.0.1:80");
    }

    #[test]
    fn variable_is_replaced() {
        assert_eq!(
            interpolate("0.0.0.0:${PORT}", &env).unwrap(),
            "0.0.0.0:8080"
        );
    }

    #[test]
    fn default_is_used_when_unset_or_empty() {
        assert_eq!(interpolate("${NOPE:-9}", &env).unwrap(), "9");
        assert_eq!(interpolate("${EMPTY:-x}", &env).unwrap(), "x");
        assert_eq!(interpolate("${PORT:-1}", &env).unwrap(), "8080");
        assert_eq!(interpolate("${NOPE:-}", &env).unwrap(), "");
    }

    #[test]
    fn missing_variable_names_it() {
        let err = interpolate("a${NOPE}b", &env).unwrap_err();
        assert_eq!(err, InterpolateError::MissingVariable("NOPE".into()));
        assert!(err.to_string().contains("`NOPE` is not set"));
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(interpolate("a$$b$${PORT}", &env).unwrap(), "a$b${PORT}");
        assert_eq!(interpolate("cost $5", &env).unwrap(), "cost $5");
    }

    #[test]
    fn unterminated_and_bad_names_are_errors() {
        assert_eq!(
            interpolate("${PORT", &env),
            Err(InterpolateError::Unterminated)
        );
        assert_eq!(
            interpolate("${1X}", &env),
            Err(InterpolateError::BadName("1X".into()))
        );
        assert_eq!(
            interpolate("${}", &env),
            Err(InterpolateError::BadName(String::new()))
        );
    }

    #[test]
    fn value_of_a_variable_is_not_interpolated_again() {
        let env = |n: &str| (n == "A").then(|| "${B}".to_owned());
        assert_eq!(interpolate("${A}", &env).unwrap(), "${B}");
    }

    #[test]
    fn secret_from_file_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let got = resolve_secret("client_secret", None, Some(&path)).unwrap();
        assert_eq!(got.as_deref(), Some("s3cret"));
    }

    #[test]
    fn secret_inline_and_file_together_is_an_error() {
        let err = resolve_secret("client_secret", Some("x".into()), Some(Path::new("/x")));
        assert!(err.unwrap_err().to_string().contains("not both"));
    }

    #[test]
    fn unreadable_secret_file_names_key_and_path_not_content() {
        let err = resolve_secret("client_secret", None, Some(Path::new("/nonexistent/s")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("client_secret_file") && err.contains("/nonexistent/s"));
    }
}
