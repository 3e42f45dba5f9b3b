"""Memory across hot reloads: RSS of a real ``triage serve`` after each SIGHUP reload.

    python bench/bench_reload_rss.py [--bundle models/default] [--shadow] [--reloads 10] [--requests 20]

Starts ``triage serve`` (one process, SQLite in a temporary directory) on ``--bundle`` — with
``--shadow`` the same bundle also as the shadow (``TRIAGE_SHADOW_BUNDLE``) — sends SIGHUP
``--reloads`` times, waits for each reload to be counted in ``triage_model_reloads_total``, lets
``--requests`` single-text classify requests through (so the lanes, the solo session and the
shadow all run on each model), and prints the server's RSS (``/proc/PID/status`` VmRSS) after
start and after each reload. Issue 28 measured 428 → 880 MB after 4 reloads before the fix; the
k8s memory request and limit (deploy/k8s) are sized from the figure this prints.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` now, or ``VmHWM``: the highest RSS so far (the peak while two models are loaded)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def reloads_ok(base: str) -> float:
    status, body = fetch(base + "/metrics")
    for line in body.splitlines():
        if line.startswith("triage_model_reloads_total{") and 'trigger="sighup"' in line and 'result="ok"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=str(REPO / "models" / "default"))
    ap.add_argument("--shadow", action="store_true", help="the same bundle also as the shadow model")
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--requests", type=int, default=20, help="classify requests after start and each reload")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="reload-rss-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(PYTHONPATH=str(REPO), TRIAGE_DATABASE_URL=f"sqlite:///{tmp / 'triage.db'}",
               TRIAGE_BUNDLE_DIR=str(Path(args.bundle).resolve()), TRIAGE_LOG_JSON="false",
               TRIAGE_LOG_LEVEL="WARNING", TRIAGE_RATE_LIMIT_PER_MINUTE="0")
    if args.shadow:
        env["TRIAGE_SHADOW_BUNDLE"] = env["TRIAGE_BUNDLE_DIR"]
    key = subprocess.run([sys.executable, "-m", "classifier.cli", "keys", "create", "--role", "ingest", "--name", "bench"],
                         env=env, cwd=tmp, capture_output=True, text=True, check=True)
    api_key = key.stdout.strip().splitlines()[-1].split()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(port), "--workers", "1"],
                            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    body = json.dumps({"items": [{"id": "1", "text": "信用卡年费没经过我同意就扣了，我要投诉"}]}).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": api_key}

    def traffic() -> None:
        for _ in range(args.requests):
            status, text = fetch(base + "/v1/classify", body, headers)
            if status != 200:
                raise SystemExit(f"classify answered {status}: {text[:300]}")

    def wait(predicate, what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {Path(log.name).read_text()[-2000:]}")
            if predicate():
                return
            time.sleep(0.2)
        raise SystemExit(f"timed out waiting for {what}")

    try:
        wait(lambda: fetch(base + "/readyz")[0] == 200, "/readyz")
        traffic()
        figures = [rss_mb(proc.pid)]
        print(f"start      RSS {figures[0]:7.1f} MB", flush=True)
        for i in range(1, args.reloads + 1):
            proc.send_signal(signal.SIGHUP)
            wait(lambda: reloads_ok(base) >= i, f"reload {i}")
            traffic()
            time.sleep(0.5)
            figures.append(rss_mb(proc.pid))
            print(f"reload {i:2d}  RSS {figures[-1]:7.1f} MB", flush=True)
        print(f"growth over {args.reloads} reloads: {figures[-1] - figures[0]:+.1f} MB "
              f"(highest RSS, during a reload: {rss_mb(proc.pid, 'VmHWM'):.1f} MB; bundle {Path(args.bundle).name}, shadow {'yes' if args.shadow else 'no'})")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
