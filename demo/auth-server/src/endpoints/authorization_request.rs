//! Parsing and validating the parameters of an authorization request (RFC 6749 §4.1.1,
//! RFC 7636 §4.3, OIDC Core §3.1.2.1).
//!
//! The client and redirect URI are checked first: if either is wrong the user gets a page and the
//! client no redirect (RFC 6749 §4.1.2.1). Every later problem is redirected to the client.

use crate::config::ClientConfig;
use crate::pkce;
use crate::request::{AuthorizationRequest, Prompt};
use crate::state::State;
use crate::web::{Params, Repeated};

/// Longest `nonce` accepted (it is copied into ID tokens).
const MAX_NONCE_LEN: usize = 512;

/// Why a request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// Shown to the user; the client is not trusted with a redirect.
    Page(&'static str),
    /// Redirected to the (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        problem: Problem,
    },
}

/// An error to send back to the client.
#[derive(Debug)]
pub struct Problem {
    pub error: &'static str,
    pub description: String,
}

fn problem(error: &'static str, description: impl Into<String>) -> Problem {
    Problem {
        error,
        description: description.into(),
    }
}

impl From<Repeated> for Problem {
    fn from(Repeated(name): Repeated) -> Self {
        problem(
            "invalid_request",
            format!("the {name} parameter is repeated"),
        )
    }
}

/// A valid request, plus `max_age` (only needed while deciding whether to log in again).
pub struct Valid {
    pub request: AuthorizationRequest,
    pub max_age: Option<u64>,
}

/// The registered client and its redirect URI (and whether it was sent).
fn client_and_redirect<'a>(
    state: &'a State,
    params: &Params,
) -> Result<(&'a ClientConfig, String, bool), Refusal> {
    let client_id = params
        .get("client_id")
        .map_err(|_| Refusal::Page("The client_id parameter is repeated."))?
        .ok_or(Refusal::Page("The request has no client_id."))?;
    let client = state.config.client(client_id).ok_or(Refusal::Page(
        "The client is not registered with this server.",
    ))?;
    let sent = params
        .get("redirect_uri")
        .map_err(|_| Refusal::Page("The redirect_uri parameter is repeated."))?;
    match sent {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => {
            Ok((client, uri.to_owned(), true))
        }
        Some(_) => Err(Refusal::Page(
            "The redirect_uri is not registered for this client.",
        )),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((client, only.clone(), false)),
            _ => Err(Refusal::Page("The request has no redirect_uri.")),
        },
    }
}

/// Requested scopes: known to the server, allowed for the client, deduplicated.
fn scopes(state: &State, client: &ClientConfig, params: &Params) -> Result<Vec<String>, Problem> {
    let scope = params
        .get("scope")?
        .ok_or_else(|| problem("invalid_scope", "scope is missing"))?;
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        let known = state.config.scopes_supported.iter().any(|k| k == s)
            && client.allowed_scopes.iter().any(|k| k == s);
        if !known {
            return Err(problem(
                "invalid_scope",
                "a requested scope is unknown or not allowed for this client",
            ));
        }
        if !scopes.iter().any(|k| k == s) {
            scopes.push(s.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(problem("invalid_scope", "scope is empty"));
    }
    Ok(scopes)
}

/// The PKCE challenge: S256 only, required when the client says so.
fn code_challenge(client: &ClientConfig, params: &Params) -> Result<Option<String>, Problem> {
    let challenge = params.get("code_challenge")?;
    let method = params.get("code_challenge_method")?;
    match (challenge, method) {
        (None, Some(_)) => Err(problem(
            "invalid_request",
            "code_challenge_method without code_challenge",
        )),
        (None, None) if client.require_pkce => Err(problem(
            "invalid_request",
            "PKCE (code_challenge with S256) is required",
        )),
        (None, None) => Ok(None),
        (Some(challenge), Some("S256")) if pkce::is_s256_challenge(challenge) => {
            Ok(Some(challenge.to_owned()))
        }
        (Some(_), Some("S256")) => Err(problem(
            "invalid_request",
            "code_challenge is not a S256 challenge",
        )),
        (Some(_), _) => Err(problem(
            "invalid_request",
            "only code_challenge_method=S256 is supported",
        )),
    }
}

/// The `prompt` values.
fn prompt(params: &Params) -> Result<Prompt, Problem> {
    let mut prompt = Prompt::default();
    let values = params.get("prompt")?.unwrap_or("");
    for value in values.split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            _ => return Err(problem("invalid_request", "unsupported prompt value")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(problem("invalid_request", "prompt=none cannot be combined"));
    }
    Ok(prompt)
}

/// Everything after the client and redirect URI are known good.
fn check(
    state: &State,
    client: &ClientConfig,
    params: &Params,
    redirect_uri: String,
    redirect_uri_sent: bool,
) -> Result<Valid, Problem> {
    let client_state = params.get("state")?.map(str::to_owned);
    if params.get("request")?.is_some() {
        return Err(problem(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.get("request_uri")?.is_some() {
        return Err(problem(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match params.get("response_type")? {
        Some("code") => {}
        Some(_) => {
            return Err(problem(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(problem("invalid_request", "response_type is missing")),
    }
    if params.get("response_mode")?.is_some_and(|m| m != "query") {
        return Err(problem(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let scopes = scopes(state, client, params)?;
    let code_challenge = code_challenge(client, params)?;
    let nonce = params.get("nonce")?;
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(problem("invalid_request", "nonce is too long"));
    }
    let prompt = prompt(params)?;
    let max_age = match params.get("max_age")? {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| problem("invalid_request", "max_age is not a number"))?,
        ),
        None => None,
    };
    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        scopes,
        state: client_state,
        nonce: nonce.map(str::to_owned),
        code_challenge,
        prompt,
    };
    Ok(Valid { request, max_age })
}

/// Validates an authorization request.
pub fn validate(state: &State, params: &Params) -> Result<Valid, Refusal> {
    let (client, redirect_uri, sent) = client_and_redirect(state, params)?;
    check(state, client, params, redirect_uri.clone(), sent).map_err(|problem| {
        Refusal::Redirect {
            redirect_uri,
            // A repeated state is not echoed.
            state: params.get("state").ok().flatten().map(str::to_owned),
            problem,
        }
    })
}
