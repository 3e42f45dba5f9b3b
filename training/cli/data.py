"""``triage data`` sub-commands: ``validate FILE [--map FIELD=COLUMN ...]`` and ``split``."""
from __future__ import annotations

import argparse

from classifier.io.columns import parse_pair
from training.data.schema import FIELDS, data_version, label_distribution, load_labelled


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="check labelled data files", description="Check labelled data files.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")

    v = sub.add_parser(
        "validate",
        help="list every bad row of a labelled file (JSONL, CSV, XLSX, Parquet)",
        description="Validate a labelled file against the schema: prints every bad row and exits 1, "
        "or prints a one-line summary and exits 0.",
    )
    v.add_argument("file", metavar="FILE", help="a .jsonl, .csv, .xlsx or .parquet file")
    v.add_argument(
        "--map",
        dest="column_map",
        metavar="FIELD=COLUMN",
        type=parse_pair,
        action="append",
        default=[],
        help="read schema FIELD from the file's COLUMN (repeatable), e.g. --map text=content --map category=类别; "
        f"fields: {', '.join(FIELDS)}",
    )
    v.set_defaults(func=_validate)

    s = sub.add_parser(
        "split",
        help="draw the fixed train/dev/test split from the maintainers' files (see training/data/splits.py)",
        description="Pool the maintainers' labelled files, draw a stratified test split (only from --test-from "
        "files) and dev split, write them with a manifest (hashes, recipe, distributions, test text keys).",
    )
    s.add_argument("--sources", nargs="+", default=["data/maintainers/train.jsonl", "data/maintainers/dev.jsonl",
                                                    "data/maintainers/forum_new.jsonl"])
    s.add_argument("--test-from", nargs="+", default=["data/maintainers/dev.jsonl", "data/maintainers/forum_new.jsonl"],
                   help="files whose rows may go to test (rows the previous bundle never trained on)")
    s.add_argument("--hard", nargs="*", default=["data/maintainers/round4.jsonl"],
                   help="files chosen by active learning (not a sample of traffic): a stratified "
                   "--hard-test-fraction becomes test_hard, the rest joins train; never test or dev")
    s.add_argument("--hard-test-fraction", type=float, default=0.20)
    s.add_argument("--out", default="data/labeled", help="folder for train/dev/test.jsonl and manifest.json")
    s.add_argument("--seed", type=int, default=20261206)
    s.add_argument("--test-fraction", type=float, default=0.15)
    s.add_argument("--dev-fraction", type=float, default=0.10)
    s.set_defaults(func=_split)
    p.set_defaults(func=lambda args: _help(p))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _validate(args: argparse.Namespace) -> int:
    notes: list[str] = []
    rows, problems = load_labelled(args.file, dict(args.column_map), notes)
    for note in notes:
        print(f"{args.file}: {note}")
    if problems:
        for problem in problems:
            print(problem)
        bad_lines = len({p.line for p in problems})
        print(f"{args.file}: {len(problems)} problems on {bad_lines} lines ({len(rows)} rows valid)")
        return 1
    heads = "; ".join(
        f"{head} " + " ".join(f"{label}={count}" for label, count in counts.items())
        for head, counts in label_distribution(rows).items()
    )
    print(f"{args.file}: {len(rows)} rows OK (version {data_version(args.file)}); {heads}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.data.splits import SplitRecipe, SplitOverlap, write_split

    recipe = SplitRecipe(seed=args.seed, test_fraction=args.test_fraction, dev_fraction=args.dev_fraction,
                         sources=list(args.sources), test_from=list(args.test_from),
                         hard=list(args.hard), hard_test_fraction=args.hard_test_fraction)
    try:
        manifest = write_split(recipe, Path(args.out))
    except SplitOverlap as exc:
        for problem in exc.problems[:20]:
            print(problem)
        print(f"{len(exc.problems)} rows overlap between or within splits: fix the sources first")
        return 1
    for name in manifest["splits"]:
        m = manifest["splits"][name]
        print(f"{name}: {m['rows']} rows (version {m['data_version']}); urgency {m['urgency']}; category {m['category']}")
    return 0
