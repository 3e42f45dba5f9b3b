"""``triage data`` sub-commands: ``validate FILE [--map FIELD=COLUMN ...]`` and ``split``."""
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

    s = sub.add_parser(
        "split",
        help="draw the fixed train/dev/test split from the maintainers' files (see training/splits.py)",
        description="Pool the maintainers' labelled files, draw a stratified test split (only from --test-from "
        "files) and dev split, write them with a manifest (hashes, recipe, distributions, test text keys).",
    )
    s.add_argument("--sources", nargs="+", default=["data/maintainers/train.jsonl", "data/maintainers/dev.jsonl",
                                                    "data/maintainers/forum_new.jsonl"])
    s.add_argument("--test-from", nargs="+", default=["data/maintainers/dev.jsonl", "data/maintainers/forum_new.jsonl"],
                   help="files whose rows may go to test (rows the previous bundle never trained on)")
    s.add_argument("--out", default="data/labeled", help="folder for train/dev/test.jsonl and manifest.json")
    s.add_argument("--seed", type=int, default=20261206)
    s.add_argument("--test-fraction", type=float, default=0.15)
    s.add_argument("--dev-fraction", type=float, default=0.10)
    s.set_defaults(func=_split)
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


def _split(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from training.data import read_labelled_files
    from training.splits import (MANIFEST_NAME, SPLITS, SplitRecipe, check_disjoint, distribution, make_splits,
                                 text_key, write_jsonl)

    recipe = SplitRecipe(seed=args.seed, test_fraction=args.test_fraction, dev_fraction=args.dev_fraction,
                         sources=list(args.sources), test_from=list(args.test_from))
    pool = read_labelled_files(recipe.sources)
    # the maintainers' files carry an `annotation` field (guideline version of the label): keep it
    raw = {}
    for path in recipe.sources:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    record = json.loads(line)
                    raw[str(record["id"])] = record
    candidates = {r["id"] for r in read_labelled_files(recipe.test_from)}
    splits = make_splits(pool, candidates, recipe)
    problems = check_disjoint(splits)
    if problems:
        for p in problems[:20]:
            print(p)
        print(f"{len(problems)} rows overlap between or within splits: fix the sources first")
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"recipe": recipe.to_dict(), "splits": {}}
    for name in SPLITS:
        path = out / f"{name}.jsonl"
        write_jsonl(({**r, **({"annotation": raw[r["id"]]["annotation"]} if "annotation" in raw[r["id"]] else {})}
                     for r in splits[name]), path)
        manifest["splits"][name] = {"file": path.name, "data_version": data_version(path),
                                    "sha256": __import__("hashlib").sha256(path.read_bytes()).hexdigest(),
                                    **distribution(splits[name])}
    manifest["test_text_keys"] = sorted(text_key(r["text"]) for r in splits["test"])
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in SPLITS:
        m = manifest["splits"][name]
        print(f"{name}: {m['rows']} rows (version {m['data_version']}); urgency {m['urgency']}; category {m['category']}")
    return 0
