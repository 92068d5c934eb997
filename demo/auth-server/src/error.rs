//! Why an [`AuthServer`](crate::AuthServer) could not start.

use std::net::SocketAddr;
use thiserror::Error;

/// A failure to start the authorization server.
#[derive(Debug, Error)]
pub enum AuthServerError {
    /// The configuration is inconsistent.
    #[error("invalid demo auth server configuration: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The signing key could not be generated.
    #[error("cannot create the signing key: {0}")]
    Keys(String),
}
