//! The pooled upstream client: sends a prepared request and returns the streamed response.
//!
//! `http` and `https` upstreams (rustls with webpki roots plus an optional extra CA file), HTTP/1.1
//! and HTTP/2 by ALPN. Redirects are never followed: a 3xx goes back to the client as it is
//! (checklist P4). A connect failure is 502, no response headers within the route's timeout 504.

use crate::body::{BodyError, LimitedBody};
use crate::config::UpstreamClientConfig;
use crate::error::GatewayError;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientSetupError {
    #[error("cannot read CA certificates from {file}: {source}")]
    CaFile {
        file: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("{file} holds no usable CA certificate; expected PEM `CERTIFICATE` blocks")]
    NoCaCertificate { file: PathBuf },
    #[error("cannot set up TLS for upstreams: {0}")]
    Tls(#[source] rustls::Error),
}

/// Sends requests to upstreams over pooled connections.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpsConnector<HttpConnector>, LimitedBody>,
}

impl Forwarder {
    pub fn new(config: &UpstreamClientConfig) -> Result<Self, ClientSetupError> {
        let tls = client_tls(config.extra_ca_file.as_deref())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            // The gateway sets `Host` itself, from config.
            .set_host(false)
            .build(connector);
        Ok(Self { client })
    }

    /// Sends the request; waits at most `timeout` for the response headers. The response body
    /// streams afterwards without a deadline (long downloads are fine).
    pub async fn forward(
        &self,
        request: Request<LimitedBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err(GatewayError::UpstreamTimeout { after: timeout }),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(classify(error)),
        }
    }
}

/// A failed send is the client's fault when its own body broke or overflowed, else the upstream's.
fn classify(error: hyper_util::client::legacy::Error) -> GatewayError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(body_error) = cause.downcast_ref::<BodyError>() {
            return match body_error {
                BodyError::TooLarge { limit } => GatewayError::BodyTooLarge { limit: *limit },
                BodyError::Client(_) => GatewayError::ClientAborted,
            };
        }
        source = cause.source();
    }
    if error.is_connect() {
        GatewayError::UpstreamConnect(error)
    } else {
        GatewayError::UpstreamFailed(error)
    }
}

fn client_tls(extra_ca_file: Option<&Path>) -> Result<rustls::ClientConfig, ClientSetupError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(file) = extra_ca_file {
        let mut added = 0;
        for cert in
            CertificateDer::pem_file_iter(file).map_err(|source| ClientSetupError::CaFile {
                file: file.to_owned(),
                source,
            })?
        {
            let cert = cert.map_err(|source| ClientSetupError::CaFile {
                file: file.to_owned(),
                source,
            })?;
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
        if added == 0 {
            return Err(ClientSetupError::NoCaCertificate {
                file: file.to_owned(),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ClientSetupError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
