"""A development-only software passkey for the binding tests: discoverable ES256 credentials
with `none` attestation, answering WebAuthn JSON options with RegistrationResponseJSON /
AuthenticationResponseJSON as a phone's platform authenticator does."""

import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _cbor(value) -> bytes:
    """The little CBOR an attestation needs: ints, text, bytes and maps."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        if n < 65536:
            return bytes([major << 5 | 25]) + struct.pack(">H", n)
        return bytes([major << 5 | 26]) + struct.pack(">I", n)

    if isinstance(value, bool):
        raise TypeError("no booleans here")
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return head(3, len(raw)) + raw
    if isinstance(value, dict):
        out = head(5, len(value))
        for key, item in value.items():
            out += _cbor(key) + _cbor(item)
        return out
    raise TypeError(type(value))


class SoftPasskey:
    """Holds credentials in memory."""

    def __init__(self):
        self.credentials = []

    def register(self, origin: str, options_json: str) -> str:
        options = json.loads(options_json)
        rp_id = options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        credential_id = os.urandom(32)
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        auth = hashlib.sha256(rp_id.encode()).digest() + bytes([0x45]) + struct.pack(">I", 0)
        auth += bytes(16) + struct.pack(">H", len(credential_id)) + credential_id + _cbor(cose)
        attestation = _cbor({"fmt": "none", "attStmt": {}, "authData": auth})
        client = json.dumps({"type": "webauthn.create", "challenge": options["challenge"],
                             "origin": origin, "crossOrigin": False}).encode()
        self.credentials.append({"id": credential_id, "rp_id": rp_id, "key": key, "count": 0,
                                 "user": options["user"]["id"]})
        return json.dumps({
            "id": b64(credential_id), "rawId": b64(credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client), "attestationObject": b64(attestation),
                         "transports": ["internal"]},
            "clientExtensionResults": {"credProps": {"rk": True}},
        })

    def authenticate(self, origin: str, options_json: str) -> str:
        options = json.loads(options_json)
        credential = next(c for c in self.credentials if c["rp_id"] == options["rpId"])
        credential["count"] += 1
        auth = hashlib.sha256(options["rpId"].encode()).digest() + bytes([0x05])
        auth += struct.pack(">I", credential["count"])
        client = json.dumps({"type": "webauthn.get", "challenge": options["challenge"],
                             "origin": origin, "crossOrigin": False}).encode()
        signature = credential["key"].sign(auth + hashlib.sha256(client).digest(),
                                           ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64(credential["id"]), "rawId": b64(credential["id"]), "type": "public-key",
            "response": {"clientDataJSON": b64(client), "authenticatorData": b64(auth),
                         "signature": b64(signature), "userHandle": credential["user"]},
            "clientExtensionResults": {},
        })
