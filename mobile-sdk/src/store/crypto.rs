//! Sealing and opening store files with ChaCha20-Poly1305 (ring's AEAD): a fresh random nonce
//! per write, the file's logical name as associated data (so a file cannot be swapped for
//! another), and the keyring key derived from the host's key material with HKDF-SHA256.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Why a file could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The system's random source failed.
    #[error("random source unavailable")]
    Random,
    /// The file is not what was sealed under this key and name (tampered, torn or the wrong
    /// key).
    #[error("authentication failed")]
    Unauthentic,
}

/// A 256-bit key, zeroed when dropped.
pub struct Key([u8; 32]);

impl Key {
    /// A new random key.
    pub fn random(rng: &SystemRandom) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes).map_err(|_| CryptoError::Random)?;
        Ok(Self(bytes))
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes (to keep it wrapped in the keyring).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The keyring key for the host's key material: HKDF-SHA256 with a fixed salt and info.
    pub fn keyring(host_key: &[u8; 32]) -> Self {
        use ring::hkdf::{HKDF_SHA256, Salt};
        let salt = Salt::new(HKDF_SHA256, b"gp-online-sdk store v1");
        let mut out = [0u8; 32];
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 blocks).
        if let Ok(okm) = salt.extract(host_key).expand(&[b"keyring"], Len32) {
            let _ = okm.fill(&mut out);
        }
        Self(out)
    }

    /// Seals `plaintext` under this key with `name` as associated data: nonce ‖ ciphertext ‖ tag.
    pub fn seal(
        &self,
        rng: &SystemRandom,
        name: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut sealed = nonce.to_vec();
        let mut body = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut body,
            )
            .map_err(|_| CryptoError::Random)?;
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// Opens what [`seal`](Self::seal) made under this key and `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Unauthentic);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Unauthentic)?;
        let mut body = body.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut body)
            .map_err(|_| CryptoError::Unauthentic)?;
        Ok(plain.to_vec())
    }

    fn aead(&self) -> Result<LessSafeKey, CryptoError> {
        // Only a key of the wrong length is refused, and this one is 32 bytes.
        UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::Unauthentic)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // Crypto-shredding: a destroyed key leaves no copy in memory either.
        for byte in self.0.iter_mut() {
            // The black box keeps the compiler from eliding the stores.
            *byte = std::hint::black_box(0);
        }
    }
}

struct Len32;

impl ring::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sealed_file_opens_only_under_its_key_and_name() {
        let rng = SystemRandom::new();
        let key = Key::random(&rng).unwrap();
        let sealed = key.seal(&rng, "doc/a", b"Allergy to penicillin").unwrap();
        assert_eq!(
            key.open("doc/a", &sealed).unwrap(),
            b"Allergy to penicillin"
        );
        assert_eq!(key.open("doc/b", &sealed), Err(CryptoError::Unauthentic));
        let other = Key::random(&rng).unwrap();
        assert_eq!(other.open("doc/a", &sealed), Err(CryptoError::Unauthentic));
        let mut torn = sealed.clone();
        torn.truncate(sealed.len() - 1);
        assert_eq!(key.open("doc/a", &torn), Err(CryptoError::Unauthentic));
        assert!(!sealed.windows(7).any(|w| w == b"Allergy"));
    }

    #[test]
    fn the_keyring_key_depends_on_the_host_key() {
        assert_ne!(
            Key::keyring(&[1; 32]).bytes(),
            Key::keyring(&[2; 32]).bytes()
        );
        assert_eq!(
            Key::keyring(&[1; 32]).bytes(),
            Key::keyring(&[1; 32]).bytes()
        );
    }
}
