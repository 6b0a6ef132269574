// A development-only software passkey for the Kotlin binding tests: discoverable ES256
// credentials with `none` attestation, answering WebAuthn JSON options with
// RegistrationResponseJSON as a phone's platform authenticator (Credential Manager) does.

package gponline.sdktest

import java.io.ByteArrayOutputStream
import java.math.BigInteger
import java.security.KeyPairGenerator
import java.security.MessageDigest
import java.security.SecureRandom
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.Base64

fun b64(bytes: ByteArray): String = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes)

private fun sha256(bytes: ByteArray): ByteArray = MessageDigest.getInstance("SHA-256").digest(bytes)

/** The little CBOR an attestation needs: integers, text, bytes and maps. */
private fun cbor(value: Any, out: ByteArrayOutputStream) {
    fun head(major: Int, n: Long) {
        when {
            n < 24 -> out.write((major shl 5) or n.toInt())
            n < 256 -> { out.write((major shl 5) or 24); out.write(n.toInt()) }
            n < 65536 -> { out.write((major shl 5) or 25); out.write((n shr 8).toInt()); out.write(n.toInt() and 0xff) }
            else -> error("too long for this CBOR")
        }
    }
    when (value) {
        is Int -> if (value >= 0) head(0, value.toLong()) else head(1, (-1 - value).toLong())
        is ByteArray -> { head(2, value.size.toLong()); out.write(value) }
        is String -> { val raw = value.toByteArray(); head(3, raw.size.toLong()); out.write(raw) }
        is Map<*, *> -> {
            head(5, value.size.toLong())
            for ((k, v) in value) { cbor(k!!, out); cbor(v!!, out) }
        }
        else -> error("no CBOR for ${value::class}")
    }
}

private fun cbor(value: Any): ByteArray = ByteArrayOutputStream().also { cbor(value, it) }.toByteArray()

/** A coordinate as exactly 32 big-endian bytes. */
private fun coordinate(n: BigInteger): ByteArray {
    val raw = n.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
    return ByteArray(32 - raw.size) + raw
}

class SoftPasskey {
    /** Registers a new credential: the RegistrationResponseJSON for [optionsJson]. */
    fun register(origin: String, optionsJson: String): String {
        val options = Json.parse(optionsJson)
        val rpId = options["rp"]["id"].text()
        val generator = KeyPairGenerator.getInstance("EC")
        generator.initialize(ECGenParameterSpec("secp256r1"))
        val public = generator.generateKeyPair().public as ECPublicKey
        val credentialId = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val cose = linkedMapOf<Any, Any>(
            1 to 2, 3 to -7, -1 to 1,
            -2 to coordinate(public.w.affineX), -3 to coordinate(public.w.affineY),
        )
        val auth = ByteArrayOutputStream().apply {
            write(sha256(rpId.toByteArray()))
            write(0x45) // user present, user verified, attested credential data
            write(ByteArray(4)) // signature counter
            write(ByteArray(16)) // AAGUID
            write(credentialId.size shr 8); write(credentialId.size and 0xff)
            write(credentialId)
            write(cbor(cose))
        }.toByteArray()
        val attestation = cbor(linkedMapOf<Any, Any>("fmt" to "none", "attStmt" to emptyMap<Any, Any>(), "authData" to auth))
        val client = """{"type":"webauthn.create","challenge":${Json.quote(options["challenge"].text())},""" +
            """"origin":${Json.quote(origin)},"crossOrigin":false}"""
        val id = b64(credentialId)
        return """{"id":"$id","rawId":"$id","type":"public-key",""" +
            """"response":{"clientDataJSON":"${b64(client.toByteArray())}","attestationObject":"${b64(attestation)}",""" +
            """"transports":["internal"]},"clientExtensionResults":{"credProps":{"rk":true}}}"""
    }
}
