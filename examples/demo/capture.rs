//! The gateway runs in-process, so its own log events become journal steps: a `tracing` layer
//! that reads events of `bff_gateway::auth`, `bff_gateway::access` and `bff_gateway::oauth*`.
//!
//! Only fields from a fixed list are read (method, path, route, status, …). The gateway never
//! puts a token, cookie or query string into those, and this layer never reads anything else.

use crate::journal::{Actor, Journal, Step};
use std::fmt::Debug;
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The targets whose events are journaled.
pub fn is_captured(target: &str) -> bool {
    target == "bff_gateway::auth"
        || target == "bff_gateway::access"
        || target.starts_with("bff_gateway::oauth")
}

/// Writes the gateway's auth and access events to the journal.
pub struct GatewayCapture {
    pub journal: Arc<Journal>,
}

impl<S: Subscriber> Layer<S> for GatewayCapture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if !is_captured(metadata.target()) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let step = if metadata.target() == "bff_gateway::access" {
            access_step(&fields)
        } else {
            auth_step(*metadata.level(), &fields)
        };
        if let Some(step) = step {
            self.journal.record(step);
        }
    }
}

/// The fields this layer reads; anything else an event carries is ignored.
#[derive(Default, Debug)]
pub struct Fields {
    pub message: String,
    pub method: String,
    pub path: String,
    pub route: String,
    pub status: Option<u64>,
    pub latency_ms: Option<f64>,
    pub error: String,
}

impl Fields {
    fn set(&mut self, name: &str, value: String) {
        match name {
            "message" => self.message = value,
            "method" => self.method = value,
            "path" => self.path = value,
            "route" => self.route = value,
            "error" => self.error = value,
            "status" => self.status = value.parse().ok(),
            "latency_ms" => self.latency_ms = value.parse().ok(),
            _ => {}
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        // `message` and `%display` fields arrive here; format only the fields we keep.
        if matches!(
            field.name(),
            "message" | "method" | "route" | "error" | "path"
        ) {
            self.set(field.name(), format!("{value:?}"));
        }
    }
}

fn gateway(kind: &'static str, title: String, explain: &'static str) -> Step {
    Step::new(Actor::Gateway, kind, title, explain)
}

/// The access-log line of a request. The SPA's own files and the journal polling are left out.
pub fn access_step(f: &Fields) -> Option<Step> {
    if f.route == "spa" {
        return None;
    }
    let status = f.status.unwrap_or(0);
    let title = format!("{} {} → {status}", f.method, f.path);
    let latency = match f.latency_ms {
        Some(ms) if ms < 1.0 => "answered in under 1 ms".to_owned(),
        Some(ms) => format!("answered in {ms:.0} ms"),
        None => String::new(),
    };
    let step = match (f.path.as_str(), status) {
        ("/auth/login", 302) => gateway(
            "login_redirect",
            format!("{title}: off to the authorization server"),
            "The gateway redirected the browser to the authorization server (302) with a PKCE \
             challenge and state — the browser never sees a token.",
        ),
        ("/auth/callback", 200) => gateway(
            "callback",
            title,
            "Back from the authorization server with a one-time code: the gateway exchanged \
             it for tokens itself and set an encrypted, HttpOnly session cookie.",
        ),
        // The SPA's own "signed in / not signed in" step tells this one.
        ("/auth/session", _) => return None,
        ("/auth/callback", 302) => gateway(
            "callback_error",
            format!("{title}: back to the SPA with ?auth_error="),
            "No code came back, so the gateway set no session and passed the provider's error \
             code on to the SPA.",
        ),
        ("/auth/logout", _) => gateway(
            "logout",
            title,
            "The gateway cleared the session cookie, revoked the tokens at the authorization \
             server and gave the SPA the provider's logout URL.",
        ),
        ("/auth/logout/continue", _) => gateway(
            "logout_continue",
            title,
            "A short hop through the gateway to the provider's end-session endpoint, so the ID \
             token it needs never reaches JavaScript.",
        ),
        (_, 200..=299) if f.route == "api" => gateway(
            "api_call",
            format!("{title} (Bearer token added by the gateway)"),
            "The gateway decrypted the session cookie, put the access token into \
             Authorization: Bearer and forwarded the call to the contacts API.",
        ),
        (_, 401) if f.route == "api" => gateway(
            "api_unauthenticated",
            title,
            "No valid session (or it could not be refreshed): the gateway answered 401 and \
             the SPA starts a login.",
        ),
        (_, 403) if f.route == "api" => gateway(
            "api_forbidden",
            title,
            "Refused: the gateway's CSRF check failed, or the API refused the token — \
             insufficient_scope (the contacts scope was not granted) or invalid_token (still \
             not active after the gateway's one refresh).",
        ),
        _ => gateway("request", title, "A request through the gateway."),
    };
    Some(step.detail(latency))
}

/// An event of the token handler (`bff_gateway::auth`) or the OAuth client.
pub fn auth_step(level: Level, f: &Fields) -> Option<Step> {
    let step = match f.message.as_str() {
        // The access-log line of the same request tells these.
        "login started" | "logout" => return None,
        // The authorization server's revocation step tells this one.
        "token revoked" => return None,
        "provider discovery done" => gateway(
            "discovery",
            "Read the provider's OpenID configuration".to_owned(),
            "At start the gateway learned where to send users, where to exchange codes and \
             where the signing keys are.",
        ),
        "login completed" => gateway(
            "login_completed",
            "Signed in: ID token valid, session cookie set".to_owned(),
            "The gateway checked the ID token (signature, issuer, audience, nonce, expiry) and \
             sealed the tokens into the encrypted session cookie.",
        ),
        "login ended with a provider error" => gateway(
            "provider_error",
            format!("The authorization server answered error={}", f.error),
            "No code, no session: the gateway sends the browser back to the SPA with \
             ?auth_error=… so it can explain.",
        ),
        message if level <= Level::WARN => gateway(
            "gateway_warning",
            message.to_owned(),
            "Something went wrong between the gateway and the provider; see the terminal log.",
        )
        .detail(f.error.clone()),
        message => gateway(
            "gateway_event",
            message.to_owned(),
            "The gateway noted this.",
        ),
    };
    Some(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(path: &str, route: &str, status: u64) -> Fields {
        Fields {
            method: "GET".to_owned(),
            path: path.to_owned(),
            route: route.to_owned(),
            status: Some(status),
            latency_ms: Some(3.2),
            ..Fields::default()
        }
    }

    #[test]
    fn the_login_redirect_is_explained() {
        let step = access_step(&access("/auth/login", "auth", 302)).unwrap();
        assert_eq!(step.kind, "login_redirect");
        assert!(step.explain.contains("PKCE"));
        assert_eq!(step.detail, "answered in 3 ms");
    }

    #[test]
    fn the_spa_files_and_the_journal_polling_are_left_out() {
        assert!(access_step(&access("/demo/journal", "spa", 200)).is_none());
        assert!(access_step(&access("/auth/session", "auth", 401)).is_none());
        assert!(access_step(&access("/app.js", "spa", 200)).is_none());
    }

    #[test]
    fn an_api_call_names_the_injected_bearer() {
        let step = access_step(&access("/api/contacts", "api", 200)).unwrap();
        assert_eq!(step.kind, "api_call");
        assert_eq!(
            step.title,
            "GET /api/contacts → 200 (Bearer token added by the gateway)"
        );
    }

    #[test]
    fn warnings_keep_their_message() {
        let fields = Fields {
            message: "token refresh failed; session kept".to_owned(),
            error: "provider down".to_owned(),
            ..Fields::default()
        };
        let step = auth_step(Level::WARN, &fields).unwrap();
        assert_eq!(step.kind, "gateway_warning");
        assert_eq!(step.detail, "provider down");
    }
}
