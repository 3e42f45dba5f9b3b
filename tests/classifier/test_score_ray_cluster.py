"""``triage score --engine ray --address …`` against a Ray cluster started with ``ray start --head``,
as an operator's would be, and the errors for an address where no cluster answers.

Each command runs as a child process (the module-scoped local Ray of test_score_ray.py must not
be the one connected to). The head is started in its own session with ``--block`` so that killing
that session stops its processes and no one else's (``ray stop`` would stop every Ray on the
machine); it gets one CPU and a small object store, for 2-core CI machines.
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
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the [distributed] extra (ray[data]) is not installed")

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny_bundle"
TEXTS = ["信用卡年费没经过我同意就扣了，要求退还", "手机银行转账一直失败", "花呗怎么还款", "催收天天打电话骚扰我家人，我要投诉"]
CLOCK_COLUMNS = {"respond_by", "resolve_by"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "RAY_"))}
    # This head's token would sit in ~/.ray/auth_token, which any other Ray started on the machine
    # rewrites: the test cluster runs without token authentication (a real one: see docs/operators.md).
    out["RAY_AUTH_MODE"] = "disabled"
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    out.update(extra)
    return out


def triage(*argv: str, cwd: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "classifier.cli", *argv], cwd=cwd, env=env(**extra),
                          capture_output=True, text=True, timeout=timeout)


def rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [{k: v for k, v in r.items() if k not in CLOCK_COLUMNS} for r in csv.DictReader(fh)]


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["id", "text"], *[[str(i), TEXTS[i % len(TEXTS)] if i != 3 else ""] for i in range(12)]])
    return path


def test_an_address_where_no_cluster_answers_is_a_clear_error_within_seconds(tmp_path, source):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    result = triage("score", str(source), "--out", "o.csv", "--engine", "ray", "--address", f"127.0.0.1:{port}",
                    "--bundle", str(TINY), cwd=tmp_path)
    assert result.returncode == 1 and "[E411]" in result.stderr and f"127.0.0.1:{port}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and time.monotonic() - start < 60  # Ray itself retries for minutes
    result = triage("score", str(source), "--out", "o.csv", "--engine", "ray", "--address", "head-without-port:x",
                    "--bundle", str(TINY), cwd=tmp_path)
    assert result.returncode == 1 and "[E411]" in result.stderr, result.stderr
    # Ray Client: Ray Data does not run on its driver (tried: it connects, then fails in the executor)
    result = triage("score", str(source), "--out", "o.csv", "--engine", "ray", "--address", "ray://127.0.0.1:10001",
                    "--bundle", str(TINY), cwd=tmp_path)
    assert result.returncode == 1 and "[E412]" in result.stderr and "ray job submit" in result.stderr, result.stderr


def test_auto_without_a_cluster_is_not_a_file_error(tmp_path, source):
    probe = subprocess.run([sys.executable, "-c", "import ray; ray.init(address='auto'); print('running')"],
                           env=env(), capture_output=True, text=True, timeout=120)
    if "running" in probe.stdout:
        pytest.skip("a Ray cluster runs on this machine")
    result = triage("score", str(source), "--out", "o.csv", "--engine", "ray", "--address", "auto",
                    "--bundle", str(TINY), cwd=tmp_path)
    assert result.returncode == 1 and "[E410]" in result.stderr and "[E204]" not in result.stderr, result.stderr
    assert "ray start --head" in result.stderr


@pytest.fixture
def ray_head(tmp_path):
    """``ray start --head --block`` in its own session: its GCS address."""
    ray_bin = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port = free_port()
    temp = Path(f"/tmp/rt{os.getpid()}")  # short: Ray's socket paths must fit in 107 bytes
    log = (tmp_path / "head.log").open("w")
    args = [ray_bin, "start", "--head", "--block", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
            "--object-store-memory=100000000", "--disable-usage-stats", f"--temp-dir={temp}"]
    # The workers import classifier from this checkout, as a real cluster's image would have it installed.
    head = subprocess.Popen(args, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert head.poll() is None, (tmp_path / "head.log").read_text()[-3000:]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("ray start --head did not listen: " + (tmp_path / "head.log").read_text()[-3000:])
        yield f"127.0.0.1:{port}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # this session's processes only: the head and its children
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(20)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def test_score_on_a_cluster_started_with_ray_start(tmp_path, source, ray_head):
    address = ray_head
    local = triage("score", str(source), "--out", "local.csv", "--bundle", str(TINY), "--quiet", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    result = triage("score", str(source), "--out", "ray.csv", "--engine", "ray", "--address", address, "--actors", "1",
                    "--bundle", str(TINY), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["engine"] == "ray"
    assert rows(tmp_path / "ray.csv") == rows(tmp_path / "local.csv")
    # Ray's own INFO lines stay out of the progress output (they were some 60 lines a run)
    noise = [line for line in result.stderr.splitlines() if " INFO " in line or "Running Dataset" in line]
    assert not noise, noise
    assert "scored 12/12 rows" in result.stderr
