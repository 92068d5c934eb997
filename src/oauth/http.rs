//! Calls to the provider: bounded in time and size, never following a redirect (a redirect would
//! carry the client secret or a token elsewhere; checklist D4, K-redirect), never logging bodies.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::time::Duration;
use thiserror::Error;

/// Largest provider response read (discovery, JWKS, token responses).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Error)]
pub enum ProviderHttpError {
    #[error("cannot reach the provider at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the provider at {url} did not answer within {}", humantime::format_duration(*.after))]
    Timeout { url: String, after: Duration },
    #[error("the provider at {url} answered with a redirect, which is never followed")]
    Redirect { url: String },
    #[error("the provider at {url} answered {status}")]
    Status {
        url: String,
        status: u16,
        body: Bytes,
    },
    #[error("the provider's answer from {url} is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge { url: String },
    #[error("the provider's answer from {url} is not the expected JSON: {source}")]
    BadJson {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Setup(#[source] reqwest::Error),
}

impl ProviderHttpError {
    /// Transient failures (worth a retry later, session kept) versus definite answers. An
    /// answer that is not JSON at all (an HTML error page from a proxy in front of the provider)
    /// says nothing about the grant, so it is transient too.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::TooLarge { .. }
            | Self::BadJson { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            Self::Redirect { .. } | Self::Setup(_) => false,
        }
    }
}

/// The HTTP client for provider calls.
#[derive(Clone, Debug)]
pub struct ProviderHttp {
    client: reqwest::Client,
    timeout: Duration,
}

/// Client authentication sent with a form POST.
pub enum FormAuth<'a> {
    None,
    Basic { id: &'a str, secret: &'a str },
}

impl ProviderHttp {
    pub fn new(timeout: Duration) -> Result<Self, ProviderHttpError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("bff-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ProviderHttpError::Setup)?;
        Ok(Self { client, timeout })
    }

    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, ProviderHttpError> {
        let request = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json");
        let body = self.send(url, request).await?;
        parse_json(url, &body)
    }

    /// GETs JSON with `Authorization: Bearer` (the UserInfo endpoint).
    pub async fn get_json_bearer<T: DeserializeOwned>(
        &self,
        url: &str,
        token: &str,
    ) -> Result<T, ProviderHttpError> {
        let request = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .bearer_auth(token);
        let body = self.send(url, request).await?;
        parse_json(url, &body)
    }

    /// POSTs a form; returns the status and body for any 2xx or 4xx answer (OAuth errors are
    /// 400/401 JSON), an error for the rest.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        auth: FormAuth<'_>,
    ) -> Result<(u16, Bytes), ProviderHttpError> {
        let body = encode_form(form);
        let mut request = self
            .client
            .post(url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body);
        if let FormAuth::Basic { id, secret } = auth {
            // RFC 6749 §2.3.1: form-encode id and secret before base64 (checklist A2).
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(id), Some(encode(secret)));
        }
        match self.send(url, request).await {
            Ok(body) => Ok((200, body)),
            Err(ProviderHttpError::Status { status, body, .. }) if (400..500).contains(&status) => {
                Ok((status, body))
            }
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Bytes, ProviderHttpError> {
        let mut response = request
            .send()
            .await
            .map_err(|source| self.map(url, source))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(ProviderHttpError::Redirect {
                url: url.to_owned(),
            });
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(ProviderHttpError::TooLarge {
                url: url.to_owned(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| self.map(url, source))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ProviderHttpError::TooLarge {
                    url: url.to_owned(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = Bytes::from(body);
        if !status.is_success() {
            return Err(ProviderHttpError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                body,
            });
        }
        Ok(body)
    }

    fn map(&self, url: &str, source: reqwest::Error) -> ProviderHttpError {
        if source.is_timeout() {
            ProviderHttpError::Timeout {
                url: url.to_owned(),
                after: self.timeout,
            }
        } else {
            ProviderHttpError::Unreachable {
                url: url.to_owned(),
                source,
            }
        }
    }
}

/// `application/x-www-form-urlencoded` text (the serializer is not `Send`, so it never lives
/// across an await).
fn encode_form(form: &[(&str, &str)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        body.append_pair(k, v);
    }
    body.finish()
}

pub fn parse_json<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, ProviderHttpError> {
    serde_json::from_slice(body).map_err(|source| ProviderHttpError::BadJson {
        url: url.to_owned(),
        source,
    })
}
