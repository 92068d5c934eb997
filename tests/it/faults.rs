//! Fault injection (issue 7): providers and upstreams that are down, slow, broken or lying, during
//! login, callback, refresh and proxying. Each case asserts the status, the JSON body, that the
//! session is kept when the fault is transient, and recovery without a restart.
