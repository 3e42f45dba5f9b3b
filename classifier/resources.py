"""Where the shipped default bundle and rule files are, wherever ``triage`` is started from.

Before this module the defaults were paths relative to the working directory (``models/default``,
``configs/priority.yaml``), so ``triage serve`` outside the checkout failed with E101 and ``triage
score`` with E300. The defaults are now looked up, in this order:

1. the ``TRIAGE_*`` variable, when set (``TRIAGE_BUNDLE_DIR``, ``TRIAGE_PRIORITY_CONFIG``,
   ``TRIAGE_ROUTING_CONFIG``, ``TRIAGE_REVIEW_CONFIG``); a command's flag overrides both;
2. the source tree the code runs from (an editable install or a checkout: ``<repo>/models/default``;
   only where ``<repo>/pyproject.toml`` says it is one: installed, the parent is ``site-packages``,
   where another distribution's top-level ``models/`` or ``configs/`` must not be taken for ours);
3. the install's data directory (``<prefix>/share/feedback-triage/…``), where a regular
   ``pip install .`` (the Docker image) puts the same files — pyproject.toml's
   ``[tool.setuptools.data-files]``.

The jieba dictionary, by contrast, is package data (``classifier/text/lexicon/``, ``importlib.resources``
in :mod:`classifier.text.segment`): it is small and belongs to the runtime's code, not to a bundle.

Why not package data inside ``classifier/`` for these: the 63 MB bundle would have to move into the import
package (every tool, test and document names ``models/default``), and an editable install would
still read it from the tree. Data-files leave the tree as it is and cost a regular install one copy.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

DIST_NAME = "feedback-triage"
SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout, for an editable install

# relative path inside the tree / the data directory → the variable that overrides it
ENV_VARS = {
    "models/default": "TRIAGE_BUNDLE_DIR",
    "configs/priority.yaml": "TRIAGE_PRIORITY_CONFIG",
    "configs/routing.yaml": "TRIAGE_ROUTING_CONFIG",
    "configs/review.yaml": "TRIAGE_REVIEW_CONFIG",
    "data/LABELING.md": "TRIAGE_GUIDELINE_PATH",
}


def data_dirs() -> list[Path]:
    """Install data directories that may hold ``share/feedback-triage`` (venv first)."""
    prefixes = [sys.prefix, sysconfig.get_path("data"), sys.base_prefix, os.path.expanduser("~/.local")]
    seen: list[Path] = []
    for prefix in prefixes:
        path = Path(prefix) / "share" / DIST_NAME
        if path not in seen:
            seen.append(path)
    return seen


def candidates(relative: str) -> list[Path]:
    """Every place ``relative`` may be found, in the order they are tried (after the variable)."""
    in_tree = [SOURCE_ROOT / relative] if (SOURCE_ROOT / "pyproject.toml").is_file() else []
    return [*in_tree, *(d / relative for d in data_dirs())]


def resource_path(relative: str, env: bool = True) -> Path:
    """The path of a shipped file or directory (``"models/default"``, ``"configs/routing.yaml"``).

    The first candidate that exists; if none does, the relative path itself, so the error that
    follows (E101, E300) names what was looked for and the working directory is still tried.
    """
    var = ENV_VARS.get(relative)
    if env and var and os.environ.get(var):
        return Path(os.environ[var])
    for path in candidates(relative):
        if path.exists():
            return path
    return Path(relative)


def default_bundle(env: bool = True) -> Path:
    return resource_path("models/default", env=env)


def default_priority_config(env: bool = True) -> Path:
    return resource_path("configs/priority.yaml", env=env)


def default_routing_config(env: bool = True) -> Path:
    return resource_path("configs/routing.yaml", env=env)


def default_guideline() -> Path:
    return resource_path("data/LABELING.md", env=False)  # the service's Settings reads the variable
