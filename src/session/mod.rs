//! Sessions kept in the browser: sealed (`codec`) into cookies (`cookies`).
//!
//! Pure code: bytes in, bytes out, the clock passed in. It never logs and never does I/O, so it
//! is easy to fuzz.

pub mod codec;
pub mod cookies;
pub mod model;

pub use codec::{KeyError, MasterKey, OpenError, Purpose, SessionCodec};
pub use cookies::{ChunkError, CookieSpec, RequestCookies};
pub use model::{LoginState, Session};
