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
            message = _missing_extra(exc, extra)
            _stub(sub, ep.name, f"(needs: pip install 'feedback-triage[{extra}]')", message)
        except AttributeError:  # the installed command list names code this checkout does not have
            message = (f"error: [E400] `{ep.name}` is registered by an older or newer install of this package; "
                       "reinstall it (pip install -e .) to match the code")
            _stub(sub, ep.name, "(broken install: pip install -e . again)", message)
    return parser


def _stub(sub: argparse._SubParsersAction, name: str, help_text: str, message: str) -> None:
    """A sub-command that only explains why it cannot run, whatever arguments it is given."""
    if name in sub.choices:  # it failed half-way through registering: start over
        sub.choices.pop(name)
    stub = sub.add_parser(name, help=help_text)
    stub.set_defaults(func=lambda args: _unavailable(message), accepts_anything=True)


def _missing_extra(exc: ImportError, extra: str) -> str:
    return (f"error: [E400] this command needs a package that is not installed ({exc.name or exc}); "
            f"install it with: pip install 'feedback-triage[{extra}]'")


def _unavailable(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "accepts_anything", False):  # a stub explains itself instead
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
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
