"""``triage score INPUT --out OUTPUT``: batch-score a CSV / Excel / JSONL / Parquet file.

Progress goes to stderr (one line about every two seconds, or an updating line on a terminal); the
summary is printed as JSON on stdout when the run ends, warnings (a metadata key the rules use
that the file lacks) on stderr. Ctrl-C keeps every finished chunk in the checkpoint and says how
to resume.

Exit status: 0 done; 1 a file-level error (its code on stderr); 2 usage; 130 interrupted; 3 the
output was written but input records and output rows do not add up (``E233``; the summary's
``accounted`` is false) — never expected, and never to be ignored.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from classifier.io.columns import parse_pair
from classifier.errors import RecordsUnaccounted, ScoreOptionError
from classifier.resources import default_bundle, default_priority_config, default_routing_config

EXIT_UNACCOUNTED = 3


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "score", help="batch-score a CSV / Excel / JSONL / Parquet file (resumable, shardable)",
        description="Classify every row of a table file, add priority and route, keep the input's columns. "
                    "Formats follow the file extensions (.csv .xlsx .jsonl .parquet).",
    )
    p.add_argument("input", type=Path, help="file to score")
    p.add_argument("--out", type=Path, required=True, help="output file (.csv .xlsx .jsonl .parquet)")
    p.add_argument("--text-column", default="text", help="column (JSON key) holding the text (default: text)")
    p.add_argument("--id-column", default="id", help="column kept as the row's id, not used as rule metadata (default: id)")
    p.add_argument("--map", dest="column_map", metavar="FIELD=COLUMN", type=parse_pair, action="append", default=[],
                   help="read FIELD (text, id, received_at, or a metadata key the rules use: channel, customer_tier, amount) from "
                        "the file's COLUMN, repeatable: --map channel=渠道 --map customer_tier=客户等级 "
                        "(COLUMN=FIELD is understood too)")
    p.add_argument("--sheet", help="Excel: the sheet to score (default: the first whose header row holds the text "
                                   "column; title and empty rows above the header are skipped)")
    p.add_argument("--encoding", default="auto",
                   help="CSV/JSONL encoding: auto (BOM, UTF-8, else detected: GBK/GB18030, UTF-16, …; the default) "
                        "or a codec name such as gb18030, gbk, utf-16, big5")
    p.add_argument("--labels", choices=["en", "zh"], default="en",
                   help="label names in the output: en (product_service, negative, …) or zh (产品及服务质量, 负面, …)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT.partial.jsonl")
    p.add_argument("--shard", default="1/1", metavar="K/N",
                   help="score only every N-th row starting at the K-th, e.g. 2/4 on the second of four machines")
    p.add_argument("--scores", action="store_true", help="also write every class score (category_score_fees, …)")
    p.add_argument("--prefix", default="", help="prefix for the added columns, e.g. pred_ when the input has `category`")
    p.add_argument("--chunk-size", type=int, default=256, help="rows per model call and checkpoint write (default 256)")
    p.add_argument("--bundle", type=Path, default=default_bundle(),
                   help="model bundle (default: TRIAGE_BUNDLE_DIR, else the shipped models/default)")
    p.add_argument("--priority-config", type=Path, default=default_priority_config(),
                   help="priority rules (default: TRIAGE_PRIORITY_CONFIG, else the shipped configs/priority.yaml)")
    p.add_argument("--routing-config", type=Path, default=default_routing_config(),
                   help="routing rules (default: TRIAGE_ROUTING_CONFIG, else the shipped configs/routing.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--verbose", action="store_true", help="with --engine ray: Ray's own log lines and progress bars too")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process (default); ray: an actor pool on Ray (pip install 'feedback-triage[distributed]')")
    p.add_argument("--address", help="with --engine ray: the cluster (HEAD:6379, auto; not ray://, E412); default RAY_ADDRESS, "
                                     "else a local Ray on this machine")
    p.add_argument("--actors", type=int, default=2, help="with --engine ray: actors, each loading the bundle once (default 2)")
    p.set_defaults(func=run)


def register_merge(subparsers) -> None:
    p = subparsers.add_parser(
        "score-merge", help="merge the outputs of `triage score --shard K/N` runs into one file, in input order",
        description="Concatenate shard outputs in input order (by their `row` column), checking that every row "
                    "occurs exactly once. Formats follow the extensions; parts may differ in format.",
    )
    p.add_argument("parts", nargs="+", type=Path, help="the shards' output files")
    p.add_argument("--out", type=Path, required=True, help="merged file (.csv .xlsx .jsonl .parquet)")
    p.add_argument("--prefix", default="", help="the --prefix the shards were scored with")
    p.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from classifier.batch.score import merge_shards

    n = merge_shards(args.parts, args.out, args.prefix)
    print(f"merged {n:,} rows from {len(args.parts)} parts into {args.out}", file=sys.stderr)
    return 0


def parse_shard(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if not match:
        raise ScoreOptionError(f"--shard must look like K/N (e.g. 2/4), got {value!r}")
    return int(match.group(1)), int(match.group(2))


class ProgressLine:
    """Rows done, rate and ETA on stderr, at most every ``every`` seconds (and at the end)."""

    def __init__(self, stream=None, every: float = 2.0):
        self.stream = stream or sys.stderr  # looked up now, not at import: it may have been replaced
        self.every = every
        self.tty = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, resumed: int, seconds: float) -> None:
        now = time.monotonic()
        if done < total and now - self._last < self.every:
            return
        self._last = now
        rate = (done - resumed) / seconds if seconds > 0 else 0.0  # this run's pace, not the checkpoint's
        eta = (total - done) / rate if rate > 0 else 0.0
        pct = 100.0 * done / total if total else 100.0
        line = f"scored {done:,}/{total:,} rows ({pct:.1f}%) · {rate:,.0f} rows/s · ETA {eta:,.0f} s"
        end = "\n" if (not self.tty or done >= total) else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from classifier.priority import PriorityMatrix
    from classifier.routing import Router
    from classifier.runtime import Classifier
    from classifier.batch.score import ScoreOptions, checkpoint_path, score_file

    options = ScoreOptions(
        text_column=args.text_column, id_column=args.id_column, shard=parse_shard(args.shard),
        chunk_size=args.chunk_size, scores=args.scores, prefix=args.prefix, encoding=args.encoding,
        column_map=tuple(args.column_map), labels=args.labels, sheet=args.sheet,
    )
    if args.engine == "ray":
        return _run_ray(args, options)
    # Rules and model are checked before any row is read: a bad file fails in seconds, not after an hour.
    matrix = PriorityMatrix.from_yaml(args.priority_config)
    router = Router.from_yaml(args.routing_config)
    classifier = Classifier.load(args.bundle, batch_size=64)
    try:
        summary = score_file(args.input, args.out, classifier, matrix, router, options, resume=args.resume,
                             progress=None if args.quiet else ProgressLine())
    except (KeyboardInterrupt, OSError) as exc:  # Ctrl-C, or e.g. a full disk: say how to go on
        checkpoint = checkpoint_path(args.out)
        if checkpoint.is_file() and checkpoint.stat().st_size:
            print(f"\n{'interrupted' if isinstance(exc, KeyboardInterrupt) else 'stopped'}: finished chunks are kept "
                  f"in {checkpoint}; run the same command with --resume to continue", file=sys.stderr)
        if isinstance(exc, KeyboardInterrupt):
            return 130
        raise  # the CLI root reports it with its code (E204)
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(summary.to_dict(), ensure_ascii=False))
    if not summary.accounted:
        print(f"error: [{RecordsUnaccounted.code}] {summary.input_records} input records ({summary.input_lines} lines, "
              f"{summary.blank_lines} blank) but {summary.output_rows} output rows ({summary.error_rows} with an error): "
              "rows may be missing; please report this with the input file", file=sys.stderr)
        return EXIT_UNACCOUNTED
    return 0


def _run_ray(args: argparse.Namespace, options) -> int:  # noqa: ANN001 - classifier.batch.score.ScoreOptions
    from classifier.batch.ray_engine import init_ray, score_file_ray

    if args.resume:
        raise ScoreOptionError("--resume is for the local engine; a Ray run scores the whole file again")
    started = init_ray(args.address, verbose=args.verbose)
    try:
        summary = score_file_ray(args.input, args.out, args.bundle, args.priority_config, args.routing_config, options,
                                 actors=args.actors, progress=None if args.quiet else ProgressLine())
    finally:
        if started:
            import ray

            ray.shutdown()
    print(json.dumps({**summary.to_dict(), "engine": "ray", "actors": args.actors}, ensure_ascii=False))
    return 0
