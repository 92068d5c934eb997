//! Seals and opens cookie values: AES-256-GCM, a fresh random 96-bit nonce per seal, an expiry
//! inside the authenticated envelope, and associated data that binds the cookie name, the purpose
//! (session or login), the format version and the key id (checklist S2, K3).
//!
//! Keys form a ring: the first key seals, every key opens, so keys rotate without logging anyone
//! out. Each purpose uses its own key derived by HKDF-SHA256, so a login cookie can never be
//! opened as a session. The clock is an argument; this module does no I/O and never logs.
//!
//! Envelope (then base64url without padding):
//! `version (1) | key id (4) | expires_at unix seconds (8, big-endian) | nonce (12) | ciphertext+tag`

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Longest cookie value `open` will even decode (all chunks together); bigger is refused unread.
pub const MAX_SEALED_LEN: usize = 64 * 1024;

/// What a sealed value is for; each purpose has its own derived key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    Login,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Session => b"session",
            Self::Login => b"login",
        }
    }
}

/// A 32-byte master key. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the base64 (standard or url-safe, padded or not) text of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KeyError::NotBase64)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| KeyError::WrongLength(b.len()))?;
        if bytes.iter().all(|b| *b == bytes[0]) {
            return Err(KeyError::Placeholder);
        }
        Ok(Self(bytes))
    }

    /// A new random key, base64 encoded (for `bff-gateway keygen`).
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A stable, non-secret identifier: the first 4 bytes of a domain-separated SHA-256.
    fn id(&self) -> [u8; 4] {
        let digest = Sha256::new()
            .chain_update(b"bff-gateway key id v1")
            .chain_update(self.0)
            .finalize();
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("is not base64; generate a key with `bff-gateway keygen`")]
    NotBase64,
    #[error(
        "decodes to {0} bytes, but a key must be exactly 32 random bytes; generate one with `bff-gateway keygen`"
    )]
    WrongLength(usize),
    #[error(
        "looks like a placeholder (one repeated byte); generate a key with `bff-gateway keygen`"
    )]
    Placeholder,
}

/// Why a cookie value did not open. Callers treat every case as "no session" (checklist S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OpenError {
    #[error("the value is too large")]
    TooLarge,
    #[error("the value is not base64url")]
    Encoding,
    #[error("the value is too short or has an unknown format version")]
    Format,
    #[error("the value was sealed with a key that is not in the key ring")]
    UnknownKey,
    #[error("the value has expired")]
    Expired,
    #[error("the value does not authenticate (tampered, wrong name or purpose)")]
    Tampered,
}

struct RingKey {
    id: [u8; 4],
    cipher: Aes256Gcm,
}

/// Seals and opens values for one purpose with a key ring.
pub struct SessionCodec {
    purpose: Purpose,
    keys: Vec<RingKey>,
}

impl fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCodec")
            .field("purpose", &self.purpose)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl SessionCodec {
    /// `keys[0]` seals; all open. Returns `None` for an empty ring. `app` names the gateway
    /// instance (its public URL and client id): it goes into the key derivation, so two
    /// gateways sharing keys still cannot open each other's cookies (checklist S8).
    pub fn new(purpose: Purpose, keys: &[MasterKey], app: &str) -> Option<Self> {
        if keys.is_empty() {
            return None;
        }
        let keys = keys
            .iter()
            .map(|master| {
                let mut derived = [0u8; 32];
                // HKDF-SHA256 with a 32-byte output never fails (limit is 255 × 32 bytes).
                let _ = Hkdf::<Sha256>::new(Some(b"bff-gateway cookie v1"), &master.0)
                    .expand_multi_info(&[purpose.label(), b"\0", app.as_bytes()], &mut derived);
                RingKey {
                    id: master.id(),
                    cipher: Aes256Gcm::new(&derived.into()),
                }
            })
            .collect();
        Some(Self { purpose, keys })
    }

    /// Seals `plaintext` for the cookie `name`, valid until `expires_at` (unix seconds).
    pub fn seal(&self, name: &str, plaintext: &[u8], expires_at: u64) -> String {
        let key = &self.keys[0];
        let mut header = [0u8; HEADER_LEN];
        header[0] = VERSION;
        header[1..5].copy_from_slice(&key.id);
        header[5..13].copy_from_slice(&expires_at.to_be_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = self.aad(name, &header);
        // Encryption only fails for plaintexts beyond GCM's 64 GiB limit.
        let ciphertext = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut blob = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&header);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(blob)
    }

    /// Opens a value sealed for the cookie `name`; `now` is unix seconds.
    pub fn open(&self, name: &str, value: &str, now: u64) -> Result<Vec<u8>, OpenError> {
        if value.len() > MAX_SEALED_LEN {
            return Err(OpenError::TooLarge);
        }
        let blob = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| OpenError::Encoding)?;
        if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || blob[0] != VERSION {
            return Err(OpenError::Format);
        }
        let (header, rest) = blob.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let key = self
            .keys
            .iter()
            .find(|k| k.id == header[1..5])
            .ok_or(OpenError::UnknownKey)?;
        let aad = self.aad(name, header);
        let plaintext = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Tampered)?;
        // Checked after authentication, so a forged expiry cannot even reach this comparison.
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&header[5..13]);
        if u64::from_be_bytes(expires) <= now {
            return Err(OpenError::Expired);
        }
        Ok(plaintext)
    }

    fn aad(&self, name: &str, header: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(32 + name.len() + header.len());
        aad.extend_from_slice(b"bff-gateway\0");
        aad.extend_from_slice(self.purpose.label());
        aad.push(0);
        aad.extend_from_slice(name.as_bytes());
        aad.push(0);
        aad.extend_from_slice(header);
        aad
    }
}

#[cfg(test)]
mod app_binding_tests {
    use super::*;

    // checklist S8: the same keys in another gateway (other public URL or client) open nothing.
    #[test]
    fn cookies_are_bound_to_the_gateway_instance() {
        let keys = [MasterKey::new([7; 32])];
        let ours = SessionCodec::new(Purpose::Session, &keys, "https://a.example app").unwrap();
        let theirs = SessionCodec::new(Purpose::Session, &keys, "https://b.example app").unwrap();
        let sealed = ours.seal("__Host-bff", b"{}", u64::MAX);
        assert!(ours.open("__Host-bff", &sealed, 0).is_ok());
        assert!(theirs.open("__Host-bff", &sealed, 0).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key(n: u8) -> MasterKey {
        let mut bytes = [n; 32];
        bytes[0] = n.wrapping_add(1);
        MasterKey::new(bytes)
    }

    fn codec(keys: &[MasterKey]) -> SessionCodec {
        SessionCodec::new(Purpose::Session, keys, "https://app.example app").unwrap()
    }

    #[test]
    fn sealed_value_opens_with_the_same_key() {
        let c = codec(&[key(1)]);
        let sealed = c.seal("bff", b"payload", NOW + 60);
        assert_eq!(c.open("bff", &sealed, NOW).unwrap(), b"payload");
    }

    // checklist S2: fresh nonce per seal.
    #[test]
    fn sealing_twice_gives_different_values() {
        let c = codec(&[key(1)]);
        assert_ne!(c.seal("bff", b"x", NOW + 60), c.seal("bff", b"x", NOW + 60));
    }

    #[test]
    fn value_does_not_contain_the_plaintext() {
        let c = codec(&[key(1)]);
        let sealed = c.seal("bff", b"secret-token-value", NOW + 60);
        let blob = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        assert!(!blob.windows(6).any(|w| w == b"secret"));
    }

    // checklist S3: tampering anywhere is detected.
    #[test]
    fn tampered_bytes_anywhere_are_rejected() {
        let c = codec(&[key(1)]);
        let sealed = c.seal("bff", b"payload", NOW + 60);
        let blob = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            let result = c.open("bff", &URL_SAFE_NO_PAD.encode(&bad), NOW);
            assert!(result.is_err(), "byte {i} flipped but the value opened");
        }
    }

    #[test]
    fn tampered_nonce_is_rejected() {
        let c = codec(&[key(1)]);
        let mut blob = URL_SAFE_NO_PAD
            .decode(c.seal("bff", b"p", NOW + 60))
            .unwrap();
        blob[HEADER_LEN] ^= 0x80;
        let result = c.open("bff", &URL_SAFE_NO_PAD.encode(&blob), NOW);
        assert_eq!(result, Err(OpenError::Tampered));
    }

    #[test]
    fn forged_later_expiry_is_rejected() {
        let c = codec(&[key(1)]);
        let mut blob = URL_SAFE_NO_PAD
            .decode(c.seal("bff", b"p", NOW + 60))
            .unwrap();
        blob[5..13].copy_from_slice(&(NOW + 1_000_000).to_be_bytes());
        let result = c.open("bff", &URL_SAFE_NO_PAD.encode(&blob), NOW);
        assert_eq!(result, Err(OpenError::Tampered));
    }

    #[test]
    fn truncated_value_is_rejected() {
        let c = codec(&[key(1)]);
        let sealed = c.seal("bff", b"payload", NOW + 60);
        for len in [0, 5, 20, sealed.len() - 1] {
            assert!(c.open("bff", &sealed[..len], NOW).is_err(), "length {len}");
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let sealed = codec(&[key(1)]).seal("bff", b"p", NOW + 60);
        assert_eq!(
            codec(&[key(2)]).open("bff", &sealed, NOW),
            Err(OpenError::UnknownKey)
        );
    }

    // checklist S2: the AAD binds the cookie name.
    #[test]
    fn value_moved_to_another_cookie_name_is_rejected() {
        let c = codec(&[key(1)]);
        let sealed = c.seal("bff", b"p", NOW + 60);
        assert_eq!(c.open("other", &sealed, NOW), Err(OpenError::Tampered));
    }

    #[test]
    fn login_value_never_opens_as_a_session() {
        let login =
            SessionCodec::new(Purpose::Login, &[key(1)], "https://app.example app").unwrap();
        let session = codec(&[key(1)]);
        let sealed = login.seal("bff", b"p", NOW + 60);
        assert_eq!(session.open("bff", &sealed, NOW), Err(OpenError::Tampered));
    }

    #[test]
    fn expired_value_is_rejected() {
        let c = codec(&[key(1)]);
        let sealed = c.seal("bff", b"p", NOW + 60);
        assert!(c.open("bff", &sealed, NOW + 59).is_ok());
        assert_eq!(c.open("bff", &sealed, NOW + 60), Err(OpenError::Expired));
    }

    // checklist K3: rotation keeps old cookies valid; new ones use the new key.
    #[test]
    fn rotated_ring_opens_old_values_and_seals_with_the_new_key() {
        let old = codec(&[key(1)]);
        let sealed_old = old.seal("bff", b"p", NOW + 60);
        let rotated = codec(&[key(2), key(1)]);
        assert_eq!(rotated.open("bff", &sealed_old, NOW).unwrap(), b"p");
        let sealed_new = rotated.seal("bff", b"p", NOW + 60);
        assert_eq!(
            old.open("bff", &sealed_new, NOW),
            Err(OpenError::UnknownKey)
        );
    }

    #[test]
    fn unknown_version_is_rejected() {
        let c = codec(&[key(1)]);
        let mut blob = URL_SAFE_NO_PAD
            .decode(c.seal("bff", b"p", NOW + 60))
            .unwrap();
        blob[0] = 2;
        let result = c.open("bff", &URL_SAFE_NO_PAD.encode(&blob), NOW);
        assert_eq!(result, Err(OpenError::Format));
    }

    #[test]
    fn oversized_and_non_base64_values_are_rejected_without_panicking() {
        let c = codec(&[key(1)]);
        assert_eq!(
            c.open("bff", &"A".repeat(MAX_SEALED_LEN + 1), NOW),
            Err(OpenError::TooLarge)
        );
        assert_eq!(c.open("bff", "not base64!", NOW), Err(OpenError::Encoding));
        assert_eq!(c.open("bff", "é", NOW), Err(OpenError::Encoding));
    }

    // checklist K3: keys are 32 random bytes.
    #[test]
    fn keys_must_be_32_random_bytes_in_base64() {
        assert_eq!(
            MasterKey::from_base64("not base64!").unwrap_err(),
            KeyError::NotBase64
        );
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert_eq!(
            MasterKey::from_base64(&short).unwrap_err(),
            KeyError::WrongLength(16)
        );
        let zeros = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        assert_eq!(
            MasterKey::from_base64(&zeros).unwrap_err(),
            KeyError::Placeholder
        );
        let generated = MasterKey::generate_base64();
        assert!(MasterKey::from_base64(&generated).is_ok());
        assert_ne!(generated, MasterKey::generate_base64());
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let k = key(1);
        assert_eq!(format!("{k:?}"), "MasterKey(<redacted>)");
        assert!(!format!("{:?}", codec(&[k])).contains('['));
    }
}

/// Properties over arbitrary payloads, names and key rings (checklist S2, S3, K3).
#[cfg(test)]
pub(super) mod properties {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const NOW: u64 = 1_800_000_000;
    const APP: &str = "https://app.example app";

    fn ring(keys: &[[u8; 32]]) -> Vec<MasterKey> {
        keys.iter().copied().map(MasterKey::new).collect()
    }

    fn codec(keys: &[MasterKey]) -> SessionCodec {
        SessionCodec::new(Purpose::Session, keys, APP).unwrap()
    }

    /// 1 to 4 distinct keys (a repeated key would only be the same ring entry twice).
    fn keys() -> impl Strategy<Value = Vec<[u8; 32]>> {
        vec(any::<[u8; 32]>(), 1..=4).prop_filter("distinct keys", |keys| {
            keys.iter()
                .enumerate()
                .all(|(i, k)| keys[..i].iter().all(|other| other != k))
        })
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![vec(any::<u8>(), 0..64), vec(any::<u8>(), 0..16 * 1024)]
    }

    /// A cookie name of 1 to 39 letters, digits, `-` and `_` (also the chunking properties'
    /// names, in `cookies`).
    pub(crate) fn cookie_name() -> impl Strategy<Value = String> {
        vec(
            prop_oneof![
                b'a'..=b'z',
                b'A'..=b'Z',
                b'0'..=b'9',
                Just(b'-'),
                Just(b'_')
            ],
            1..40,
        )
        .prop_map(|bytes| String::from_utf8(bytes).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        // checklist S2, K3: whatever the size, a value opens to its payload with its own ring,
        // with the sealing key anywhere in a ring, and after a rotation put a new key first.
        #[test]
        fn seal_then_open_round_trips_across_sizes_and_key_rings(
            keys in keys(),
            fresh in any::<[u8; 32]>(),
            payload in payload(),
            name in cookie_name(),
            lifetime in 1..=u32::MAX as u64,
        ) {
            let keys = ring(&keys);
            let sealer = codec(&keys);
            let sealed = sealer.seal(&name, &payload, NOW + lifetime);
            prop_assert_eq!(sealer.open(&name, &sealed, NOW), Ok(payload.clone()));
            prop_assert!(sealed.len() <= MAX_SEALED_LEN);
            // The first key seals; any ring that still holds it opens, in any position.
            let mut reversed = keys.clone();
            reversed.reverse();
            prop_assert_eq!(codec(&reversed).open(&name, &sealed, NOW), Ok(payload.clone()));
            // Rotation: a new first key, the old ones kept. The old value still opens; the
            // new key seals, and the old ring cannot open that.
            prop_assume!(keys.iter().all(|k| k.0 != fresh));
            let mut rotated = vec![MasterKey::new(fresh)];
            rotated.extend(keys.iter().cloned());
            let rotated = codec(&rotated);
            prop_assert_eq!(rotated.open(&name, &sealed, NOW), Ok(payload.clone()));
            let resealed = rotated.seal(&name, &payload, NOW + lifetime);
            prop_assert_eq!(rotated.open(&name, &resealed, NOW), Ok(payload.clone()));
            prop_assert_eq!(sealer.open(&name, &resealed, NOW), Err(OpenError::UnknownKey));
            // Dropping the sealing key from the ring ends the value.
            if keys.len() > 1 {
                let without = codec(&keys[1..]);
                prop_assert_eq!(without.open(&name, &sealed, NOW), Err(OpenError::UnknownKey));
            }
            prop_assert_eq!(sealer.open(&name, &sealed, NOW + lifetime), Err(OpenError::Expired));
        }

        // checklist S2, S3: flipping any bits of any byte of the sealed blob fails to open.
        #[test]
        fn tampering_with_any_byte_fails_to_open(
            keys in keys(),
            payload in payload(),
            index in any::<prop::sample::Index>(),
            mask in 1..=u8::MAX,
        ) {
            let keys = ring(&keys);
            let c = codec(&keys);
            let sealed = c.seal("__Host-bff", &payload, NOW + 60);
            let mut blob = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
            let at = index.index(blob.len());
            blob[at] ^= mask;
            let tampered = URL_SAFE_NO_PAD.encode(&blob);
            let opened = c.open("__Host-bff", &tampered, NOW);
            prop_assert!(opened.is_err(), "byte {} ^ {:#04x} opened", at, mask);
        }

        // checklist S3: changing any one character of the cookie text fails to open (a
        // different base64url character either decodes to other bytes or is not canonical).
        #[test]
        fn changing_any_character_of_the_value_fails_to_open(
            payload in payload(),
            index in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let c = codec(&ring(&[[3; 32]]));
            let sealed = c.seal("__Host-bff", &payload, NOW + 60);
            let at = index.index(sealed.len());
            prop_assume!(sealed.as_bytes()[at] as char != replacement);
            let mut tampered = sealed[..at].to_owned();
            tampered.push(replacement);
            tampered.push_str(&sealed[at + 1..]);
            prop_assert!(c.open("__Host-bff", &tampered, NOW).is_err());
        }

        // checklist S2: the AAD binds the name and the purpose; a value opens under no other.
        #[test]
        fn a_value_opens_under_its_own_name_and_purpose_only(
            keys in keys(),
            payload in payload(),
            name in cookie_name(),
            other in cookie_name(),
        ) {
            prop_assume!(name != other);
            let keys = ring(&keys);
            let session = codec(&keys);
            let login = SessionCodec::new(Purpose::Login, &keys, APP).unwrap();
            let sealed = session.seal(&name, &payload, NOW + 60);
            prop_assert_eq!(session.open(&other, &sealed, NOW), Err(OpenError::Tampered));
            prop_assert_eq!(login.open(&name, &sealed, NOW), Err(OpenError::Tampered));
        }
    }
}
