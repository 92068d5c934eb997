//! The upstream client: sends a prepared request and returns the streamed response.
//!
//! `http` and `https` upstreams (rustls with webpki roots plus an optional extra CA file), HTTP/1.1
//! and HTTP/2 by ALPN, over the worker's connection pool (`pool`). Connections are hyper's own
//! (`hyper::client::conn`): a request costs no pool-key hashing, no connector clone and no task of
//! its own. A request that never left on a pooled connection that had just closed is sent once
//! more on another. Redirects are never followed: a 3xx goes back to the client as it is
//! (checklist P4). A connect failure is 502, no response headers within the route's timeout 504.

use super::pool::{Pool, Pooled, PooledBody};
use crate::body::{BodyError, LimitedBody};
use crate::config::{UpstreamClientConfig, UpstreamUrl};
use crate::error::GatewayError;
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri};
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tower_service::Service;

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

/// Where a request goes: the route's upstream and its pool slot (`Router` numbers them).
#[derive(Clone, Copy)]
pub struct Destination<'a> {
    pub url: &'a UpstreamUrl,
    pub slot: usize,
}

/// Sends requests to upstreams over pooled connections; one per worker thread.
pub struct Forwarder {
    connector: HttpsConnector<HttpConnector>,
    pool: Arc<Pool>,
}

impl Forwarder {
    /// A client for `upstreams` distinct upstreams.
    pub fn new(config: &UpstreamClientConfig, upstreams: usize) -> Result<Self, ClientSetupError> {
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
        Ok(Self {
            connector,
            pool: Pool::new(
                upstreams,
                config.pool_idle_timeout,
                config.pool_max_idle_per_host,
            ),
        })
    }

    /// Sends the request (origin-form URI; the gateway has set `Host`); waits at most `timeout`
    /// for the response headers. The response body streams afterwards without a deadline (long
    /// downloads are fine).
    pub async fn forward(
        &self,
        to: Destination<'_>,
        request: Request<LimitedBody>,
        timeout: Duration,
    ) -> Result<Response<PooledBody>, GatewayError> {
        match tokio::time::timeout(timeout, self.send(to, request)).await {
            Err(_) => Err(GatewayError::UpstreamTimeout { after: timeout }),
            Ok(result) => result,
        }
    }

    async fn send(
        &self,
        to: Destination<'_>,
        mut request: Request<LimitedBody>,
    ) -> Result<Response<PooledBody>, GatewayError> {
        loop {
            let (connection, reused) = match self.pool.take(to.slot) {
                Some(connection) => (connection, true),
                // Boxed: a new connection's state (TCP, TLS, handshakes) is large, and the
                // common path, a pooled connection, would carry and copy it with every request.
                None => (Box::pin(self.connect(to)).await?, false),
            };
            let sent = match connection {
                Pooled::Http1(mut sender) => {
                    origin_form(request.uri_mut());
                    match sender.try_send_request(request).await {
                        Ok(response) => {
                            return Ok(if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                                // The connection now belongs to the upgrade.
                                response.map(PooledBody::unpooled)
                            } else {
                                response.map(|body| {
                                    PooledBody::pooled(body, &self.pool, to.slot, sender)
                                })
                            });
                        }
                        Err(error) => error,
                    }
                }
                Pooled::Http2(mut sender) => {
                    absolute_form(request.uri_mut(), to.url)?;
                    match sender.try_send_request(request).await {
                        Ok(response) => return Ok(response.map(PooledBody::unpooled)),
                        Err(error) => error,
                    }
                }
            };
            request = retry_or_fail(sent, reused)?;
        }
    }

    /// A new connection to the upstream; TLS and HTTP/2 when the upstream offers it (ALPN).
    async fn connect(&self, to: Destination<'_>) -> Result<Pooled, GatewayError> {
        let target = Uri::from_parts({
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(to.url.scheme.clone());
            parts.authority = Some(to.url.authority.clone());
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
            parts
        })
        .map_err(|error| GatewayError::BuildRequest(error.into()))?;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(GatewayError::UpstreamConnect)?;
        let stream = connector
            .call(target)
            .await
            .map_err(GatewayError::UpstreamConnect)?;
        if stream.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(stream)
                .await
                .map_err(|error| GatewayError::UpstreamConnect(error.into()))?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "upstream HTTP/2 connection ended");
                }
            });
            self.pool.share(to.slot, &sender);
            Ok(Pooled::Http2(sender))
        } else {
            let (sender, connection) = http1::Builder::new()
                .handshake(stream)
                .await
                .map_err(|error| GatewayError::UpstreamConnect(error.into()))?;
            tokio::spawn(async move {
                if let Err(error) = connection.with_upgrades().await {
                    tracing::debug!(%error, "upstream connection ended");
                }
            });
            Ok(Pooled::Http1(sender))
        }
    }
}

/// A request that never left on a reused connection (it closed meanwhile) is sent again on
/// another; every other failure is the answer.
fn retry_or_fail(
    mut error: TrySendError<Request<LimitedBody>>,
    reused: bool,
) -> Result<Request<LimitedBody>, GatewayError> {
    match error.take_message() {
        Some(request) if reused => {
            tracing::debug!(error = %error.error(), "pooled upstream connection closed; retrying");
            Ok(request)
        }
        _ => Err(classify(error.into_error())),
    }
}

/// `/path?query` for an HTTP/1.1 request line.
fn origin_form(uri: &mut Uri) {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return;
    }
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *uri = Uri::from(path);
}

/// HTTP/2 carries the scheme and authority as pseudo-headers: the URI must have them.
fn absolute_form(uri: &mut Uri, url: &UpstreamUrl) -> Result<(), GatewayError> {
    if uri.scheme().is_some() {
        return Ok(());
    }
    let mut parts = std::mem::take(uri).into_parts();
    parts.scheme = Some(url.scheme.clone());
    parts.authority = Some(url.authority.clone());
    *uri = Uri::from_parts(parts).map_err(|error| GatewayError::BuildRequest(error.into()))?;
    Ok(())
}

/// A failed send is the client's fault when its own body broke or overflowed, else the upstream's.
fn classify(error: hyper::Error) -> GatewayError {
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
    GatewayError::UpstreamFailed(error)
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
