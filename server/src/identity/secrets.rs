//! Random secrets (tokens, linkage keys, enrolment codes, API keys) and their stored form. A
//! secret is shown once and only its SHA-256 hash is kept; lookups compare hashes, so no
//! timing difference reveals how much of a guess was right.

use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Alphabet of secrets people type: no 0/O, 1/I/L, so a printed letter reads unambiguously.
const TYPEABLE: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A bearer secret with `prefix` and 256 random bits, URL-safe.
pub fn bearer(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A secret for people to type, in groups of five: `ABCDE-FGHJK-MNPQR` (15 characters of a
/// 31-letter alphabet: about 74 bits).
pub fn typeable(groups: usize) -> String {
    let mut rng = rand::rng();
    (0..groups)
        .map(|_| {
            (0..5)
                .map(|_| char::from(TYPEABLE[rng.random_range(0..TYPEABLE.len())]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Normalises a typed secret: upper case, no spaces; dashes kept between groups.
pub fn normalise_typed(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The stored form of a secret: lowercase hex SHA-256.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_carry_at_least_128_random_bits_and_differ() {
        let a = bearer("gpa_");
        let b = bearer("gpa_");
        assert_ne!(a, b);
        assert!(a.starts_with("gpa_"));
        // 32 bytes → 43 base64url characters.
        assert_eq!(a.len(), 4 + 43);
    }

    #[test]
    fn typeable_secrets_avoid_ambiguous_letters() {
        let key = typeable(3);
        assert_eq!(key.len(), 17);
        assert!(!key.contains(['0', 'O', '1', 'I', 'L']));
        assert_eq!(normalise_typed(&key.to_lowercase()), key);
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
