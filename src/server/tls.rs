//! TLS termination for the main listener: rustls from PEM files, ALPN `h2` then `http/1.1`.
//!
//! A bad file is a startup error that names the file. This module must never log key material.

use crate::config::TlsFiles;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Error)]
pub enum TlsSetupError {
    #[error("cannot read the certificate chain from {file}: {source}")]
    CertFile {
        file: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error(
        "{file} holds no certificate; expected PEM `CERTIFICATE` blocks (`server.tls.cert_file`)"
    )]
    NoCertificate { file: PathBuf },
    #[error(
        "cannot read a private key from {file}: {source} (`server.tls.key_file` expects a PEM PKCS#8, PKCS#1 or SEC1 key)"
    )]
    KeyFile {
        file: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the certificate in {cert} and the key in {key} cannot be used together: {source}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Builds the acceptor for `server.tls`.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsSetupError> {
    let chain = read_chain(&files.cert_file)?;
    let key =
        PrivateKeyDer::from_pem_file(&files.key_file).map_err(|source| TlsSetupError::KeyFile {
            file: files.key_file.clone(),
            source,
        })?;
    let unusable = |source| TlsSetupError::Unusable {
        cert: files.cert_file.clone(),
        key: files.key_file.clone(),
        source,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(unusable)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_chain(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let error = |source| TlsSetupError::CertFile {
        file: file.to_owned(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(file)
        .map_err(error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(error)?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            file: file.to_owned(),
        });
    }
    Ok(chain)
}
