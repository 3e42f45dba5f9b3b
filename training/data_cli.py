"""``triage data`` sub-commands: ``triage data validate FILE [--map FIELD=COLUMN ...]``."""
from __future__ import annotations

import argparse

from training.data import FIELDS, data_version, label_distribution, load_labelled


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
        type=_mapping,
        action="append",
        default=[],
        help="read schema FIELD from the file's COLUMN (repeatable), e.g. --map text=content --map category=类别; "
        f"fields: {', '.join(FIELDS)}",
    )
    v.set_defaults(func=_validate)
    p.set_defaults(func=lambda args: _help(p))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _mapping(value: str) -> tuple[str, str]:
    field, sep, column = value.partition("=")
    if not sep or not field.strip() or not column.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=COLUMN, got {value!r}")
    return field.strip(), column.strip()


def _validate(args: argparse.Namespace) -> int:
    rows, problems = load_labelled(args.file, dict(args.column_map))
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
