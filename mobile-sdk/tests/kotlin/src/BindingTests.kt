// The SDK's Kotlin bindings (uniffi) against the real server, as an Android app calls them:
// register with a software passkey, sync, read with the server stopped, queue a booking
// offline, restart the server and see it applied exactly once; a practice retraction removes
// the result from the store; a revoked device's store is wiped. Prints "N passed, N failed"
// and exits non-zero when any scenario fails.

package gponline.sdktest

import java.io.File
import java.nio.file.Files
import java.util.Collections
import kotlin.system.exitProcess
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import uniffi.gp_online_sdk.FieldValue
import uniffi.gp_online_sdk.GpOnline
import uniffi.gp_online_sdk.Item
import uniffi.gp_online_sdk.SdkConfig
import uniffi.gp_online_sdk.SdkEvent
import uniffi.gp_online_sdk.SdkException
import uniffi.gp_online_sdk.SdkListener
import uniffi.gp_online_sdk.Section
import uniffi.gp_online_sdk.Trust

class Events : SdkListener {
    val seen: MutableList<SdkEvent> = Collections.synchronizedList(mutableListOf())

    override fun onEvent(event: SdkEvent) {
        seen.add(event)
    }
}

fun openSdk(server: Server, store: File): GpOnline = GpOnline(
    SdkConfig(
        serverUrl = server.url,
        trust = Trust.PinnedCa(server.ca),
        storeDir = store.path,
        keyMaterial = ByteArray(32) { it.toByte() },
        deviceName = "Kotlin test phone",
    ),
)

/** Registers demo patient [index] through the SDK's WebAuthn JSON; their patient id. */
fun register(server: Server, sdk: GpOnline, index: Int): String {
    val patient = server.demo["patients"][index]
    val ceremony = runBlocking {
        sdk.beginRegistration(
            patient["account_id"].text(), patient["linkage_key"].text(), patient["ods_code"].text(),
            patient["family_name"].text(), patient["date_of_birth"].text(),
        )
    }
    val answer = SoftPasskey().register(server.origin, ceremony.optionsJson)
    runBlocking { sdk.finishRegistration(ceremony.ceremonyId, answer) }
    return sdk.profiles().first().patientId
}

fun Item.text(name: String): String? = (fields[name] as? FieldValue.Text)?.value

fun files(store: File): List<File> = store.listFiles()?.filter { it.isFile } ?: emptyList()

fun offlineBookingIsAppliedExactlyOnce(server: Server, dir: File) {
    val store = File(dir, "store")
    var sdk = openSdk(server, store)
    val events = Events()
    sdk.setListener(events)
    // A demo patient with results and one future appointment: the practice allows two, so
    // the booking fits under its limit.
    val patient = register(server, sdk, 4)
    val report = runBlocking { sdk.syncNow() }
    assertTrue(report.changed.isNotEmpty(), "$report")
    val results = sdk.items(patient, Section.RESULTS)
    assertTrue(results.isNotEmpty(), "the demo patient has results")
    assertTrue(events.seen.any { it is SdkEvent.SyncProgress && it.done }, "${events.seen}")
    val slot = runBlocking { sdk.slots(patient) }.first().id
    val booked = sdk.items(patient, Section.APPOINTMENTS).size

    // The server goes away; the app is closed and opened again, offline.
    server.stop()
    sdk.close()
    sdk = openSdk(server, store)
    assertEquals(results.size, sdk.items(patient, Section.RESULTS).size)
    val key = sdk.book(patient, slot, "Kotlin binding test")
    assertFailsWith<SdkException.Network> { runBlocking { sdk.syncNow() } }
    assertEquals(listOf(key), sdk.pendingIntents().map { it.key })

    server.start()
    val settled = runBlocking { sdk.syncNow() }.settled
    assertEquals(listOf(key to true), settled.map { it.key to it.accepted }, "$settled")
    runBlocking { sdk.syncNow() }
    assertTrue(sdk.pendingIntents().isEmpty())
    val appointments = sdk.items(patient, Section.APPOINTMENTS)
    assertEquals(booked + 1, appointments.size)
    assertEquals(1, appointments.count { it.text("slot_id") == slot })
    assertFalse(runBlocking { sdk.slots(patient) }.any { it.id == slot }, "the slot is taken")
    sdk.close()
}

fun aRetractionRemovesTheResultAndRevocationWipesTheStore(server: Server, dir: File) {
    val store = File(dir, "store")
    val sdk = openSdk(server, store)
    val patient = register(server, sdk, 1)
    runBlocking { sdk.syncNow() }
    val results = sdk.items(patient, Section.RESULTS)
    assertTrue(results.isNotEmpty())
    val target = results.first().id

    // A clinician enrols with a passkey and retracts the result.
    val begun = server.call("POST", "/api/v1/practice/enrolment/begin", "", """{"enrolment_code":${Json.quote(server.enrolmentCode)}}""")
    val options = begun["public_key"]["publicKey"]
    val answer = SoftPasskey().register(server.origin, Json.write(options))
    val tokens = server.call(
        "POST", "/api/v1/practice/enrolment/finish", "",
        """{"ceremony_id":${Json.quote(begun["ceremony_id"].text())},"credential":$answer}""",
    )
    server.call(
        "POST", "/api/v1/practice/results/$target/retract", tokens["access_token"].text(),
        """{"reason":"Filed against the wrong patient"}""",
    )

    val report = runBlocking { sdk.syncNow() }
    assertTrue(report.destroyed.any { it.section == "results" }, "$report")
    assertFalse(sdk.items(patient, Section.RESULTS).any { it.id == target })

    val device = runBlocking { sdk.devices() }.first { it.current }
    runBlocking { sdk.revokeDevice(device.id) }
    assertFailsWith<SdkException.Revoked> { runBlocking { sdk.syncNow() } }
    assertFalse(sdk.isSignedIn())
    assertTrue(sdk.items(patient, Section.RESULTS).isEmpty())
    assertEquals(emptyList(), files(store))
    sdk.close()
}

fun main(args: Array<String>) {
    val binary = File(args.getOrNull(0) ?: System.getenv("GP_ONLINE_BIN") ?: "target/debug/gp-online")
    val server = Server(binary)
    val scenarios = listOf(
        "offline booking is applied exactly once" to ::offlineBookingIsAppliedExactlyOnce,
        "a retraction removes the result and revocation wipes the store" to ::aRetractionRemovesTheResultAndRevocationWipesTheStore,
    )
    var passed = 0
    var failed = 0
    try {
        for ((name, scenario) in scenarios) {
            val dir = Files.createTempDirectory("gp-online-sdk-kt-device-").toFile()
            try {
                scenario(server, dir)
                println("ok: $name")
                passed++
            } catch (failure: Throwable) {
                println("FAILED: $name")
                failure.printStackTrace(System.out)
                failed++
            } finally {
                dir.deleteRecursively()
            }
        }
    } finally {
        server.stop()
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
