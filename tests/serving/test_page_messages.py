"""The pages show an error in Chinese from the error registry (serving/http/errors.py), not from a table of
their own: every code the review page may meet has a Chinese message in the page's data block."""
from __future__ import annotations

import json
import re
from pathlib import Path

from serving.http.errors import ServingError, messages_zh, serving_errors

REPO = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
# What the review page's script calls (serving/static/review.js).
PAGE_CALLS = [("get", "/v1/review"), ("get", "/v1/items/{item}"), ("post", "/v1/items/{item}/claim"),
              ("delete", "/v1/items/{item}/claim"), ("get", "/v1/items/{item}/explanation"),
              ("post", "/v1/items/{item}/review"), ("post", "/v1/items/{item}/undo")]


def page_data(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert block, "the page has no data block"
    return json.loads(block.group(1))


def test_every_serving_error_has_a_chinese_message():
    missing = [cls.__name__ for cls in serving_errors() if not CJK.search(cls.message_zh)]
    assert not missing, f"no Chinese message (message_zh) for {missing}"
    assert ServingError.message_zh == ""  # the base is never answered


def test_every_code_the_review_page_may_show_has_a_chinese_message(api):
    shown = page_data(api.client.get("/review").text)["errors_zh"]
    assert shown == messages_zh()  # the registry's, not a copy of the page's own
    spec = api.client.get("/openapi.json").json()
    documented = set()
    for method, path in PAGE_CALLS:
        for status, response in spec["paths"][path][method]["responses"].items():
            if status.startswith(("4", "5")):
                documented |= set(re.findall(r"E\d{3}", response["description"]))
    # every error the registry can answer with, and every code the page's endpoints document
    every = {cls.code for cls in serving_errors()} | documented
    assert documented >= {"E501", "E502", "E542", "E543", "E544"} and every <= set(shown)
    assert all(CJK.search(shown[code]) for code in every)
    # the script keeps no table of its own
    script = (REPO / "serving" / "static" / "review.js").read_text(encoding="utf-8")
    assert not re.search(r'"E5\d\d"\s*:', script)


def test_the_matrix_and_insights_pages_get_the_same_messages(api):
    for path in ("/matrix", "/insights"):
        assert page_data(api.client.get(path).text)["errors_zh"] == messages_zh()
