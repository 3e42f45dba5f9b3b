"""Real processes: `triage` from a directory that is not the checkout, and SIGHUP on a real server.

Each command runs as a child process started in an empty temporary directory with no TRIAGE_*
variables, as an operator's shell would be: the shipped bundle and rule files must be found from
the install (classifier/resources.py), not from the working directory.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "fixtures" / "tiny_bundle"
DEFAULT_VERSION = json.loads((REPO / "models" / "default" / "manifest.json").read_text())["model_version"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(REPO)  # this checkout's code, as an editable install would give
    env.update(extra)
    return env


def triage(*argv: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "classifier.cli", *argv], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


class Server:
    def __init__(self, cwd: Path, env: dict, *argv: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (cwd / "server.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(self.port), *argv],
                                     cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, predicate, timeout: float = 60.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}: {self.output()[-3000:]}")
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {self.output()[-3000:]}")

    def ready_version(self) -> str | None:
        status, body = get(self.base + "/readyz")
        return json.loads(body)["model_version"] if status == 200 else None

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    cwd = tmp_path / "somewhere-else"
    cwd.mkdir()
    return cwd


def test_classify_and_score_run_from_any_directory(elsewhere):
    result = triage("classify", "--json", "信用卡年费没经过我同意就扣了", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["category"]["label"]

    with (elsewhere / "in.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["id", "text", "channel"], ["1", "花呗怎么还款", "app"], ["2", "", "app"]])
    result = triage("score", "in.csv", "--out", "out.csv", "--quiet", cwd=elsewhere)
    assert result.returncode == 0, result.stderr  # was E300: configs/priority.yaml relative to the cwd
    rows = list(csv.DictReader((elsewhere / "out.csv").open(encoding="utf-8")))
    assert [r["model_version"] for r in rows] == [DEFAULT_VERSION] * 2
    assert rows[0]["priority_level"] and rows[1]["error"].startswith("E210")

    # A flag and a TRIAGE_* variable still override the shipped files.
    result = triage("score", "in.csv", "--out", "out2.csv", "--quiet", cwd=elsewhere,
                    env=clean_env(TRIAGE_BUNDLE_DIR=str(TINY)))
    tiny_version = json.loads((TINY / "manifest.json").read_text())["model_version"]
    assert result.returncode == 0, result.stderr
    assert {r["model_version"] for r in csv.DictReader((elsewhere / "out2.csv").open(encoding="utf-8"))} == {tiny_version}
    result = triage("score", "in.csv", "--out", "out3.csv", "--routing-config", "missing.yaml", cwd=elsewhere)
    assert result.returncode == 1 and "[E300]" in result.stderr and "missing.yaml" in result.stderr


def test_serve_starts_from_any_directory_on_the_shipped_bundle(elsewhere):
    env = clean_env(TRIAGE_DATABASE_URL=f"sqlite:///{elsewhere / 'triage.db'}", TRIAGE_LOG_JSON="false")
    server = Server(elsewhere, env)
    try:
        server.wait(lambda: server.ready_version() is not None, what="/readyz")  # was E101 outside the checkout
        assert server.ready_version() == DEFAULT_VERSION
        assert get(server.base + "/healthz")[0] == 200
    finally:
        assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a graceful shutdown


def _metric(server: Server, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    status, body = get(server.base + "/metrics")
    for family in text_string_to_metric_families(body if status == 200 else ""):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_sighup_reloads_the_bundle_and_a_bad_one_keeps_the_old_serving(elsewhere):
    from classifier.bundle import write_manifest

    bundle = elsewhere / "bundle"

    def install(version: str) -> None:
        if bundle.exists():
            shutil.rmtree(bundle)
        shutil.copytree(TINY, bundle)
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["model_version"] = version
        write_manifest(bundle, **{k: v for k, v in manifest.items() if k not in ("files", "format_version")})

    install("tiny-v1")
    env = clean_env(TRIAGE_DATABASE_URL=f"sqlite:///{elsewhere / 'triage.db'}", TRIAGE_BUNDLE_DIR=str(bundle),
                    TRIAGE_LOG_JSON="false")
    server = Server(elsewhere, env)
    try:
        server.wait(lambda: server.ready_version() == "tiny-v1", what="tiny-v1")
        install("tiny-v2")
        server.proc.send_signal(signal.SIGHUP)
        server.wait(lambda: server.ready_version() == "tiny-v2", what="reload to tiny-v2")
        assert _metric(server, "triage_model_info", version="tiny-v2") == 1

        with (bundle / "tokenizer.json").open("a") as fh:  # altered after the manifest was written
            fh.write(" ")
        server.proc.send_signal(signal.SIGHUP)
        server.wait(lambda: _metric(server, "triage_model_reloads_total", trigger="sighup", result="failed") == 1,
                    what="the failed reload")
        assert server.ready_version() == "tiny-v2"
        assert "E102" in server.output()  # the log says why
    finally:
        assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a graceful shutdown


def _raw(sock, request: bytes) -> bytes:
    sock.sendall(request)
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    return reply


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command to make a test certificate")
def test_serve_terminates_tls_and_sends_hsts_and_protocol_errors_look_as_documented(elsewhere):
    """TRIAGE_TLS_CERTFILE/KEYFILE: `triage serve` answers HTTPS itself; TRIAGE_HSTS_SECONDS adds
    Strict-Transport-Security. uvicorn answers a request it cannot parse (a bad request line, a NUL
    in a header) before the application sees it: a bare 400 as docs/operators.md shows it."""
    import ssl

    cert, key = elsewhere / "cert.pem", elsewhere / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    env = clean_env(TRIAGE_DATABASE_URL=f"sqlite:///{elsewhere / 'triage.db'}", TRIAGE_BUNDLE_DIR=str(TINY),
                    TRIAGE_LOG_JSON="false", TRIAGE_TLS_CERTFILE=str(cert), TRIAGE_TLS_KEYFILE=str(key),
                    TRIAGE_HSTS_SECONDS="31536000")
    server = Server(elsewhere, env)
    context = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{server.port}"

    def healthz():  # noqa: ANN202
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5, context=context) as r:  # noqa: S310 - loopback
                return r
        except OSError:
            return None

    try:
        server.wait(healthz, what="/healthz over HTTPS")
        with urllib.request.urlopen(base + "/healthz", timeout=5, context=context) as r:  # noqa: S310
            assert r.status == 200 and r.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert get(server.base + "/healthz")[0] == 0  # plain HTTP is not answered on the TLS port

        for request in (b"GARBAGE\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                reply = _raw(tls, request)
            head, _, body = reply.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            assert lines[0] == "HTTP/1.1 400 Bad Request" and body == b"Invalid HTTP request received.", reply
            names = {line.split(":", 1)[0].lower() for line in lines[1:]}
            assert {"content-type", "content-length", "connection"} <= names
            assert "x-request-id" not in names and "strict-transport-security" not in names  # the app never saw it
    finally:
        assert server.stop() in (0, -signal.SIGTERM)


def test_serve_refuses_half_a_tls_setting(elsewhere):
    env = clean_env(TRIAGE_DATABASE_URL=f"sqlite:///{elsewhere / 'triage.db'}", TRIAGE_BUNDLE_DIR=str(TINY),
                    TRIAGE_TLS_CERTFILE=str(elsewhere / "cert.pem"))
    result = triage("serve", "--port", str(free_port()), cwd=elsewhere, env=env, timeout=60)
    assert result.returncode != 0 and "TRIAGE_TLS_KEYFILE" in result.stderr, result.stderr
