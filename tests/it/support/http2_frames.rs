//! HTTP/2 written frame by frame over a raw socket (RFC 9113 §4), for the attacks a conforming
//! client library will not make: rapid reset, CONTINUATION floods, oversized header lists.
//! Header blocks use only HPACK literals without indexing, so no dynamic table state is kept.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// RST_STREAM / GOAWAY error codes.
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The largest frame payload a peer must accept without a SETTINGS change.
pub const MAX_FRAME_PAYLOAD: usize = 16_384;

/// One frame: 9-byte header and payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame length");
    assert!(len < 1 << 24);
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The client preface and an empty SETTINGS frame.
pub fn client_start() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK integer with an `prefix_bits`-bit prefix; `flags` are the bits above the prefix.
fn hpack_int(out: &mut Vec<u8>, flags: u8, prefix_bits: u32, mut value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

fn hpack_string(out: &mut Vec<u8>, s: &[u8]) {
    hpack_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// A literal header field without indexing, new name (RFC 7541 §6.2.2).
pub fn literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0);
    hpack_string(out, name.as_bytes());
    hpack_string(out, value);
}

/// `GET <path>` to `authority`: static-table `:method GET` and `:scheme http`, literal `:path`
/// and `:authority` (indexed names 4 and 1, without indexing).
pub fn get_request_block(authority: &str, path: &str) -> Vec<u8> {
    let mut out = vec![0x82, 0x86];
    hpack_int(&mut out, 0, 4, 4);
    hpack_string(&mut out, path.as_bytes());
    hpack_int(&mut out, 0, 4, 1);
    hpack_string(&mut out, authority.as_bytes());
    out
}

/// A request header block: `:method` and `:scheme http` from the static table, literal `:path`
/// and `:authority`, then `fields` as literals.
pub fn request_block(
    method: &str,
    authority: &str,
    path: &str,
    fields: &[(&str, &[u8])],
) -> Vec<u8> {
    let mut out = match method {
        "GET" => vec![0x82],
        "POST" => vec![0x83],
        other => {
            let mut out = Vec::new();
            literal(&mut out, ":method", other.as_bytes());
            out
        }
    };
    out.push(0x86);
    hpack_int(&mut out, 0, 4, 4);
    hpack_string(&mut out, path.as_bytes());
    hpack_int(&mut out, 0, 4, 1);
    hpack_string(&mut out, authority.as_bytes());
    for (name, value) in fields {
        literal(&mut out, name, value);
    }
    out
}

/// Splits bytes a server sent into whole frames (a trailing partial frame is dropped).
pub fn parse_frames(mut raw: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while raw.len() >= 9 {
        let len = u32::from_be_bytes([0, raw[0], raw[1], raw[2]]) as usize;
        let Some(payload) = raw.get(9..9 + len) else {
            break;
        };
        frames.push(Frame {
            kind: raw[3],
            flags: raw[4],
            stream: u32::from_be_bytes([raw[5], raw[6], raw[7], raw[8]]) & 0x7fff_ffff,
            payload: payload.to_vec(),
        });
        raw = &raw[9 + len..];
    }
    frames
}

/// A frame the server sent.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a GOAWAY or RST_STREAM frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            GOAWAY => 4,
            RST_STREAM => 0,
            _ => return None,
        };
        let bytes = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    }

    /// The `:status` of a response HEADERS frame when the server encoded it in a way this
    /// decoder knows (static-table index or a plain literal with the indexed name 8).
    pub fn status(&self) -> Option<u16> {
        if self.kind != HEADERS {
            return None;
        }
        let first = *self.payload.first()?;
        let indexed = [
            (0x88, 200),
            (0x89, 204),
            (0x8a, 206),
            (0x8b, 304),
            (0x8c, 400),
            (0x8d, 404),
            (0x8e, 500),
        ];
        if let Some((_, status)) = indexed.iter().find(|(b, _)| *b == first) {
            return Some(*status);
        }
        // Literal with indexed name `:status` (8), with or without indexing; not Huffman.
        if matches!(first, 0x48 | 0x08 | 0x18) {
            let len = usize::from(*self.payload.get(1)?);
            if len & 0x80 == 0 {
                let digits = self.payload.get(2..2 + len)?;
                return std::str::from_utf8(digits).ok()?.parse().ok();
            }
        }
        None
    }
}

/// Reads the next frame; `None` once the server closed the connection or `wait` passed.
pub async fn read_frame(stream: &mut TcpStream, wait: Duration) -> Option<Frame> {
    let read = async {
        let mut header = [0u8; 9];
        stream.read_exact(&mut header).await.ok()?;
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: header[3],
            flags: header[4],
            stream: u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff,
            payload,
        })
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// What a server did with a connection, read until it closed it or `wait` passed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    /// The server closed the connection (rather than `wait` passing).
    pub closed: bool,
}

impl Outcome {
    pub fn goaway(&self) -> Option<&Frame> {
        self.frames.iter().find(|f| f.kind == GOAWAY)
    }

    pub fn statuses(&self) -> Vec<(u32, Option<u16>)> {
        self.frames
            .iter()
            .filter(|f| f.kind == HEADERS)
            .map(|f| (f.stream, f.status()))
            .collect()
    }
}

/// Reads frames (acknowledging SETTINGS and PINGs, as a client must) until the server closes
/// the connection, sends GOAWAY and closes, or `wait` passes.
pub async fn read_outcome(stream: &mut TcpStream, wait: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + wait;
    let mut outcome = Outcome::default();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return outcome;
        }
        let Some(frame) = read_frame(stream, left).await else {
            outcome.closed = tokio::time::Instant::now() < deadline;
            return outcome;
        };
        if frame.kind == SETTINGS && frame.flags & ACK == 0 {
            let _ = stream.write_all(&self::frame(SETTINGS, ACK, 0, &[])).await;
        }
        if frame.kind == PING && frame.flags & ACK == 0 {
            let _ = stream
                .write_all(&self::frame(PING, ACK, 0, &frame.payload))
                .await;
        }
        outcome.frames.push(frame);
    }
}
