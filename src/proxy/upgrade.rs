//! WebSocket pass-through (HTTP/1.1 `Upgrade: websocket`) on routes with `websocket: true`.
//!
//! Only a WebSocket upgrade is ever forwarded: any other `Upgrade` (notably `h2c`) is removed with
//! the other hop-by-hop headers. Once both sides have switched protocols, bytes are copied both
//! ways until either side closes; the gateway never reads the frames.

use http::header::{CONNECTION, HeaderMap, HeaderValue, UPGRADE};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// The `Upgrade` value of a WebSocket handshake, if this request is one.
pub fn websocket_request(request: &Request<Incoming>) -> Option<HeaderValue> {
    if request.method() != Method::GET || request.version() != Version::HTTP_11 {
        return None;
    }
    let headers = request.headers();
    let upgrade = headers.get(UPGRADE)?;
    let is_websocket = upgrade
        .to_str()
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    (is_websocket && connection_has_upgrade(headers)).then(|| upgrade.clone())
}

fn connection_has_upgrade(headers: &HeaderMap) -> bool {
    headers.get_all(CONNECTION).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        })
    })
}

/// Puts the handshake headers back after hop-by-hop removal.
pub fn restore_handshake(headers: &mut HeaderMap, upgrade: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, upgrade);
}

/// When the upstream switched protocols, joins the two upgraded connections in a background task
/// and restores the handshake headers on the response. Returns whether a tunnel was started.
pub fn tunnel_if_switched<B>(
    client: OnUpgrade,
    response: &mut Response<B>,
    upgrade: HeaderValue,
    route: &str,
) -> bool {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return false;
    }
    let upstream = hyper::upgrade::on(&mut *response);
    restore_handshake(response.headers_mut(), upgrade);
    let route = route.to_owned();
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(route, %error, "websocket upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((up, down)) => tracing::debug!(route, up, down, "websocket closed"),
            Err(error) => tracing::debug!(route, %error, "websocket ended with an error"),
        }
    });
    true
}
