//! Integration tests: the real gateway (in-process or the real binary) on ephemeral loopback
//! ports in front of real hyper upstreams. Checklist items are cited as `// checklist X1`.

mod support;

mod auth;
mod callback;
mod cli;
mod faults;
mod hostile;
mod limits;
mod logout;
mod metrics;
mod pool;
mod provider_outages;
mod proxy;
mod reload;
mod sessions;
mod shutdown;
mod tls;
mod workers;
