// Passkey ceremonies in the browser: the server's WebAuthn options (webauthn-rs JSON, byte
// strings in base64url) to `navigator.credentials`, and the authenticator's answer back to the
// JSON the server reads. Nothing here keeps a secret.

function bytes(text) {
  const base64 = text.replaceAll('-', '+').replaceAll('_', '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function text(buffer) {
  if (!buffer) return undefined;
  let binary = '';
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Creates a passkey from a ceremony's options; returns the answer for `…/finish`. */
export async function createPasskey(options) {
  const publicKey = { ...options.publicKey };
  publicKey.challenge = bytes(publicKey.challenge);
  publicKey.user = { ...publicKey.user, id: bytes(publicKey.user.id) };
  publicKey.excludeCredentials = (publicKey.excludeCredentials || [])
    .map((c) => ({ ...c, id: bytes(c.id) }));
  const credential = await navigator.credentials.create({ publicKey });
  return {
    id: credential.id,
    rawId: text(credential.rawId),
    type: credential.type,
    extensions: {},
    response: {
      attestationObject: text(credential.response.attestationObject),
      clientDataJSON: text(credential.response.clientDataJSON),
    },
  };
}

/** Signs in with a passkey from a ceremony's options; returns the answer for `…/finish`. */
export async function usePasskey(options) {
  const publicKey = { ...options.publicKey };
  publicKey.challenge = bytes(publicKey.challenge);
  publicKey.allowCredentials = (publicKey.allowCredentials || [])
    .map((c) => ({ ...c, id: bytes(c.id) }));
  const credential = await navigator.credentials.get({ publicKey, mediation: options.mediation });
  return {
    id: credential.id,
    rawId: text(credential.rawId),
    type: credential.type,
    extensions: {},
    response: {
      authenticatorData: text(credential.response.authenticatorData),
      clientDataJSON: text(credential.response.clientDataJSON),
      signature: text(credential.response.signature),
      userHandle: text(credential.response.userHandle),
    },
  };
}
