"""Batch scoring benchmark (not a test): `triage score` end to end vs the runtime alone, one run.

    python bench/bench_score.py [--bundle models/default] [--rows 4000] [--format csv]

Both sides get the same texts (dev + train, repeated up to --rows) and the same Classifier:

1. runtime: ``Classifier.predict`` over chunks of 256 texts (the scorer's chunk size), nothing else;
2. score: ``classifier.batch.score.score_file`` from an input file to an output file of --format, with
   reading, priority and routing per row, the checkpoint (fsync per chunk) and the final write.

It prints rows/s of each, their ratio (the scorer's overhead over the model), and the peak RSS.
It also replays the model's predictions through the scorer (a predictor that only looks them up),
which times everything but the model — reading, rules, checkpoint, writing — per row: the part
of the ratio that is the scorer's own, and much less at the mercy of a busy machine.
With ``--repeat R`` the two sides alternate R times and each side's best round counts (and every
round's ratio is printed): on a machine shared with other work, a single pair of runs measures the
neighbours' load as much as the scorer.

    python bench/bench_score.py --engine ray [--rows 2000]

also scores the same file with ``--engine ray`` on a local Ray instance with 1 and with 2 actors
(one CPU and one ONNX Runtime thread each) and prints rows/s of each beside the local engine's
(which uses every core in one process), the ratios, and the peak RSS of one actor after it has
loaded the bundle and scored the file's chunks (the memory each Ray worker needs).
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class _Replay:
    """The classifier's predictions for ``texts``, computed once, then only looked up."""

    def __init__(self, clf, texts):
        self.model_version = clf.model_version
        self.by_text = {}
        for at in range(0, len(texts), 256):
            chunk = texts[at:at + 256]
            self.by_text.update(zip(chunk, clf.predict(chunk)))

    def predict(self, texts):
        return [self.by_text[t] for t in texts]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--format", default="csv", choices=["csv", "jsonl", "xlsx", "parquet"])
    ap.add_argument("--repeat", type=int, default=1, help="alternate runtime and score this many times; best of each")
    ap.add_argument("--engine", default="local", choices=["local", "ray"], help="ray: also Ray with 1 and 2 actors")
    ap.add_argument("--rounds", type=int, default=2, help="with --engine ray: alternating rounds, best of each kept")
    args = ap.parse_args()

    from classifier.priority import PriorityMatrix
    from classifier.routing import Router
    from classifier.runtime import Classifier
    from classifier.batch.score import ScoreOptions, score_file
    from classifier.io.tables import write_table

    texts = []
    for name in ("dev.jsonl", "train.jsonl"):
        with (REPO / "data" / "labeled" / name).open(encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    texts = (texts * (args.rows // len(texts) + 1))[: args.rows]
    clf = Classifier.load(args.bundle, batch_size=64)
    clf.predict(texts[:64])  # warm-up
    options = ScoreOptions()

    matrix = PriorityMatrix.from_yaml(REPO / "configs" / "priority.yaml")
    router = Router.from_yaml(REPO / "configs" / "routing.yaml")
    runtime_rates, score_rates = [], []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"in.{args.format}"
        channels = ["app", "hotline", "12378", "wechat"]
        write_table(src, [{"id": f"r{i}", "text": t, "channel": channels[i % 4]} for i, t in enumerate(texts)],
                    ["id", "text", "channel"])
        for round_ in range(args.repeat):
            start = time.perf_counter()
            for at in range(0, len(texts), options.chunk_size):
                clf.predict(texts[at:at + options.chunk_size])
            runtime_rates.append(len(texts) / (time.perf_counter() - start))
            if round_ == 0:
                start = time.perf_counter()
                replay = _Replay(clf, texts)
                model_ms = 1000 * (time.perf_counter() - start) / len(texts)

            out = Path(tmp) / f"out{round_}.{args.format}"
            start = time.perf_counter()
            summary = score_file(src, out, clf, matrix, router, options)
            score_rates.append(summary.rows / (time.perf_counter() - start))
            out_mb = out.stat().st_size / 1e6
            if args.repeat > 1:
                print(f"round {round_ + 1}: runtime {runtime_rates[-1]:.1f} rows/s, score {score_rates[-1]:.1f} rows/s, "
                      f"ratio {score_rates[-1] / runtime_rates[-1]:.3f}")
        start = time.perf_counter()
        score_file(src, Path(tmp) / f"replayed.{args.format}", replay, matrix, router, options)
        overhead_ms = 1000 * (time.perf_counter() - start) / len(texts)
        ray_results = {}
        if args.engine == "ray":
            def run_local() -> float:
                began = time.perf_counter()
                done = score_file(src, out, clf, matrix, router, options)
                return done.rows / (time.perf_counter() - began)

            ray_results = bench_ray(args.bundle, src, Path(tmp), options, run_local, out, args.rounds)
    runtime, scored = max(runtime_rates), max(score_rates)

    results = {
        "rows": len(texts),
        "format": args.format,
        "rounds": args.repeat,
        "runtime_rows_per_s": round(runtime, 1),
        "score_rows_per_s": round(scored, 1),
        "score_to_runtime_ratio": round(scored / runtime, 3),
        "model_ms_per_row": round(model_ms, 3),
        "scorer_overhead_ms_per_row": round(overhead_ms, 3),
        "ratio_from_overhead": round(model_ms / (model_ms + overhead_ms), 3),
        "output_mb": round(out_mb, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    results.update(ray_results)
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    return 0


def _same_output(a: Path, b: Path) -> bool:
    """Every cell equal, except the deadlines: with no received_at column they count from the
    time of scoring, which differs between two runs a minute apart."""
    from classifier.io.tables import read_records

    def cells(path: Path) -> list:
        return [{k: v for k, v in (record or {}).items() if k not in ("respond_by", "resolve_by")}
                for _, record, _ in read_records(path)]

    return cells(a) == cells(b)


def bench_ray(bundle: Path, src: Path, tmp: Path, options, run_local, local_out: Path, rounds: int) -> dict:  # noqa: ANN001
    """Local engine and Ray with 1 and 2 actors in alternating rounds (best of each: this 2-core VM
    is shared, and interleaving keeps a busy minute from favouring one side), plus one actor's
    steady-state rate (no pool start-up) and its peak RSS."""
    import dataclasses
    import pickle

    import ray

    from classifier.batch.ray_engine import ScoreActor, init_ray, score_file_ray
    from classifier.batch.score import read_input

    priority, routing = REPO / "configs" / "priority.yaml", REPO / "configs" / "routing.yaml"
    init_ray(num_cpus=2)
    best: dict[str, float] = {}
    identical = True
    try:
        for _ in range(rounds):
            best["local"] = max(best.get("local", 0.0), run_local())
            for actors in (1, 2):
                out = tmp / f"ray{actors}{src.suffix}"
                start = time.perf_counter()  # includes starting the actor pool, as a CLI run does
                summary = score_file_ray(src, out, bundle, priority, routing, options, actors=actors)
                rate = summary.rows / (time.perf_counter() - start)
                best[f"ray{actors}"] = max(best.get(f"ray{actors}", 0.0), rate)
                identical &= _same_output(out, local_out)
        # One actor as Ray runs it: steady-state rows/s over every chunk of the file, then its peak RSS.
        table = read_input(src, options)
        rows = table.rows
        context = pickle.dumps(dataclasses.replace(table, rows=[]))
        actor = ray.remote(num_cpus=1)(ScoreActor).remote(str(bundle), str(priority), str(routing), options, context, 1)
        chunks = [pickle.dumps(rows[at:at + options.chunk_size]) for at in range(0, len(rows), options.chunk_size)]
        ray.get(actor.__call__.remote({"chunk": chunks[:1]}))  # warm-up
        start = time.perf_counter()
        ray.get(actor.__call__.remote({"chunk": chunks}))
        steady = len(rows) / (time.perf_counter() - start)
        rss = ray.get(actor.peak_rss_mb.remote())
    finally:
        ray.shutdown()
    return {
        "local_best_rows_per_s": round(best["local"], 1),
        "ray_1_actor_rows_per_s": round(best["ray1"], 1),
        "ray_2_actor_rows_per_s": round(best["ray2"], 1),
        "ray_1_actor_to_local_ratio": round(best["ray1"] / best["local"], 3),
        "ray_2_actor_to_local_ratio": round(best["ray2"] / best["local"], 3),
        "ray_2_to_1_actor_ratio": round(best["ray2"] / best["ray1"], 3),
        "ray_output_identical_to_local": identical,
        "ray_actor_steady_rows_per_s": round(steady, 1),
        "ray_actor_peak_rss_mb": round(rss, 1),
    }


if __name__ == "__main__":
    raise SystemExit(main())
