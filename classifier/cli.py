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

from classifier.errors import FileAccessError, TriageError


# The extra that installs what a package's commands need.
EXTRAS = {"serving": "serve", "training": "train"}


def _extra_of(module: str) -> str:
    return EXTRAS.get(module.split(".", 1)[0], "train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description="Triage Chinese financial customer feedback.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="feedback_triage.commands"), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except ImportError as exc:  # the extra that provides it is not installed
            extra = _extra_of(ep.module)
            if ep.name in sub.choices:  # it failed half-way through registering: start over
                sub.choices.pop(ep.name)
            stub = sub.add_parser(ep.name, help=f"(needs: pip install 'feedback-triage[{extra}]')")
            stub.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            stub.set_defaults(func=lambda args, exc=exc, extra=extra: _unavailable(exc, extra))
    return parser


def _missing_extra(exc: ImportError, extra: str) -> str:
    return (f"error: [E400] this command needs a package that is not installed ({exc.name or exc}); "
            f"install it with: pip install 'feedback-triage[{extra}]'")


def _unavailable(exc: ImportError, extra: str) -> int:
    print(_missing_extra(exc, extra), file=sys.stderr)
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
    except OSError as exc:  # a path that cannot be read or written: a message, not a traceback
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: [{FileAccessError.code}] cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ImportError as exc:  # an optional extra is missing (e.g. torch for `triage train`)
        print(_missing_extra(exc, _extra_of(args.func.__module__)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
