//! Authorization codes and tokens: single-use codes (a replayed code revokes what it produced,
//! RFC 6749 §4.1.2), opaque access tokens, and rotating refresh tokens whose reuse revokes the
//! whole family (RFC 9700 §4.14.2). A family is everything issued from one code.

use super::{Digest, digest, lock};
use crate::clock::unix_now;
use crate::random::{self, RandomError};
use crate::request::{AuthorizationRequest, LoggedIn};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a spent code is remembered after it expired, to detect replays.
const SPENT_CODE_MEMORY: Duration = Duration::from_secs(600);

/// Lifetimes of what a grant issues.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
    /// Random bytes in each access token (32 by default; more makes tokens the size of a
    /// production provider's JWTs).
    pub access_token_bytes: usize,
}

/// Whether a token is an access or a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

/// What a live token stands for (the introspection answer).
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub kind: TokenKind,
    pub client_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

/// Tokens issued by a successful grant.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Scopes of the access token.
    pub scopes: Vec<String>,
    pub client_id: String,
    pub user: LoggedIn,
    /// The authorization request's nonce (code grant only).
    pub nonce: Option<String>,
}

/// Why a grant was refused (the `error` of RFC 6749 §5.2 and a description).
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
    #[error(transparent)]
    Random(#[from] RandomError),
}

struct Code {
    request: AuthorizationRequest,
    user: LoggedIn,
    expires_at: Instant,
    spent: bool,
    /// The family issued from this code, if its redemption succeeded.
    family: Option<u64>,
}

struct Token {
    info: TokenInfo,
    family: u64,
    expires_at: Instant,
    revoked: bool,
    /// Refresh tokens: already exchanged (rotated).
    spent: bool,
    auth_time: u64,
}

impl Token {
    fn active(&self, now: Instant) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// Who and what new tokens are for.
#[derive(Clone, Copy)]
struct Grant<'a> {
    family: u64,
    client_id: &'a str,
    user: &'a LoggedIn,
    /// Scopes of the access token.
    scopes: &'a [String],
    /// Scopes of the refresh token (the original grant).
    refresh_scopes: &'a [String],
}

#[derive(Default)]
struct Inner {
    codes: HashMap<Digest, Code>,
    tokens: HashMap<Digest, Token>,
    next_family: u64,
}

/// Codes and tokens of one server.
#[derive(Default)]
pub struct Grants {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants").finish_non_exhaustive()
    }
}

fn revoke_family(tokens: &mut HashMap<Digest, Token>, family: u64) {
    for token in tokens.values_mut().filter(|t| t.family == family) {
        token.revoked = true;
    }
}

impl Inner {
    fn purge(&mut self, now: Instant) {
        self.codes
            .retain(|_, c| now < c.expires_at + SPENT_CODE_MEMORY);
        self.tokens.retain(|_, t| now < t.expires_at);
    }

    fn revoke_family(&mut self, family: u64) {
        revoke_family(&mut self.tokens, family);
    }

    /// Adds an access token (and a refresh token when `refresh` is given) for `grant`.
    fn issue(
        &mut self,
        grant: &Grant<'_>,
        access: String,
        refresh: Option<String>,
        lifetimes: Lifetimes,
        now: Instant,
    ) -> (String, Option<String>) {
        let Grant {
            family,
            client_id,
            user,
            scopes,
            refresh_scopes,
        } = *grant;
        let iat = unix_now();
        let token = |kind, scopes: &[String], ttl: Duration| Token {
            info: TokenInfo {
                kind,
                client_id: client_id.to_owned(),
                username: user.username.clone(),
                scopes: scopes.to_vec(),
                iat,
                exp: iat + ttl.as_secs(),
            },
            family,
            expires_at: now + ttl,
            revoked: false,
            spent: false,
            auth_time: user.auth_time,
        };
        self.tokens.insert(
            digest(&access),
            token(TokenKind::Access, scopes, lifetimes.access),
        );
        if let Some(refresh) = &refresh {
            self.tokens.insert(
                digest(refresh),
                token(TokenKind::Refresh, refresh_scopes, lifetimes.refresh),
            );
        }
        (access, refresh)
    }
}

impl Grants {
    /// Stores a new single-use code for `request` approved by `user`.
    pub fn issue_code(
        &self,
        request: AuthorizationRequest,
        user: LoggedIn,
        ttl: Duration,
    ) -> Result<String, RandomError> {
        let code = random::token()?;
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        inner.purge(now);
        inner.codes.insert(
            digest(&code),
            Code {
                request,
                user,
                expires_at: now + ttl,
                spent: false,
                family: None,
            },
        );
        Ok(code)
    }

    /// Redeems `code`. `check` validates the request against the code's binding (client,
    /// redirect URI, PKCE); the code is spent whatever the outcome. A replayed code revokes every
    /// token issued from it.
    pub fn redeem_code(
        &self,
        code: &str,
        check: impl FnOnce(&AuthorizationRequest) -> Result<(), GrantError>,
        lifetimes: Lifetimes,
    ) -> Result<Issued, GrantError> {
        let access = random::token_of(lifetimes.access_token_bytes)?;
        let refresh = random::token()?;
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let entry = inner
            .codes
            .get_mut(&digest(code))
            .ok_or(GrantError::InvalidGrant("unknown authorization code"))?;
        if entry.spent {
            if let Some(family) = entry.family {
                revoke_family(&mut inner.tokens, family);
            }
            return Err(GrantError::InvalidGrant(
                "the authorization code was already used",
            ));
        }
        entry.spent = true;
        if now >= entry.expires_at {
            return Err(GrantError::InvalidGrant("the authorization code expired"));
        }
        check(&entry.request)?;
        let family = inner.next_family;
        inner.next_family += 1;
        entry.family = Some(family);
        let request = entry.request.clone();
        let user = entry.user.clone();
        let offline = request.scopes.iter().any(|s| s == "offline_access");
        let grant = Grant {
            family,
            client_id: &request.client_id,
            user: &user,
            scopes: &request.scopes,
            refresh_scopes: &request.scopes,
        };
        let (access_token, refresh_token) =
            inner.issue(&grant, access, offline.then_some(refresh), lifetimes, now);
        Ok(Issued {
            access_token,
            refresh_token,
            scopes: request.scopes,
            client_id: request.client_id,
            user,
            nonce: request.nonce,
        })
    }

    /// Exchanges a refresh token of `client_id` for new tokens, rotating it. `scopes`, when
    /// given, narrows the new access token. Reusing a rotated token revokes its family.
    pub fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
        scopes: Option<Vec<String>>,
        lifetimes: Lifetimes,
        rotate: bool,
    ) -> Result<Issued, GrantError> {
        let access = random::token_of(lifetimes.access_token_bytes)?;
        let rotated = random::token()?;
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let token = inner
            .tokens
            .get_mut(&digest(refresh_token))
            .filter(|t| t.info.kind == TokenKind::Refresh)
            .ok_or(GrantError::InvalidGrant("unknown refresh token"))?;
        if token.info.client_id != client_id {
            return Err(GrantError::InvalidGrant(
                "the refresh token was issued to another client",
            ));
        }
        if token.spent {
            let family = token.family;
            inner.revoke_family(family);
            return Err(GrantError::InvalidGrant(
                "the refresh token was already used; its grant is revoked",
            ));
        }
        if !token.active(now) {
            return Err(GrantError::InvalidGrant(
                "the refresh token expired or was revoked",
            ));
        }
        let granted = token.info.scopes.clone();
        let scopes = match scopes {
            Some(asked) if asked.iter().all(|s| granted.contains(s)) => asked,
            Some(_) => {
                return Err(GrantError::InvalidScope(
                    "the requested scope exceeds the original grant",
                ));
            }
            None => granted.clone(),
        };
        // With rotation (the default) the used refresh token is spent and a new one issued.
        token.spent = rotate;
        let family = token.family;
        let user = LoggedIn {
            username: token.info.username.clone(),
            auth_time: token.auth_time,
        };
        inner.purge(now);
        let grant = Grant {
            family,
            client_id,
            user: &user,
            scopes: &scopes,
            refresh_scopes: &granted,
        };
        let (access_token, refresh_token) =
            inner.issue(&grant, access, rotate.then_some(rotated), lifetimes, now);
        Ok(Issued {
            access_token,
            refresh_token,
            scopes,
            client_id: client_id.to_owned(),
            user,
            nonce: None,
        })
    }

    /// The live (unexpired, unrevoked, for refresh tokens unspent) token `token`.
    pub fn introspect(&self, token: &str) -> Option<TokenInfo> {
        let now = Instant::now();
        let inner = lock(&self.inner);
        inner
            .tokens
            .get(&digest(token))
            .filter(|t| t.active(now) && !t.spent)
            .map(|t| t.info.clone())
    }

    /// The live access token `token`.
    pub fn access_token(&self, token: &str) -> Option<TokenInfo> {
        self.introspect(token)
            .filter(|info| info.kind == TokenKind::Access)
    }

    /// RFC 7009: revokes `token` if `client_id` owns it. A refresh token takes its whole family
    /// (the access tokens issued with it) along. Unknown tokens are ignored.
    pub fn revoke(&self, token: &str, client_id: &str) {
        let mut inner = lock(&self.inner);
        let Some(entry) = inner.tokens.get_mut(&digest(token)) else {
            return;
        };
        if entry.info.client_id != client_id {
            return;
        }
        match entry.info.kind {
            TokenKind::Access => entry.revoked = true,
            TokenKind::Refresh => {
                let family = entry.family;
                inner.revoke_family(family);
            }
        }
    }

    /// Revokes every token.
    pub fn revoke_all(&self) {
        let mut inner = lock(&self.inner);
        for token in inner.tokens.values_mut() {
            token.revoked = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Prompt;

    const LIFETIMES: Lifetimes = Lifetimes {
        access: Duration::from_secs(60),
        refresh: Duration::from_secs(600),
        access_token_bytes: 32,
    };

    fn request(scopes: &[&str]) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "app".to_owned(),
            redirect_uri: "https://app/cb".to_owned(),
            redirect_uri_sent: true,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            state: None,
            nonce: Some("n".to_owned()),
            code_challenge: None,
            prompt: Prompt::default(),
        }
    }

    fn user() -> LoggedIn {
        LoggedIn {
            username: "demo".to_owned(),
            auth_time: 1,
        }
    }

    fn grants_with_code(scopes: &[&str]) -> (Grants, String) {
        let grants = Grants::default();
        let code = grants
            .issue_code(request(scopes), user(), Duration::from_secs(60))
            .unwrap();
        (grants, code)
    }

    #[test]
    fn a_code_works_once_and_a_replay_revokes_its_tokens() {
        let (grants, code) = grants_with_code(&["openid", "offline_access"]);
        let issued = grants.redeem_code(&code, |_| Ok(()), LIFETIMES).unwrap();
        assert_eq!(issued.nonce.as_deref(), Some("n"));
        let refresh = issued.refresh_token.clone().unwrap();
        assert!(grants.access_token(&issued.access_token).is_some());
        assert!(matches!(
            grants.redeem_code(&code, |_| Ok(()), LIFETIMES),
            Err(GrantError::InvalidGrant(_))
        ));
        assert!(grants.introspect(&issued.access_token).is_none());
        assert!(grants.introspect(&refresh).is_none());
    }

    #[test]
    fn a_failed_check_spends_the_code() {
        let (grants, code) = grants_with_code(&["openid"]);
        let failed = grants.redeem_code(&code, |_| Err(GrantError::InvalidGrant("x")), LIFETIMES);
        assert!(failed.is_err());
        assert!(grants.redeem_code(&code, |_| Ok(()), LIFETIMES).is_err());
    }

    #[test]
    fn no_refresh_token_without_offline_access() {
        let (grants, code) = grants_with_code(&["openid"]);
        let issued = grants.redeem_code(&code, |_| Ok(()), LIFETIMES).unwrap();
        assert!(issued.refresh_token.is_none());
    }

    #[test]
    fn refresh_rotates_and_reuse_revokes_the_family() {
        let (grants, code) = grants_with_code(&["openid", "offline_access"]);
        let first = grants.redeem_code(&code, |_| Ok(()), LIFETIMES).unwrap();
        let r1 = first.refresh_token.unwrap();
        let second = grants.refresh(&r1, "app", None, LIFETIMES, true).unwrap();
        let r2 = second.refresh_token.clone().unwrap();
        assert_ne!(r1, r2);
        assert!(
            grants.introspect(&r1).is_none(),
            "a rotated token is inactive"
        );
        assert!(grants.introspect(&second.access_token).is_some());
        assert!(matches!(
            grants.refresh(&r1, "app", None, LIFETIMES, true),
            Err(GrantError::InvalidGrant(_))
        ));
        assert!(grants.introspect(&second.access_token).is_none());
        assert!(grants.refresh(&r2, "app", None, LIFETIMES, true).is_err());
    }

    #[test]
    fn refresh_checks_client_and_scope() {
        let (grants, code) = grants_with_code(&["openid", "offline_access"]);
        let r = grants
            .redeem_code(&code, |_| Ok(()), LIFETIMES)
            .unwrap()
            .refresh_token
            .unwrap();
        assert!(grants.refresh(&r, "other", None, LIFETIMES, true).is_err());
        let wider = Some(vec!["admin".to_owned()]);
        assert!(matches!(
            grants.refresh(&r, "app", wider, LIFETIMES, true),
            Err(GrantError::InvalidScope(_))
        ));
        let narrower = Some(vec!["openid".to_owned()]);
        let issued = grants
            .refresh(&r, "app", narrower, LIFETIMES, true)
            .unwrap();
        assert_eq!(issued.scopes, ["openid"]);
        let info = grants.introspect(&issued.refresh_token.unwrap()).unwrap();
        assert_eq!(info.scopes, ["openid", "offline_access"]);
    }

    #[test]
    fn revocation() {
        let (grants, code) = grants_with_code(&["openid", "offline_access"]);
        let issued = grants.redeem_code(&code, |_| Ok(()), LIFETIMES).unwrap();
        let refresh = issued.refresh_token.unwrap();
        grants.revoke(&issued.access_token, "other");
        assert!(grants.introspect(&issued.access_token).is_some());
        grants.revoke(&refresh, "app");
        assert!(grants.introspect(&issued.access_token).is_none());
        assert!(grants.introspect(&refresh).is_none());
        grants.revoke("unknown", "app");
    }

    #[test]
    fn expired_codes_are_refused() {
        let grants = Grants::default();
        let code = grants
            .issue_code(request(&["openid"]), user(), Duration::from_millis(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(grants.redeem_code(&code, |_| Ok(()), LIFETIMES).is_err());
    }
}
