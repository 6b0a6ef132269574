//! A software passkey authenticator for end-to-end tests that, unlike
//! `webauthn-authenticator-rs`' `SoftPasskey`, supports discoverable (resident) credentials:
//! usernameless login, as phones and password managers do it.
//!
//! It speaks the JSON of `webauthn-rs-proto` (what the server sends and accepts): it answers a
//! `CreationChallengeResponse` with a `RegisterPublicKeyCredential` and a
//! `RequestChallengeResponse` with a `PublicKeyCredential`. Credentials are ES256 (COSE -7)
//! P-256 keys with `none` attestation, an all-zero AAGUID and the backup flags (BE/BS) off.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use webauthn_rs_proto::{
    AuthenticationExtensionsClientOutputs, AuthenticatorAssertionResponseRaw,
    AuthenticatorAttestationResponseRaw, AuthenticatorTransport, CreationChallengeResponse,
    CredProps, PublicKeyCredential, RegisterPublicKeyCredential,
    RegistrationExtensionsClientOutputs, RequestChallengeResponse,
};

/// COSE algorithm identifier of ES256 (ECDSA P-256 with SHA-256).
const COSE_ES256: i64 = -7;
/// Authenticator data flag: user present.
const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: user verified.
const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: attested credential data included.
const FLAG_AT: u8 = 0x40;
/// Length of the random credential ids this authenticator makes.
const CREDENTIAL_ID_LEN: usize = 32;

/// One discoverable credential held by the authenticator.
struct StoredCredential {
    /// The credential id (random bytes).
    id: Vec<u8>,
    /// The relying party id it is scoped to.
    rp_id: String,
    /// The user handle (`user.id`) given at registration, returned as `userHandle`.
    user_handle: Vec<u8>,
    /// The credential's private key.
    key: SigningKey,
    /// The signature counter, incremented before each assertion.
    sign_count: u32,
}

/// A software authenticator holding discoverable ES256 credentials, like a phone's passkey store.
pub struct SoftDiscoverablePasskey {
    /// The credentials, in registration order.
    credentials: Vec<StoredCredential>,
    /// Whether the UV flag is set in the authenticator data.
    user_verified: bool,
}

impl std::fmt::Debug for SoftDiscoverablePasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftDiscoverablePasskey")
            .field("credentials", &self.credentials.len())
            .field("user_verified", &self.user_verified)
            .finish()
    }
}

impl SoftDiscoverablePasskey {
    /// `user_verified`: whether assertions/attestations set the UV flag (false lets tests prove UV
    /// is required).
    pub fn new(user_verified: bool) -> Self {
        Self {
            credentials: Vec::new(),
            user_verified,
        }
    }

    /// The number of credentials held (all relying parties).
    pub fn credential_count(&self) -> usize {
        self.credentials.len()
    }

    /// The authenticator's state as JSON, to save it and [`from_json`](Self::from_json) it back
    /// later: `{"user_verified": bool, "credentials": [{"id", "rp_id", "user_handle",
    /// "secret_key", "sign_count"}]}`, the byte strings (the credential id, the user handle and
    /// the key's 32-byte secret scalar) in unpadded base64url. It holds private keys: keep it
    /// secret.
    pub fn to_json(&self) -> serde_json::Value {
        let credentials: Vec<serde_json::Value> = self
            .credentials
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": URL_SAFE_NO_PAD.encode(&c.id),
                    "rp_id": c.rp_id,
                    "user_handle": URL_SAFE_NO_PAD.encode(&c.user_handle),
                    "secret_key": URL_SAFE_NO_PAD.encode(c.key.to_bytes()),
                    "sign_count": c.sign_count,
                })
            })
            .collect();
        serde_json::json!({
            "user_verified": self.user_verified,
            "credentials": credentials,
        })
    }

    /// Restores an authenticator saved with [`to_json`](Self::to_json).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let user_verified = value["user_verified"]
            .as_bool()
            .ok_or("user_verified: expected a boolean")?;
        let entries = value["credentials"]
            .as_array()
            .ok_or("credentials: expected an array")?;
        let mut credentials = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let text = |field: &str| {
                entry[field]
                    .as_str()
                    .ok_or_else(|| format!("credentials[{i}].{field}: expected a string"))
            };
            let bytes = |field: &str| {
                URL_SAFE_NO_PAD
                    .decode(text(field)?)
                    .map_err(|e| format!("credentials[{i}].{field}: {e}"))
            };
            let secret = bytes("secret_key")?;
            if secret.len() != 32 {
                return Err(format!("credentials[{i}].secret_key: expected 32 bytes"));
            }
            let key = SigningKey::from_slice(&secret)
                .map_err(|e| format!("credentials[{i}].secret_key: {e}"))?;
            let sign_count = entry["sign_count"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("credentials[{i}].sign_count: expected a u32"))?;
            credentials.push(StoredCredential {
                id: bytes("id")?,
                rp_id: text("rp_id")?.to_owned(),
                user_handle: bytes("user_handle")?,
                key,
                sign_count,
            });
        }
        Ok(Self {
            credentials,
            user_verified,
        })
    }

    /// Answers a registration ceremony. `options` is the server's `CreationChallengeResponse`
    /// JSON (`{"publicKey": {...}}`). Returns the `RegisterPublicKeyCredential` JSON. Checks that
    /// `origin`'s host equals or is a subdomain of the rp id, like a browser does, returning `Err`
    /// otherwise. Stores the credential with the `user.id` handle (resident key), replacing any
    /// credential this authenticator already holds for the same rp id and user handle.
    pub fn register(
        &mut self,
        origin: &str,
        options: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.register_inner(origin, options, true, false)
    }

    /// Like [`register`](Self::register) but without the origin check (for negative tests).
    pub fn register_unchecked_origin(
        &mut self,
        origin: &str,
        options: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.register_inner(origin, options, false, false)
    }

    /// Answers an authentication ceremony. `options` is the server's `RequestChallengeResponse`
    /// JSON. With an empty/absent `allowCredentials` it picks the first discoverable credential
    /// for the rp id; with `allowCredentials` it uses the first held credential listed there.
    /// `userHandle` is always included (the credentials are resident). Returns the
    /// `PublicKeyCredential` JSON. Increments the signature counter.
    pub fn authenticate(
        &mut self,
        origin: &str,
        options: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.authenticate_inner(origin, options, true)
    }

    /// Like [`authenticate`](Self::authenticate), but signs with `origin` in `clientDataJSON`
    /// without checking it against the rp id (for "wrong origin" negative tests).
    pub fn authenticate_unchecked_origin(
        &mut self,
        origin: &str,
        options: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.authenticate_inner(origin, options, false)
    }

    /// Answers a registration with the key and id of a credential it already holds for the
    /// relying party, as a cloned or malicious authenticator would (negative tests).
    pub fn register_reusing_credential(
        &mut self,
        origin: &str,
        options: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.register_inner(origin, options, true, true)
    }

    fn register_inner(
        &mut self,
        origin: &str,
        options: &serde_json::Value,
        check_origin: bool,
        reuse: bool,
    ) -> Result<serde_json::Value, String> {
        let ccr: CreationChallengeResponse = serde_json::from_value(options.clone())
            .map_err(|e| format!("not a CreationChallengeResponse: {e}"))?;
        let options = ccr.public_key;
        let rp_id = options.rp.id;
        if check_origin {
            check_origin_for_rp_id(origin, &rp_id)?;
        }
        if !options
            .pub_key_cred_params
            .iter()
            .any(|p| p.alg == COSE_ES256 && p.type_ == "public-key")
        {
            return Err("the relying party does not accept ES256 (-7)".to_owned());
        }
        if let Some(excluded) = &options.exclude_credentials {
            let held = excluded.iter().any(|d| {
                self.credentials
                    .iter()
                    .any(|c| c.id == d.id && c.rp_id == rp_id)
            });
            if held {
                return Err("InvalidStateError: a credential in excludeCredentials is held".into());
            }
        }

        let held = self.credentials.iter().find(|c| c.rp_id == rp_id);
        let (key, credential_id) = match (reuse, held) {
            (true, Some(held)) => (held.key.clone(), held.id.clone()),
            (true, None) => return Err("no credential to reuse for this relying party".to_owned()),
            (false, _) => {
                let mut credential_id = vec![0u8; CREDENTIAL_ID_LEN];
                rand::rng().fill_bytes(&mut credential_id);
                (random_signing_key(), credential_id)
            }
        };

        let point = key.verifying_key().to_encoded_point(false);
        let (x, y) = match (point.x(), point.y()) {
            (Some(x), Some(y)) => (x.to_vec(), y.to_vec()),
            _ => return Err("could not encode the public key".to_owned()),
        };
        let cose_key = Cbor::Map(vec![
            (cbor_int(1), cbor_int(2)),          // kty: EC2
            (cbor_int(3), cbor_int(COSE_ES256)), // alg: ES256
            (cbor_int(-1), cbor_int(1)),         // crv: P-256
            (cbor_int(-2), Cbor::Bytes(x)),      // x
            (cbor_int(-3), Cbor::Bytes(y)),      // y
        ]);

        let sign_count = 0u32;
        let mut auth_data = authenticator_data_prefix(&rp_id, self.flags() | FLAG_AT, sign_count);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        let id_len = u16::try_from(credential_id.len()).map_err(|e| e.to_string())?;
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&credential_id);
        auth_data.extend_from_slice(&cbor_bytes(&cose_key)?);

        let attestation_object = cbor_bytes(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(Vec::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]))?;
        let client_data_json = client_data_json("webauthn.create", &options.challenge, origin)?;

        // A browser reports credProps when asked; the authenticator-side extensions
        // (credProtect, uvm) get no outputs, which webauthn-rs records as "ignored".
        let extensions = RegistrationExtensionsClientOutputs {
            cred_props: options
                .extensions
                .as_ref()
                .and_then(|e| e.cred_props)
                .filter(|requested| *requested)
                .map(|_| CredProps { rk: Some(true) }),
            ..Default::default()
        };

        let response = RegisterPublicKeyCredential {
            id: URL_SAFE_NO_PAD.encode(&credential_id),
            raw_id: credential_id.clone(),
            response: AuthenticatorAttestationResponseRaw {
                attestation_object,
                client_data_json,
                transports: Some(vec![AuthenticatorTransport::Internal]),
            },
            type_: "public-key".to_owned(),
            extensions,
        };

        if reuse {
            return serde_json::to_value(&response).map_err(|e| e.to_string());
        }
        let user_handle = options.user.id;
        self.credentials
            .retain(|c| !(c.rp_id == rp_id && c.user_handle == user_handle));
        self.credentials.push(StoredCredential {
            id: credential_id,
            rp_id,
            user_handle,
            key,
            sign_count,
        });
        serde_json::to_value(&response).map_err(|e| e.to_string())
    }

    fn authenticate_inner(
        &mut self,
        origin: &str,
        options: &serde_json::Value,
        check_origin: bool,
    ) -> Result<serde_json::Value, String> {
        let rcr: RequestChallengeResponse = serde_json::from_value(options.clone())
            .map_err(|e| format!("not a RequestChallengeResponse: {e}"))?;
        let options = rcr.public_key;
        let rp_id = options.rp_id;
        if check_origin {
            check_origin_for_rp_id(origin, &rp_id)?;
        }
        let flags = self.flags();
        let allowed = &options.allow_credentials;
        let credential = self
            .credentials
            .iter_mut()
            .filter(|c| c.rp_id == rp_id)
            .find(|c| allowed.is_empty() || allowed.iter().any(|a| a.id == c.id))
            .ok_or_else(|| format!("NotAllowedError: no credential for rp id {rp_id:?}"))?;

        credential.sign_count = credential.sign_count.wrapping_add(1);
        let authenticator_data = authenticator_data_prefix(&rp_id, flags, credential.sign_count);
        let client_data_json = client_data_json("webauthn.get", &options.challenge, origin)?;
        let mut signed = authenticator_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        let signature: Signature = credential.key.sign(&signed);

        let response = PublicKeyCredential {
            id: URL_SAFE_NO_PAD.encode(&credential.id),
            raw_id: credential.id.clone(),
            response: AuthenticatorAssertionResponseRaw {
                authenticator_data,
                client_data_json,
                signature: signature.to_der().as_bytes().to_vec(),
                user_handle: Some(credential.user_handle.clone()),
            },
            extensions: AuthenticationExtensionsClientOutputs::default(),
            type_: "public-key".to_owned(),
        };
        serde_json::to_value(&response).map_err(|e| e.to_string())
    }

    /// The UP flag, plus UV when this authenticator verifies its user.
    fn flags(&self) -> u8 {
        if self.user_verified {
            FLAG_UP | FLAG_UV
        } else {
            FLAG_UP
        }
    }
}

/// Checks, like a browser, that `origin` is a secure context whose host is `rp_id` or one of its
/// subdomains.
fn check_origin_for_rp_id(origin: &str, rp_id: &str) -> Result<(), String> {
    let url = url::Url::parse(origin).map_err(|e| format!("invalid origin {origin:?}: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("origin {origin:?} has no host"))?;
    let secure = url.scheme() == "https" || (url.scheme() == "http" && host == "localhost");
    if !secure {
        return Err(format!(
            "SecurityError: origin {origin:?} is not a secure context"
        ));
    }
    let rp_id = rp_id.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    if host == rp_id || host.ends_with(&format!(".{rp_id}")) {
        Ok(())
    } else {
        Err(format!(
            "SecurityError: rp id {rp_id:?} is not a registrable suffix of origin {origin:?}"
        ))
    }
}

/// `rpIdHash | flags | signCount`, the fixed start of the authenticator data.
fn authenticator_data_prefix(rp_id: &str, flags: u8, sign_count: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend_from_slice(&sign_count.to_be_bytes());
    data
}

/// The `clientDataJSON` bytes a browser would produce, members in a browser's order.
fn client_data_json(type_: &str, challenge: &[u8], origin: &str) -> Result<Vec<u8>, String> {
    let quote = |s: &str| serde_json::to_string(s).map_err(|e| e.to_string());
    Ok(format!(
        r#"{{"type":{},"challenge":{},"origin":{},"crossOrigin":false}}"#,
        quote(type_)?,
        quote(&URL_SAFE_NO_PAD.encode(challenge))?,
        quote(origin)?,
    )
    .into_bytes())
}

/// A fresh P-256 key (from `rand` 0.9 bytes, as `p256` 0.13 wants a `rand_core` 0.6 RNG).
fn random_signing_key() -> SigningKey {
    loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        // Fails only for zero or values ≥ the group order: astronomically rare, so retry.
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

fn cbor_int(i: i64) -> Cbor {
    Cbor::Integer(i.into())
}

fn cbor_bytes(value: &Cbor) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;
    use uuid::Uuid;
    use webauthn_rs::prelude::{Passkey, PasskeyRegistration, WebauthnError};
    use webauthn_rs::{Webauthn, WebauthnBuilder};

    const ORIGIN: &str = "https://localhost";

    fn webauthn() -> Webauthn {
        WebauthnBuilder::new("localhost", &Url::parse(ORIGIN).unwrap())
            .unwrap()
            .rp_name("gp-online tests")
            .build()
            .unwrap()
    }

    fn start_registration(wa: &Webauthn, user: Uuid) -> (serde_json::Value, PasskeyRegistration) {
        let (ccr, state) = wa
            .start_passkey_registration(user, "claire", "Claire", None)
            .unwrap();
        (serde_json::to_value(&ccr).unwrap(), state)
    }

    fn register(wa: &Webauthn, authenticator: &mut SoftDiscoverablePasskey, user: Uuid) -> Passkey {
        let (ccr, state) = start_registration(wa, user);
        let response = authenticator.register(ORIGIN, &ccr).unwrap();
        let response: RegisterPublicKeyCredential = serde_json::from_value(response).unwrap();
        wa.finish_passkey_registration(&response, &state).unwrap()
    }

    #[test]
    fn registers_and_logs_in_without_a_username() {
        let wa = webauthn();
        let user = Uuid::new_v4();
        let mut authenticator = SoftDiscoverablePasskey::new(true);
        let passkey = register(&wa, &mut authenticator, user);
        assert_eq!(authenticator.credential_count(), 1);

        for expected_counter in 1..=2 {
            let (rcr, state) = wa.start_discoverable_authentication().unwrap();
            let rcr = serde_json::to_value(&rcr).unwrap();
            assert!(
                rcr["publicKey"]["allowCredentials"]
                    .as_array()
                    .unwrap()
                    .is_empty()
            );
            let response = authenticator.authenticate(ORIGIN, &rcr).unwrap();
            let response: PublicKeyCredential = serde_json::from_value(response).unwrap();
            let (found_user, cred_id) = wa.identify_discoverable_authentication(&response).unwrap();
            assert_eq!(found_user, user);
            assert_eq!(cred_id, passkey.cred_id().as_slice());
            let result = wa
                .finish_discoverable_authentication_v2(&response, state, &passkey)
                .unwrap();
            assert!(result.user_verified());
            assert_eq!(result.counter(), expected_counter);
        }
    }

    #[test]
    fn logs_in_with_allow_credentials() {
        let wa = webauthn();
        let mut authenticator = SoftDiscoverablePasskey::new(true);
        // Another user's credential first: the allow list must select the right one.
        let _other = register(&wa, &mut authenticator, Uuid::new_v4());
        let user = Uuid::new_v4();
        let passkey = register(&wa, &mut authenticator, user);

        let (rcr, state) = wa
            .start_passkey_authentication(std::slice::from_ref(&passkey))
            .unwrap();
        let rcr = serde_json::to_value(&rcr).unwrap();
        let response = authenticator.authenticate(ORIGIN, &rcr).unwrap();
        let response: PublicKeyCredential = serde_json::from_value(response).unwrap();
        assert_eq!(response.get_user_unique_id(), Some(&user.as_bytes()[..]));
        let result = wa.finish_passkey_authentication(&response, &state).unwrap();
        assert_eq!(result.cred_id(), passkey.cred_id());
        assert_eq!(result.counter(), 1);
    }

    #[test]
    fn registration_without_user_verification_is_rejected() {
        let wa = webauthn();
        let mut authenticator = SoftDiscoverablePasskey::new(false);
        let (ccr, state) = start_registration(&wa, Uuid::new_v4());
        let response = authenticator.register(ORIGIN, &ccr).unwrap();
        let response: RegisterPublicKeyCredential = serde_json::from_value(response).unwrap();
        let error = wa
            .finish_passkey_registration(&response, &state)
            .unwrap_err();
        assert!(matches!(error, WebauthnError::UserNotVerified), "{error:?}");
    }

    #[test]
    fn authentication_without_user_verification_is_rejected() {
        let wa = webauthn();
        let mut verified = SoftDiscoverablePasskey::new(true);
        let passkey = register(&wa, &mut verified, Uuid::new_v4());
        // The same key material, but the user is no longer verified.
        verified.user_verified = false;
        let (rcr, state) = wa.start_discoverable_authentication().unwrap();
        let rcr = serde_json::to_value(&rcr).unwrap();
        let response = verified.authenticate(ORIGIN, &rcr).unwrap();
        let response: PublicKeyCredential = serde_json::from_value(response).unwrap();
        let error = wa
            .finish_discoverable_authentication_v2(&response, state, &passkey)
            .unwrap_err();
        assert!(matches!(error, WebauthnError::UserNotVerified), "{error:?}");
    }

    #[test]
    fn wrong_origin_is_refused_by_the_authenticator_and_rejected_by_the_server() {
        let wa = webauthn();
        let evil = "https://evil.example";
        let mut authenticator = SoftDiscoverablePasskey::new(true);
        let (ccr, state) = start_registration(&wa, Uuid::new_v4());
        assert!(authenticator.register(evil, &ccr).is_err());
        let response = authenticator.register_unchecked_origin(evil, &ccr).unwrap();
        let response: RegisterPublicKeyCredential = serde_json::from_value(response).unwrap();
        let error = wa
            .finish_passkey_registration(&response, &state)
            .unwrap_err();
        assert!(matches!(error, WebauthnError::InvalidRPOrigin), "{error:?}");

        // A fresh authenticator: the unchecked registration above is still held (the server's
        // refusal never reaches the authenticator) and would be picked first.
        let mut authenticator = SoftDiscoverablePasskey::new(true);
        let passkey = register(&wa, &mut authenticator, Uuid::new_v4());
        let (rcr, state) = wa.start_discoverable_authentication().unwrap();
        let rcr = serde_json::to_value(&rcr).unwrap();
        assert!(authenticator.authenticate(evil, &rcr).is_err());
        let response = authenticator
            .authenticate_unchecked_origin(evil, &rcr)
            .unwrap();
        let response: PublicKeyCredential = serde_json::from_value(response).unwrap();
        let error = wa
            .finish_discoverable_authentication_v2(&response, state, &passkey)
            .unwrap_err();
        assert!(matches!(error, WebauthnError::InvalidRPOrigin), "{error:?}");
    }

    #[test]
    fn origin_check_accepts_subdomains_only() {
        assert!(check_origin_for_rp_id("https://localhost", "localhost").is_ok());
        assert!(check_origin_for_rp_id("https://localhost:8443", "localhost").is_ok());
        assert!(check_origin_for_rp_id("http://localhost:3000", "localhost").is_ok());
        assert!(check_origin_for_rp_id("https://app.example.com", "example.com").is_ok());
        assert!(check_origin_for_rp_id("https://badexample.com", "example.com").is_err());
        assert!(check_origin_for_rp_id("http://example.com", "example.com").is_err());
        assert!(check_origin_for_rp_id("https://example.com", "app.example.com").is_err());
    }

    #[test]
    fn re_registering_the_same_user_replaces_the_credential() {
        let wa = webauthn();
        let user = Uuid::new_v4();
        let mut authenticator = SoftDiscoverablePasskey::new(true);
        let _first = register(&wa, &mut authenticator, user);
        let second = register(&wa, &mut authenticator, user);
        assert_eq!(authenticator.credential_count(), 1);

        let (rcr, state) = wa.start_discoverable_authentication().unwrap();
        let rcr = serde_json::to_value(&rcr).unwrap();
        let response = authenticator.authenticate(ORIGIN, &rcr).unwrap();
        let response: PublicKeyCredential = serde_json::from_value(response).unwrap();
        wa.finish_discoverable_authentication_v2(&response, state, &second)
            .unwrap();
    }

    #[test]
    fn saved_and_restored_authenticator_still_signs_in() {
        let wa = webauthn();
        let user = Uuid::new_v4();
        let mut authenticator = SoftDiscoverablePasskey::new(true);
        let passkey = register(&wa, &mut authenticator, user);
        let (rcr, state) = wa.start_discoverable_authentication().unwrap();
        let rcr = serde_json::to_value(&rcr).unwrap();
        let response = authenticator.authenticate(ORIGIN, &rcr).unwrap();
        let response: PublicKeyCredential = serde_json::from_value(response).unwrap();
        wa.finish_discoverable_authentication_v2(&response, state, &passkey)
            .unwrap();

        let saved = authenticator.to_json();
        let mut restored = SoftDiscoverablePasskey::from_json(&saved).unwrap();
        assert_eq!(restored.to_json(), saved);
        assert_eq!(restored.credential_count(), 1);
        let (rcr, state) = wa.start_discoverable_authentication().unwrap();
        let rcr = serde_json::to_value(&rcr).unwrap();
        let response = restored.authenticate(ORIGIN, &rcr).unwrap();
        let response: PublicKeyCredential = serde_json::from_value(response).unwrap();
        assert_eq!(response.get_user_unique_id(), Some(&user.as_bytes()[..]));
        let result = wa
            .finish_discoverable_authentication_v2(&response, state, &passkey)
            .unwrap();
        assert_eq!(result.counter(), 2);

        assert!(SoftDiscoverablePasskey::from_json(&serde_json::json!({})).is_err());
    }

    #[test]
    fn excluded_credentials_are_not_registered_twice() {
        let wa = webauthn();
        let user = Uuid::new_v4();
        let mut authenticator = SoftDiscoverablePasskey::new(true);
        let passkey = register(&wa, &mut authenticator, user);
        let (ccr, _state) = wa
            .start_passkey_registration(
                user,
                "claire",
                "Claire",
                Some(vec![passkey.cred_id().clone()]),
            )
            .unwrap();
        let ccr = serde_json::to_value(&ccr).unwrap();
        assert!(authenticator.register(ORIGIN, &ccr).is_err());
    }
}
