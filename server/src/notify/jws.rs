//! The compact JSON Web Signatures the native providers need, signed with ring: ES256 for the
//! APNs provider token, RS256 for the FCM service account's OAuth assertion. Keys are read from
//! PEM (PKCS#8), bounded before decoding.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};

/// The largest PEM key file read.
const MAX_PEM_BYTES: usize = 16 * 1024;

/// The DER body of a PEM `PRIVATE KEY` block.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    if pem.len() > MAX_PEM_BYTES {
        return Err("the key file is larger than 16 KiB".to_owned());
    }
    let begin = pem
        .find("-----BEGIN PRIVATE KEY-----")
        .ok_or("no PKCS#8 PRIVATE KEY block")?;
    let body = &pem[begin + "-----BEGIN PRIVATE KEY-----".len()..];
    let end = body
        .find("-----END PRIVATE KEY-----")
        .ok_or("the PRIVATE KEY block does not end")?;
    let text: String = body[..end].split_whitespace().collect();
    STANDARD
        .decode(text)
        .map_err(|_| "the PRIVATE KEY block is not base64".to_owned())
}

fn signing_input(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An ES256 signer (P-256, SHA-256; the signature is r‖s as JWS wants it).
pub struct Es256(EcdsaKeyPair);

impl Es256 {
    /// From a PKCS#8 PEM key (an APNs `.p8` file).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = pem_to_der(pem)?;
        EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &SystemRandom::new(),
        )
        .map(Self)
        .map_err(|_| "not a P-256 PKCS#8 key".to_owned())
    }

    /// `header.claims.signature`.
    pub fn sign(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> Result<String, String> {
        let input = signing_input(header, claims);
        let signature = self
            .0
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| "ES256 signing failed".to_owned())?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// An RS256 signer (RSASSA-PKCS1-v1_5 with SHA-256).
pub struct Rs256(RsaKeyPair);

impl Rs256 {
    /// From a PKCS#8 PEM RSA key (a service account's `private_key`).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = pem_to_der(pem)?;
        RsaKeyPair::from_pkcs8(&der)
            .map(Self)
            .map_err(|_| "not an RSA PKCS#8 key".to_owned())
    }

    /// `header.claims.signature`.
    pub fn sign(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> Result<String, String> {
        let input = signing_input(header, claims);
        let mut signature = vec![0u8; self.0.public().modulus_len()];
        self.0
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "RS256 signing failed".to_owned())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}
