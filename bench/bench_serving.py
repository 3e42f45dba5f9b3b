"""Serving benchmark (not a test): latency, concurrent throughput, and served / raw throughput.

Measured in one run on this machine against a real ``triage serve`` (uvicorn) on localhost:

1. p50 / p99 latency of single-item POST /v1/classify requests, one at a time;
2. throughput (items/s) with N concurrent clients (default 16) sending single-item requests,
   which only the micro-batcher can turn into model batches;
3. raw runtime batch throughput, in-process, after the server has stopped (so the two never
   share the CPU), in two layouts: one ``Classifier.predict`` call at a time with every core in
   ONNX Runtime, and the server's layout (W worker threads, T ONNX threads each); each over the
   whole text pool (the runtime's best case: everything length-sorted together) and over chunks of
   the server's maximum batch size;
4. the ratio of (2) to the best whole-pool figure of (3);
5. the bundle's in-process batch-1 latency (``Classifier.predict([text])`` on every core, the same
   texts in the same order as (1)), after the server has stopped;

and the issue's three serving targets as ratios: served single-item p50 / in-process batch-1 p50
(target ≤ 1.3), served p99 / served p50 (≤ 3), 16 clients / the runtime's batch throughput at the
server's maximum batch (≥ 0.9).

The load generator runs on the same machine as the server and takes CPU from it. It is a
minimal HTTP/1.1 keep-alive client on raw asyncio streams (pre-encoded requests, no HTTP library),
so that it takes as little as possible; its CPU time is reported. The ratio is therefore a lower
bound of what remote clients would see.

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

from serving.settings import Settings, model_parallelism

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
    from serving.db import engine as db
    from serving.security.auth import create_key as make

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


def encode_requests(port: int, key: str, texts: list[str]) -> list[bytes]:
    """One pre-encoded single-item POST /v1/classify per text (the client then only writes bytes)."""
    out = []
    for i, text in enumerate(texts):
        body = json.dumps({"items": [{"id": str(i), "text": text}]}, ensure_ascii=False).encode("utf-8")
        head = (f"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        out.append(head.encode("ascii") + body)
    return out


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request on a keep-alive connection, read the whole response, return its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def measure_single(port: int, requests: list[bytes], n: int) -> list[float]:
    latencies = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(n):
            start = time.perf_counter()
            status = await exchange(reader, writer, requests[i % len(requests)])
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise SystemExit(f"request failed with HTTP {status}")
    finally:
        writer.close()
    return latencies


async def measure_concurrent(port: int, requests: list[bytes], clients: int, seconds: float) -> tuple[int, float, int]:
    """(items done, elapsed seconds, errors) with `clients` connections each keeping one request in flight."""
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(c: int) -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = c
        try:
            while time.perf_counter() < stop_at:
                if await exchange(reader, writer, requests[i % len(requests)]) == 200:
                    done += 1
                else:
                    errors += 1
                i += clients
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return done, time.perf_counter() - start, errors


def server_batch_totals(base: str) -> tuple[float, float]:
    """(items, model calls) so far, from the server's batch-size histogram."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    values = {"triage_batch_size_sum": 0.0, "triage_batch_size_count": 0.0}
    for line in text.splitlines():
        if line.startswith(tuple(values)):
            name, value = line.split(" ", 1)
            values[name] = float(value)
    return values["triage_batch_size_sum"], values["triage_batch_size_count"]


def measure_raw(
    bundle: Path, texts: list[str], chunk_sizes: list[int], seconds: float, workers: int, threads: int
) -> tuple[float, dict[int, float]]:
    """Runtime throughput without HTTP, in items/s: (whole pool, {chunk size: chunks of that size}).

    ``workers`` threads share one Classifier with ``threads`` ONNX Runtime threads, each predicting
    its shard of the pool (whole-pool figure: every shard in one call, length-sorted, the runtime's
    best case) or consecutive chunks (the server's largest micro-batch; the server's mean batch).
    """
    batch_size = max(chunk_sizes)
    import threading

    from classifier.runtime import Classifier

    clf = Classifier.load(bundle, threads=threads, batch_size=batch_size)
    clf.predict(texts[:batch_size])  # warm-up
    shards = [texts[w::workers] for w in range(workers)]

    def run(work) -> float:  # noqa: ANN001 - work(shard, step) -> items done
        counts = [0] * workers
        stop_at = time.perf_counter() + seconds

        def loop(w: int) -> None:
            step = 0
            while counts[w] == 0 or time.perf_counter() < stop_at:
                counts[w] += work(shards[w], step)
                step += 1

        pool = [threading.Thread(target=loop, args=(w,)) for w in range(workers)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return sum(counts) / (time.perf_counter() - start)

    def whole(shard, _step):  # noqa: ANN001, ANN202
        clf.predict(shard)
        return len(shard)

    def chunks_of(size: int):  # noqa: ANN202
        def chunk(shard, step):  # noqa: ANN001, ANN202
            at = (step * size) % len(shard)
            clf.predict([shard[(at + k) % len(shard)] for k in range(size)])
            return size

        return chunk

    return run(whole), {size: run(chunks_of(size)) for size in chunk_sizes}


def measure_in_process_latency(bundle: Path, texts: list[str], n: int, threads: int) -> list[float]:
    """Seconds per ``Classifier.predict([text])`` on one session with ``threads`` ONNX threads,
    for the first ``n`` texts of the pool in order (as the single-request run sends them)."""
    from classifier.runtime import Classifier

    clf = Classifier.load(bundle, threads=threads)
    for text in texts[:20]:  # warm-up, as the server's
        clf.predict([text])
    latencies = []
    for i in range(n):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        clf.predict([text])
        latencies.append(time.perf_counter() - start)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--texts", type=Path, default=REPO / "data" / "labeled" / "dev.jsonl")
    parser.add_argument("--single", type=int, default=300, help="sequential single-item requests")
    parser.add_argument("--clients", default="16,64",
                        help="concurrent clients, comma-separated; the first is the headline figure")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the concurrent and raw runs")
    parser.add_argument("--batch-size", type=int, default=64, help="server micro-batch max size = raw batch size")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()

    clients = [int(c) for c in args.clients.split(",")]
    texts = load_texts(args.texts, 2000, 5000)
    cores = os.cpu_count() or 1
    workers, threads = model_parallelism(Settings(_env_file=None))
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        key = create_key(database_url)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "TRIAGE_RATE_LIMIT_PER_MINUTE": "0",
               "TRIAGE_LOG_LEVEL": "WARNING", "TRIAGE_BATCH_MAX_SIZE": str(args.batch_size)}
        proc = start_server(args.bundle, port, env)
        base = f"http://127.0.0.1:{port}"
        requests = encode_requests(port, key, texts)
        try:
            asyncio.run(measure_single(port, requests, 20))  # warm-up
            # the same texts in the same order as the in-process run below (warm-up included)
            latencies = asyncio.run(measure_single(port, requests[20:] + requests[:20], args.single))
            concurrent = {}  # clients -> (items/s, errors, mean server batch, client CPU share)
            for n in clients:
                items_before, calls_before = server_batch_totals(base)
                cpu_before = time.process_time()
                done, elapsed, errors = asyncio.run(measure_concurrent(port, requests, n, args.seconds))
                client_cpu = (time.process_time() - cpu_before) / elapsed
                items_after, calls_after = server_batch_totals(base)
                mean_batch = (items_after - items_before) / max(1.0, calls_after - calls_before)
                concurrent[n] = (done / elapsed, errors, mean_batch, client_cpu)
        finally:
            stop_server(proc)

    served, errors, mean_batch, client_cpu = concurrent[clients[0]]
    in_process = measure_in_process_latency(args.bundle, texts[20:] + texts[:20], args.single, cores)
    at_mean = max(1, round(mean_batch))
    # The runtime alone, in the two layouts: every core in one call at a time, and the server's.
    raw_single, raw_single_chunked = measure_raw(args.bundle, texts, [args.batch_size], args.seconds, 1, cores)
    raw_server, raw_server_chunked = measure_raw(
        args.bundle, texts, sorted({args.batch_size, at_mean}), args.seconds, workers, threads
    )
    raw = max(raw_single, raw_server)
    raw_batch = max(raw_single_chunked[args.batch_size], raw_server_chunked[args.batch_size])
    results = {
        "bundle": str(args.bundle),
        "cpu_count": os.cpu_count(),
        "single_requests": len(latencies),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        f"in_process_batch1_1x{cores}_p50_ms": round(percentile(in_process, 0.50) * 1000, 2),
        f"in_process_batch1_1x{cores}_p99_ms": round(percentile(in_process, 0.99) * 1000, 2),
        "concurrent_clients": clients[0],
        "served_items_per_s": round(served, 1),
        "served_errors": errors,
        "server_model_workers_x_threads": f"{workers}x{threads}",
        "server_mean_batch_size": round(mean_batch, 2),
        "load_generator_cpu_share_of_one_core": round(client_cpu, 3),
        f"raw_pool_1x{cores}_items_per_s": round(raw_single, 1),
        f"raw_batch{args.batch_size}_1x{cores}_items_per_s": round(raw_single_chunked[args.batch_size], 1),
        f"raw_pool_{workers}x{threads}_items_per_s": round(raw_server, 1),
        f"raw_batch{args.batch_size}_{workers}x{threads}_items_per_s": round(raw_server_chunked[args.batch_size], 1),
        f"raw_batch{at_mean}_{workers}x{threads}_items_per_s": round(raw_server_chunked[at_mean], 1),
        # The headline: served over the runtime's best case (whole pool, length-sorted).
        "served_to_raw_ratio": round(served / raw, 3),
        f"served_to_raw_batch{args.batch_size}_ratio": round(served / raw_batch, 3),
        # Served over the runtime on batches as large as the server formed: the HTTP, auth and
        # database cost alone (the rest of the gap is batch size, set by the number of clients).
        "served_to_raw_at_server_batch_ratio": round(served / raw_server_chunked[at_mean], 3),
    }
    # The serving targets, each a ratio measured in this run.
    served_p50, served_p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    results["target_p50_over_in_process_batch1_le_1.3"] = round(served_p50 / percentile(in_process, 0.50), 3)
    results["target_p99_over_p50_le_3"] = round(served_p99 / served_p50, 3)
    # the texts' own spread (long texts take longer): the served tail adds to this or not
    results["in_process_p99_over_p50"] = round(percentile(in_process, 0.99) / percentile(in_process, 0.50), 3)
    results[f"target_{clients[0]}_clients_over_raw_batch{args.batch_size}_ge_0.9"] = round(served / raw_batch, 3)
    for n in clients[1:]:
        rate, errs, batch, _cpu = concurrent[n]
        results[f"served_items_per_s_{n}_clients"] = round(rate, 1)
        results[f"served_errors_{n}_clients"] = errs
        results[f"server_mean_batch_size_{n}_clients"] = round(batch, 2)
        results[f"served_to_raw_ratio_{n}_clients"] = round(rate / raw, 3)
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
