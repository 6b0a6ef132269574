//! A development-only software passkey for `gp-patient`: discoverable ES256 credentials with
//! `none` attestation, answering the SDK's WebAuthn JSON (`PublicKeyCredentialCreationOptionsJSON`
//! / `…RequestOptionsJSON`) with `RegistrationResponseJSON` / `AuthenticationResponseJSON`, as
//! a phone's platform authenticator does. Its private keys are kept sealed under the CLI's host
//! key in the store folder. Never use it for a real account.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// User present, user verified, attested credential data.
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;

/// One credential.
#[derive(Serialize, Deserialize)]
struct Credential {
    id: String,
    rp_id: String,
    user_handle: String,
    secret_key: String,
    sign_count: u32,
}

/// The authenticator's credentials.
#[derive(Default, Serialize, Deserialize)]
pub struct SoftPasskey {
    credentials: Vec<Credential>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn text<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("the options have no {what}"))
}

fn cbor(value: &Cbor) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn int(n: i64) -> Cbor {
    Cbor::Integer(n.into())
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
        .to_string()
        .into_bytes()
}

fn auth_data(rp_id: &str, flags: u8, sign_count: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend_from_slice(&sign_count.to_be_bytes());
    data
}

impl SoftPasskey {
    /// Creates a credential for the registration `options` (the standard JSON).
    pub fn register(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let rp_id = text(&options["rp"]["id"], "rp.id")?.to_owned();
        let user_handle = text(&options["user"]["id"], "user.id")?.to_owned();
        let challenge = text(&options["challenge"], "challenge")?;
        let rng = SystemRandom::new();
        let mut credential_id = [0u8; 32];
        rng.fill(&mut credential_id).map_err(|_| "random")?;
        let key = loop {
            let mut secret = [0u8; 32];
            rng.fill(&mut secret).map_err(|_| "random")?;
            if let Ok(key) = SigningKey::from_slice(&secret) {
                break key;
            }
        };
        let point = key.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err("could not encode the public key".to_owned());
        };
        let cose_key = Cbor::Map(vec![
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), Cbor::Bytes(x.to_vec())),
            (int(-3), Cbor::Bytes(y.to_vec())),
        ]);
        let mut data = auth_data(&rp_id, FLAG_UP | FLAG_UV | FLAG_AT, 0);
        data.extend_from_slice(&[0u8; 16]);
        data.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
        data.extend_from_slice(&credential_id);
        data.extend_from_slice(&cbor(&cose_key)?);
        let attestation = cbor(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(Vec::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(data)),
        ]))?;
        let cred_props = options["extensions"]["credProps"] == true;
        self.credentials
            .retain(|c| !(c.rp_id == rp_id && c.user_handle == user_handle));
        self.credentials.push(Credential {
            id: b64(&credential_id),
            rp_id,
            user_handle,
            secret_key: b64(&key.to_bytes()),
            sign_count: 0,
        });
        let mut extensions = json!({});
        if cred_props {
            extensions = json!({"credProps": {"rk": true}});
        }
        Ok(json!({
            "id": b64(&credential_id),
            "rawId": b64(&credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data("webauthn.create", challenge, origin)),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": extensions,
        }))
    }

    /// Signs the sign-in `options` (the standard JSON) with a credential of its relying party.
    pub fn authenticate(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let rp_id = text(&options["rpId"], "rpId")?;
        let challenge = text(&options["challenge"], "challenge")?;
        let credential = self
            .credentials
            .iter_mut()
            .find(|c| c.rp_id == rp_id)
            .ok_or_else(|| format!("no passkey for {rp_id}: register first"))?;
        credential.sign_count = credential.sign_count.wrapping_add(1);
        let secret = URL_SAFE_NO_PAD
            .decode(&credential.secret_key)
            .map_err(|e| e.to_string())?;
        let key = SigningKey::from_slice(&secret).map_err(|e| e.to_string())?;
        let data = auth_data(rp_id, FLAG_UP | FLAG_UV, credential.sign_count);
        let client = client_data("webauthn.get", challenge, origin);
        let mut signed = data.clone();
        signed.extend_from_slice(&Sha256::digest(&client));
        let signature: Signature = key.sign(&signed);
        Ok(json!({
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client),
                "authenticatorData": b64(&data),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": credential.user_handle,
            },
            "clientExtensionResults": {},
        }))
    }
}
