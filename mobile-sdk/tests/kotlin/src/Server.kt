// The world the Kotlin binding tests run in: the real gp-online binary serving the demo
// practice from a temporary data directory on a free port of localhost, which a test stops and
// starts again; a clinician invited for practice actions.

package gponline.sdktest

import java.io.File
import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.security.KeyStore
import java.security.cert.CertificateFactory
import java.time.Duration
import java.util.concurrent.TimeUnit
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory

class Server(private val binary: File) {
    val data: File = Files.createTempDirectory("gp-online-sdk-kt-").toFile()
    private val port = ServerSocket(0).use { it.localPort }
    val url = "https://localhost:$port"
    val origin = url
    private val config = File(data, "gp-online.toml")
    val demo: Any?
    val enrolmentCode: String
    private var process: Process? = null
    private val client: HttpClient

    init {
        config.writeText(
            listOf(
                "[server]", "listen = \"127.0.0.1:$port\"", "data_dir = \"$data\"",
                "[identity]", "rp_origins = [\"$origin\"]",
                "[log]", "filter = \"warn\"", "",
            ).joinToString("\n"),
        )
        demo = Json.parse(run("demo", "--json"))
        val printed = run(
            "staff", "invite", "--practice", demo["practice"]["ods_code"].text(),
            "--role", "clinician", "--name", "Dr Rhea Shah",
        )
        enrolmentCode = printed.trim().split(": ").last().split(Regex("\\s+")).first()
        start()
        client = HttpClient.newBuilder().sslContext(trusting(ca))
            .connectTimeout(Duration.ofSeconds(5)).build()
    }

    /** The server's development certificate (PEM), which the SDK pins. */
    val ca: String get() = File(data, "dev-cert.pem").readText()

    /** Runs a `gp-online` command on this server's configuration; its standard output. */
    fun run(vararg args: String): String {
        val command = listOf(binary.path, "--config", config.path) + args
        val process = ProcessBuilder(command).redirectError(File(data, "commands.log")).start()
        val out = process.inputStream.bufferedReader().readText()
        check(process.waitFor() == 0) { "gp-online ${args.first()} failed: ${File(data, "commands.log").readText()}" }
        return out
    }

    fun start() {
        val log = File(data, "server.log")
        process = ProcessBuilder(binary.path, "--config", config.path, "serve")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log))
            .start()
        val probe = HttpClient.newBuilder().sslContext(trusting(waitForCertificate()))
            .connectTimeout(Duration.ofSeconds(2)).build()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        while (System.nanoTime() < deadline) {
            try {
                val request = HttpRequest.newBuilder(URI("$url/healthz")).timeout(Duration.ofSeconds(2)).build()
                if (probe.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) return
            } catch (_: Exception) {
            }
            check(process!!.isAlive) { "the server exited: ${log.readText()}" }
            Thread.sleep(250)
        }
        error("the server did not start")
    }

    private fun waitForCertificate(): String {
        val pem = File(data, "dev-cert.pem")
        repeat(240) {
            if (pem.exists() && pem.length() > 0) return pem.readText()
            Thread.sleep(250)
        }
        error("the server made no certificate")
    }

    fun stop() {
        process?.let {
            it.destroy()
            check(it.waitFor(30, TimeUnit.SECONDS)) { "the server did not stop" }
        }
        process = null
    }

    /** A practice API call with a bearer token; the answer's JSON (null when empty). */
    fun call(method: String, path: String, token: String, body: String?): Any? {
        val request = HttpRequest.newBuilder(URI("$url$path"))
            .method(method, if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body))
            .header("authorization", "Bearer $token")
            .header("content-type", "application/json")
            .timeout(Duration.ofSeconds(30))
            .build()
        val response = client.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$method $path: ${response.statusCode()} ${response.body()}" }
        return response.body().takeIf { it.isNotBlank() }?.let(Json::parse)
    }
}

/** TLS that trusts only the server's development certificate. */
private fun trusting(pem: String): SSLContext {
    val certificate = CertificateFactory.getInstance("X.509").generateCertificate(pem.byteInputStream())
    val keys = KeyStore.getInstance(KeyStore.getDefaultType()).apply {
        load(null, null)
        setCertificateEntry("gp-online", certificate)
    }
    val trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply { init(keys) }
    return SSLContext.getInstance("TLS").apply { init(null, trust.trustManagers, null) }
}
