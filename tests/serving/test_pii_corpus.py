"""The PII corpus (tests/serving/pii_corpus.py): every listed form is masked (target 100 %), and
texts without personal data come back unchanged. Prints the measured rates."""
from __future__ import annotations

import pytest

from pii_corpus import CLEAN, CORPUS
from serving.pii import mask_text


def leaks(text: str, secrets: list[str]) -> list[str]:
    masked = mask_text(text)
    return [s for s in secrets if s in masked]


def test_corpus_masking_rate_is_100_percent():
    failures = {form: (mask_text(text), leaked) for form, text, secrets in CORPUS if (leaked := leaks(text, secrets))}
    rate = 1 - len(failures) / len(CORPUS)
    untouched = sum(mask_text(t) == t for t in CLEAN) / len(CLEAN)
    print(f"\nPII corpus: {len(CORPUS) - len(failures)}/{len(CORPUS)} forms masked ({rate:.1%}); "
          f"{untouched:.0%} of {len(CLEAN)} texts without personal data unchanged")
    assert not failures, failures


@pytest.mark.parametrize("text", CLEAN)
def test_text_without_personal_data_is_unchanged(text):
    assert mask_text(text) == text


@pytest.mark.parametrize("form, text, secrets", CORPUS, ids=[c[0] for c in CORPUS])
def test_masks_keep_the_rest_of_the_text(form, text, secrets):
    masked = mask_text(text)
    if "@" not in text and "＠" not in text:  # e-mail masks shorten the local part
        assert len(masked) == len(text)
    assert masked != text


def test_stored_item_ids_metadata_keys_and_notes_are_masked(api):
    r = api.classify([{"id": "13812345678", "text": "不确定 我叫王小明，电话13912345678",
                       "metadata": {"13712345678": "x", "contact": "wang@qq.com"}}])
    assert r.status_code == 200
    assert r.json()["results"][0]["id"] == "13812345678"  # the caller's own id comes back as sent
    item = api.client.get("/v1/review", headers=api.headers("supervisor")).json()["items"][0]
    assert item["item_id"] == "138****5678"
    assert item["metadata"] == {"137****5678": "x", "contact": "w***@qq.com"}
    assert "13912345678" not in item["text"] and "王小明" not in item["text"]
    export = api.client.get("/v1/review/export", headers=api.headers("supervisor")).text
    assert "13812345678" not in export and "13912345678" not in export


def test_log_lines_are_masked():
    import logging

    from serving.logs import JsonFormatter

    record = logging.LogRecord("triage.test", logging.WARNING, __file__, 1, "client sent %s", ("手机13812345678",), None)
    line = JsonFormatter().format(record)
    assert "13812345678" not in line and "138****5678" in line
