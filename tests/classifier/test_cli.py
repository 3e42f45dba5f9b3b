"""The ``triage`` root on a partial install: a command whose extra is missing says which to install."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI in a fresh interpreter in which the named packages cannot be imported, as on a
# machine where their extra was never installed.
_WITHOUT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
from classifier.cli import main
sys.exit(main({argv!r}))
"""


def run_without(blocked: list[str], argv: list[str]) -> subprocess.CompletedProcess:
    code = _WITHOUT.format(blocked=blocked, argv=argv)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv,blocked,extra", [
    (["keys", "create", "--role", "ingest"], ["sqlalchemy"], "serve"),  # fails while registering
    (["review", "export", "--out", "x.jsonl"], ["sqlalchemy"], "serve"),  # fails when run
    (["train", "--config", "configs/train-tiny.yaml"], ["torch"], "train"),
])
def test_a_missing_extra_is_named(argv, blocked, extra):
    result = run_without(blocked, argv)
    assert result.returncode == 2, result.stderr
    assert "[E400]" in result.stderr and f"pip install 'feedback-triage[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_other_commands_still_work_without_the_serve_extra():
    result = run_without(["sqlalchemy", "fastapi"], ["classify", "--bundle", "tests/fixtures/tiny_bundle", "花呗怎么还款"])
    assert result.returncode == 0, result.stderr
    assert "category" in result.stdout
    help_text = run_without(["sqlalchemy"], ["--help"]).stdout
    assert "(needs: pip install 'feedback-triage[serve]')" in help_text


def test_an_entry_point_naming_missing_code_does_not_break_the_other_commands():
    # As after checking out older code without reinstalling: the installed metadata names
    # a function the code does not have.
    code = """
import sys
from importlib.metadata import EntryPoint
import classifier.cli as cli
real = cli.entry_points
def fake(group):
    return [*real(group=group), EntryPoint("ghost", "classifier.batch.score_cli:register_ghost", group)]
cli.entry_points = fake
sys.exit(cli.main(sys.argv[1:]))
"""
    run = lambda *argv: subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,  # noqa: E731
                                       timeout=120)
    ghost = run("ghost", "--anything")
    assert ghost.returncode == 2 and "reinstall it (pip install -e .)" in ghost.stderr and "Traceback" not in ghost.stderr
    assert run("classify", "--bundle", "tests/fixtures/tiny_bundle", "花呗").returncode == 0
