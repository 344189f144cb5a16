//! Secrets at rest under the operator's key-encryption key (`LATCHKEY_KEY_ENCRYPTION_KEY`):
//! AES-256-GCM with a random 96-bit nonce and a label bound as associated data, so a sealed
//! value cannot be moved to another owner (a signing key's id, a user's TOTP secret).
//! Stored as `aead:v1:<base64(nonce || ciphertext || tag)>`.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use crate::error::{CoreError, CoreResult};

/// A key-encryption key (32 bytes, from the environment). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyEncryptionKey(pub [u8; 32]);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(***)")
    }
}

impl KeyEncryptionKey {
    /// From base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
    pub fn parse(raw: &str) -> Result<Self, String> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let raw = raw.trim();
        let bytes = STANDARD
            .decode(raw)
            .or_else(|_| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')))
            .map_err(|_| "the key-encryption key must be base64".to_owned())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            "the key-encryption key must be 32 bytes (e.g. `openssl rand -base64 32`)".to_owned()
        })?;
        Ok(KeyEncryptionKey(key))
    }
}

/// The prefix of a sealed value.
pub const SEALED_PREFIX: &str = "aead:v1:";

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not base64, or too short to hold a nonce and a tag.
    Damaged,
    /// Another key, or another label.
    WrongKey,
}

pub struct Sealer(LessSafeKey);

impl Sealer {
    pub fn new(kek: &KeyEncryptionKey) -> CoreResult<Self> {
        let key = UnboundKey::new(&AES_256_GCM, &kek.0)
            .map_err(|_| CoreError::internal(anyhow::anyhow!("bad key-encryption key")))?;
        Ok(Sealer(LessSafeKey::new(key)))
    }

    /// `plain` sealed under `label`, with the prefix.
    pub fn seal(&self, label: &str, plain: &[u8]) -> CoreResult<String> {
        use ring::rand::SecureRandom;
        let mut nonce = [0u8; 12];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CoreError::internal(anyhow::anyhow!("no randomness")))?;
        let mut buf = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CoreError::internal(anyhow::anyhow!("sealing failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// Opens what follows the prefix.
    pub fn open(&self, label: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| OpenError::Damaged)?;
        if bytes.len() < 12 + 16 {
            return Err(OpenError::Damaged);
        }
        let (nonce, rest) = bytes.split_at(12);
        let mut buf = rest.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Damaged)?;
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut buf)
            .map_err(|_| OpenError::WrongKey)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_label() {
        let s = Sealer::new(&KeyEncryptionKey([3; 32])).unwrap();
        let sealed = s.seal("totp:7", b"secret").unwrap();
        let body = sealed.strip_prefix(SEALED_PREFIX).unwrap();
        assert_eq!(s.open("totp:7", body).unwrap(), b"secret");
        assert_eq!(s.open("totp:8", body), Err(OpenError::WrongKey));
        let other = Sealer::new(&KeyEncryptionKey([4; 32])).unwrap();
        assert_eq!(other.open("totp:7", body), Err(OpenError::WrongKey));
        assert_eq!(s.open("totp:7", "!!"), Err(OpenError::Damaged));
    }
}
