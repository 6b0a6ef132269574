"""The world the Python binding tests run in: the real gp-online binary serving the demo
practice from a temporary data directory on a free port of localhost, which a test may stop
and start again; a clinician enrolled with the software passkey for practice actions."""

import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPOSITORY = HERE.parents[2]
BINDINGS = pathlib.Path(os.environ.get("GP_ONLINE_SDK_PYTHON", REPOSITORY / "target" / "sdk-bindings" / "python"))
BINARY = pathlib.Path(os.environ.get("GP_ONLINE_BIN", REPOSITORY / "target" / "debug" / "gp-online"))
sys.path.insert(0, str(BINDINGS))
sys.path.insert(0, str(HERE))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One gp-online process over a data directory that outlives restarts."""

    def __init__(self):
        self.data = pathlib.Path(tempfile.mkdtemp(prefix="gp-online-sdk-py-"))
        self.port = free_port()
        self.url = f"https://localhost:{self.port}"
        self.origin = self.url
        self.config = self.data / "gp-online.toml"
        self.config.write_text("\n".join([
            "[server]", f'listen = "127.0.0.1:{self.port}"', f'data_dir = "{self.data}"',
            "[identity]", f'rp_origins = ["{self.origin}"]',
            "[log]", 'filter = "warn"', "",
        ]))
        self.demo = json.loads(self.run("demo", "--json"))
        printed = self.run("staff", "invite", "--practice", self.demo["practice"]["ods_code"],
                           "--role", "clinician", "--name", "Dr Rhea Shah")
        self.enrolment_code = printed.split(": ")[-1].split()[0]
        self.process = None
        self.start()
        self.ca_pem = (self.data / "dev-cert.pem").read_text()

    def run(self, *args) -> str:
        return subprocess.run([str(BINARY), "--config", str(self.config), *args],
                              check=True, capture_output=True, text=True).stdout

    def start(self):
        log = open(self.data / "server.log", "a")
        self.process = subprocess.Popen([str(BINARY), "--config", str(self.config), "serve"],
                                        stdout=log, stderr=log)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", context=context, timeout=2):
                    return
            except Exception:
                time.sleep(0.25)
        raise RuntimeError("the server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)

    def call(self, method: str, path: str, token: str, body=None):
        context = ssl.create_default_context(cadata=self.ca_pem)
        context.check_hostname = False
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"authorization": f"Bearer {token}",
                                                  "content-type": "application/json"})
        with urllib.request.urlopen(request, context=context) as response:
            text = response.read()
            return json.loads(text) if text else None


@pytest.fixture(scope="module")
def server():
    running = Server()
    yield running
    running.stop()
