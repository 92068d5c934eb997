//! **DEMO ONLY, NOT FOR PRODUCTION.** A small but real OAuth 2.0 / OpenID Connect authorization
//! server for the bff-gateway demo and integration tests.
//!
//! It speaks the authorization code flow with PKCE S256 (RFC 6749, RFC 7636, OIDC Core), with a
//! real login form and consent screen, RS256 ID tokens and a JWKS, refresh-token rotation with
//! reuse detection (RFC 9700 §4.14.2), introspection (RFC 7662), revocation (RFC 7009),
//! userinfo, RP-initiated logout and `iss` in authorization responses (RFC 9207). Everything is
//! kept in memory; users and passwords are plain configuration.
//!
//! For tests it can skip the login form ([`AuthServerConfig::auto_login_user`]) and the consent
//! screen ([`AuthServerConfig::auto_approve`]), count requests, and misbehave on demand
//! ([`Faults`]). A demo can watch every step through [`AuthServerConfig::on_event`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), bff_demo_auth_server::AuthServerError> {
//! use bff_demo_auth_server::{AuthServer, AuthServerConfig};
//! let server = AuthServer::start(AuthServerConfig::default()).await?;
//! println!("issuer: {}", server.issuer());
//! server.faults().set(|f| f.wrong_aud = true);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod clock;
mod config;
mod endpoints;
mod error;
mod events;
mod faults;
mod id_token;
mod keys;
mod pages;
mod pkce;
mod random;
mod request;
mod server;
mod state;
mod store;
mod web;

pub use config::{AuthServerConfig, ClientConfig, Contact, DEFAULT_SCOPES, UserConfig};
pub use error::AuthServerError;
pub use events::{ActiveToken, AuthEvent, ClientAuth, EventHook, GrantType};
pub use faults::{FaultSettings, Faults};
pub use server::AuthServer;
pub use store::grants::{TokenInfo, TokenKind};
