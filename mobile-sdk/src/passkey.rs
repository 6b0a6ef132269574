//! Passkeys as WebAuthn JSON: the SDK hands the app the options of a ceremony as
//! `PublicKeyCredentialCreationOptionsJSON` / `PublicKeyCredentialRequestOptionsJSON` (what
//! Android's Credential Manager takes as it is, and what iOS's `ASAuthorization` requests map
//! to one to one) and takes back `RegistrationResponseJSON` / `AuthenticationResponseJSON`.
//! The private key never leaves the platform's authenticator.

use crate::error::{Result, SdkError};
use serde_json::{Map, Value};

/// The WebAuthn options of a ceremony the server started (`{"publicKey": {…}}`).
pub fn options_json(public_key: &Value) -> Result<String> {
    let options = public_key
        .get("publicKey")
        .filter(|o| o.is_object())
        .ok_or_else(|| SdkError::other("the server sent no WebAuthn options"))?;
    serde_json::to_string(options).map_err(SdkError::other)
}

/// An authenticator's answer (`RegistrationResponseJSON` or `AuthenticationResponseJSON`) in
/// the form the server reads: the standard fields, with `clientExtensionResults` as
/// `extensions`; fields the server does not read (`authenticatorAttachment`) are dropped.
pub fn credential(response_json: &str, registration: bool) -> Result<Value> {
    let answer: Value = serde_json::from_str(response_json)
        .map_err(|_| SdkError::other("the passkey answer is not JSON"))?;
    let text = |name: &str| {
        answer[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SdkError::other(format!("the passkey answer has no {name}")))
    };
    let response = answer
        .get("response")
        .and_then(Value::as_object)
        .ok_or_else(|| SdkError::other("the passkey answer has no response"))?;
    let wanted: &[&str] = if registration {
        &["clientDataJSON", "attestationObject", "transports"]
    } else {
        &[
            "clientDataJSON",
            "authenticatorData",
            "signature",
            "userHandle",
        ]
    };
    let mut inner = Map::new();
    for name in wanted {
        if let Some(value) = response.get(*name).filter(|v| !v.is_null()) {
            inner.insert((*name).to_owned(), value.clone());
        }
    }
    let extensions = answer
        .get("clientExtensionResults")
        .or_else(|| answer.get("extensions"))
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    Ok(serde_json::json!({
        "id": text("id")?,
        "rawId": text("rawId")?,
        "type": text("type")?,
        "response": inner,
        "extensions": extensions,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_authentication_response_becomes_the_servers_form() {
        let answer = r#"{"id":"abc","rawId":"abc","type":"public-key","authenticatorAttachment":"platform",
            "response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA","userHandle":"dQ"},
            "clientExtensionResults":{}}"#;
        let credential = credential(answer, false).unwrap();
        assert_eq!(credential["response"]["userHandle"], "dQ");
        assert!(credential.get("authenticatorAttachment").is_none());
        assert_eq!(credential["extensions"], serde_json::json!({}));
        assert!(options_json(&serde_json::json!({"nope": 1})).is_err());
    }
}
