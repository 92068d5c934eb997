//! The demo authorization server over real HTTP, as a client and a browser would use it.

mod api;
mod browser;
mod code_flow;
mod discovery;
mod events;
mod faults;
mod logout;
mod refresh;
mod support;
mod tokens;
