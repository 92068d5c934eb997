//! The OAuth 2.0 / OpenID Connect client side: discovery, JWKS, ID tokens, token requests.
//!
//! Knows nothing about hyper's server side, cookies or routes.

pub mod client;
pub mod discovery;
pub mod http;
pub mod id_token;
pub mod jwks;
pub mod pkce;

pub use client::{OAuthClient, Provider, TokenError, TokenResponse};
