//! Forwarding a routed request: header rewriting (`headers`), the upstream client
//! (`forward`) and its per-worker connection pool (`pool`), and WebSocket tunnels (`upgrade`).
//!
//! This module knows nothing about OAuth: the token handler hands it a header value to set.

pub mod forward;
pub mod headers;
pub mod pool;
pub mod upgrade;

pub use forward::{ClientSetupError, Destination, Forwarder};
pub use pool::PooledBody;
