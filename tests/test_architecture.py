"""The repository's static rules, checked where CI runs them (pytest):

- the import contracts of pyproject.toml ([tool.importlinter]): serving -> classifier <- training, the
  runtime and the service never import torch, training/ is one-way layers, and the modules of
  classifier/, training/ and serving/ import each other in no cycle, and serving/ is features (classify,
  review, insights, ops) over a platform (http, security, db, inference), features never importing each
  other. A new import that breaks one fails here, with the path it took;
- migrations are self-contained: a revision never imports application code, so it migrates the same way
  whatever that code becomes;
- ruff ([tool.ruff]: pyflakes and pycodestyle) is clean over the whole checkout.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str | None:
    beside = Path(sys.executable).with_name("lint-imports")  # this interpreter's venv first
    return str(beside) if beside.is_file() else shutil.which("lint-imports")


def test_import_contracts_are_kept():
    tool = _lint_imports()
    if tool is None:
        pytest.skip("lint-imports is not installed: pip install 'feedback-triage[dev]' (import-linter)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # --no-cache: nothing written into the checkout
    result = subprocess.run([tool, "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # the contracts this repository relies on were all checked (a renamed contract must not drop out)
    for name in ("imports neither training nor serving", "never import torch", "training is layered",
                 "no import cycle", "features over the platform"):
        assert f"{name}" in result.stdout
    assert " BROKEN" not in result.stdout


def test_migrations_import_no_application_code():
    import ast

    versions = sorted((ROOT / "serving" / "db" / "migrations" / "versions").glob("[0-9]*.py"))
    assert versions, "no migration found"
    for path in versions:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in {"serving", "classifier", "training"}, f"{path.name} imports {name}"


def test_ruff_is_clean():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed: pip install 'feedback-triage[dev]'")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
