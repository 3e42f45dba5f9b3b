"""Serving benchmark (not a test): latency, concurrent throughput, and served / raw throughput.

Measured in one run on this machine against a real ``triage serve`` (uvicorn) on localhost:

1. p50 / p99 latency of single-item POST /v1/classify requests, one at a time;
2. throughput (items/s) with N concurrent clients (default 16) sending single-item requests,
   which only the micro-batcher can turn into model batches;
3. raw runtime batch throughput, in-process, after the server has stopped (so the two never
   share the CPU): ``Classifier.predict`` over the whole text pool in one call (the runtime's best
   case: everything length-sorted), and over chunks of the server's maximum batch size;
4. the ratio of (2) to (3), the whole-pool figure being the reference.

The load generator runs on the same machine as the server, so on a small machine it takes CPU
from the server; the ratio is therefore a lower bound of what a remote client would see.

    python bench/bench_serving.py                               # models/default
    python bench/bench_serving.py --bundle tests/fixtures/tiny_bundle --single 100 --seconds 10
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
FALLBACK_TEXTS = [
    "信用卡年费没有提前告知就扣了，要求退还",
    "手机银行转账一直失败，今天还款日怎么办",
    "催收天天打电话骚扰我家人，我要向银保监会投诉",
    "花呗怎么还款",
    "服务很好，谢谢客服小姐姐",
    "借呗提前还款要收手续费吗？利息怎么算的",
    "app又闪退了，更新以后根本打不开，登录一直提示网络异常，垃圾",
    "未经同意就给我开通了会员，每个月自动扣费，这是霸王条款",
]


def load_texts(path: Path, limit: int, max_chars: int) -> list[str]:
    if not path.exists():
        return FALLBACK_TEXTS
    texts = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line).get("text", "")
            if text.strip() and len(text) <= max_chars:
                texts.append(text)
            if len(texts) >= limit:
                break
    return texts or FALLBACK_TEXTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def create_key(database_url: str) -> str:
    from serving import db
    from serving.auth import create_key as make

    engine = db.make_engine(database_url)
    db.migrate(engine)
    with db.make_sessionmaker(engine).begin() as session:
        key = make(session, "ingest", name="bench")[1]
    engine.dispose()
    return key


def start_server(bundle: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "classifier.cli", "serve", "--bundle", str(bundle), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{proc.stderr.read()[-4000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not become ready within 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)  # graceful: drains in-flight requests
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def measure_single(url: str, headers: dict, texts: list[str], n: int) -> list[float]:
    latencies = []
    with httpx.Client(headers=headers, timeout=30) as client:
        for i in range(n):
            body = {"items": [{"id": str(i), "text": texts[i % len(texts)]}]}
            start = time.perf_counter()
            r = client.post(url, json=body)
            latencies.append(time.perf_counter() - start)
            r.raise_for_status()
    return latencies


async def measure_concurrent(url: str, headers: dict, texts: list[str], clients: int, seconds: float) -> tuple[int, float, int]:
    """(items done, elapsed seconds, errors) with `clients` workers each keeping one request in flight."""
    done = errors = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

        async def worker(w: int) -> None:
            nonlocal done, errors
            i = w
            while time.perf_counter() < stop_at:
                r = await client.post(url, json={"items": [{"id": str(i), "text": texts[i % len(texts)]}]})
                if r.status_code == 200:
                    done += 1
                else:
                    errors += 1
                i += clients

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        return done, time.perf_counter() - start, errors


def server_batch_sizes(base: str) -> float | None:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    values = {}
    for line in text.splitlines():
        if line.startswith(("triage_batch_size_sum", "triage_batch_size_count")):
            name, value = line.split(" ", 1)
            values[name] = float(value)
    count = values.get("triage_batch_size_count")
    return values["triage_batch_size_sum"] / count if count else None


def measure_raw(bundle: Path, texts: list[str], batch_size: int, seconds: float) -> tuple[float, float]:
    """Runtime throughput without HTTP: (whole pool in one predict call, chunks of batch_size).

    The whole-pool figure is the runtime's best case (it sorts every text by length, so padding is
    minimal) and is the reference for the served/raw ratio; the chunked figure is what the server's
    largest micro-batch could reach on this text mix.
    """
    from classifier.runtime import Classifier

    clf = Classifier.load(bundle)
    clf.predict(texts[:batch_size])  # warm-up

    done, start = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - start < seconds:
        clf.predict(texts)
        done += len(texts)
    offline = done / (time.perf_counter() - start)

    done, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        clf.predict([texts[(i + k) % len(texts)] for k in range(batch_size)])
        done += batch_size
        i += batch_size
    chunked = done / (time.perf_counter() - start)
    return offline, chunked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--texts", type=Path, default=REPO / "data" / "labeled" / "dev.jsonl")
    parser.add_argument("--single", type=int, default=300, help="sequential single-item requests")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the concurrent and raw runs")
    parser.add_argument("--batch-size", type=int, default=64, help="server micro-batch max size = raw batch size")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()

    texts = load_texts(args.texts, 2000, 5000)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        key = create_key(database_url)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "TRIAGE_RATE_LIMIT_PER_MINUTE": "0",
               "TRIAGE_LOG_LEVEL": "WARNING", "TRIAGE_BATCH_MAX_SIZE": str(args.batch_size)}
        proc = start_server(args.bundle, port, env)
        base = f"http://127.0.0.1:{port}"
        url, headers = f"{base}/v1/classify", {"Authorization": f"Bearer {key}"}
        try:
            measure_single(url, headers, texts, 20)  # warm-up
            latencies = measure_single(url, headers, texts, args.single)
            done, elapsed, errors = asyncio.run(measure_concurrent(url, headers, texts, args.clients, args.seconds))
            mean_batch = server_batch_sizes(base)
        finally:
            stop_server(proc)

    served = done / elapsed
    raw, raw_chunked = measure_raw(args.bundle, texts, args.batch_size, args.seconds)
    results = {
        "bundle": str(args.bundle),
        "cpu_count": os.cpu_count(),
        "single_requests": len(latencies),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "concurrent_clients": args.clients,
        "served_items_per_s": round(served, 1),
        "served_errors": errors,
        "server_mean_batch_size": round(mean_batch, 2) if mean_batch else None,
        "raw_offline_items_per_s": round(raw, 1),
        f"raw_batch{args.batch_size}_items_per_s": round(raw_chunked, 1),
        "served_to_raw_ratio": round(served / raw, 3),
        f"served_to_raw_batch{args.batch_size}_ratio": round(served / raw_chunked, 3),
    }
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
