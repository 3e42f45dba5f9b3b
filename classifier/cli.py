"""``triage`` command-line entry point.

Sub-commands are plugged in through the ``feedback_triage.commands`` entry-point group (see
pyproject.toml): each entry is a ``register(subparsers)`` function that adds one sub-command and
sets ``func`` on it. The root never imports training/ or serving/ directly, and a sub-command whose
extra is not installed fails with an actionable message instead of breaking the whole CLI.
"""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from classifier.errors import TriageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description="Triage Chinese financial customer feedback.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="feedback_triage.commands"), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except ImportError as exc:  # the extra that provides it is not installed
            stub = sub.choices.get(ep.name) or sub.add_parser(ep.name, help=f"(unavailable: {exc})")
            stub.set_defaults(func=lambda args, exc=exc: _unavailable(exc))
    return parser


def _unavailable(exc: Exception) -> int:
    print(f"error: this command needs an optional dependency: {exc}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TriageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.details:
            details = exc.details if isinstance(exc.details, list) else [exc.details]
            for item in details[:200]:
                print(f"  {item}", file=sys.stderr)
            if len(details) > 200:
                print(f"  … and {len(details) - 200} more", file=sys.stderr)
        return 1
    except ImportError as exc:  # an optional extra is missing (e.g. torch for `triage train`)
        print(f"error: [E400] this command needs a package that is not installed ({exc.name or exc}); "
              "install the matching extra, e.g. pip install 'feedback-triage[train]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
