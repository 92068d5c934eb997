//! Forwarding a routed request: header rewriting (`headers`), the pooled upstream client
//! (`forward`) and WebSocket tunnels (`upgrade`).
//!
//! This module knows nothing about OAuth: the token handler hands it a header value to set.

pub mod forward;
pub mod headers;
pub mod upgrade;

pub use forward::{ClientSetupError, Forwarder};
