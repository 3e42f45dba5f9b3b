"""The pages' templates (serving/templates/) and their scripts and styles (serving/static/), as package
data, rendered by one jinja Environment.

Why files and not Python strings: the Content-Security-Policy of the pages can then forbid inline
script and style (serving/http/middleware.py). A page's scripts are /static files; what a script
needs from the server (names, keyboard keys, messages) is in the page as a
``<script type="application/json" id="page-data">`` block, which the browser never executes.

Static files are served under /static. The pages link them as ``/static/NAME?v=HASH`` (the first 12
hex digits of the file's SHA-256), so a browser may keep them for a year (``immutable``): a new
release changes the link. Without ``v`` (a hand-typed URL) the answer must be revalidated
(``no-cache``, with the ETag).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from classifier.labels import DISPLAY_ZH
from classifier.priority import QUADRANTS

STATIC = "/static"

# The quadrants in the matrix's order, as every page names them (classifier.labels.DISPLAY_ZH).
QUADRANT_ZH = {q: DISPLAY_ZH[q] for q in QUADRANTS}
_CACHE_VERSIONED = "public, max-age=31536000, immutable"
_CACHE_PLAIN = "no-cache"


@lru_cache(maxsize=None)
def static_url(name: str) -> str:
    """``/static/NAME?v=HASH`` for a file in serving/static/."""
    data = resources.files("serving").joinpath("static", name).read_bytes()
    return f"{STATIC}/{name}?v={hashlib.sha256(data).hexdigest()[:12]}"


@lru_cache(maxsize=1)
def environment():  # noqa: ANN201 - jinja2.Environment, imported here: the base install has no jinja2
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("serving", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=False, keep_trailing_newline=True)
    env.globals["static"] = static_url
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}  # still HTML-safe (<, >, &, ')
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


class _StaticFiles(StaticFiles):
    def file_response(self, full_path, stat_result, scope: Scope, status_code: int = 200) -> Response:  # noqa: ANN001
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = _CACHE_VERSIONED if versioned else _CACHE_PLAIN
        return response


def install(app: FastAPI) -> None:
    app.mount(STATIC, _StaticFiles(packages=[("serving", "static")]), name="static")
