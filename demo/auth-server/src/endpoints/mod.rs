//! One module per endpoint (plus the client authentication and authorization-response helpers
//! they share).

pub mod authorization_request;
pub mod authorize;
pub mod client_auth;
pub mod consent;
pub mod discovery;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod redirect;
pub mod revoke;
pub mod token;
pub mod userinfo;
