"""The PII corpus (tests/classifier/pii_corpus.py): every listed form is masked (target 100 %), and
texts without personal data come back unchanged. Prints the measured rates."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from classifier.text.pii import mask_text

sys.path.insert(0, str(Path(__file__).parent))
from pii_corpus import CLEAN, CORPUS  # noqa: E402 - the corpus sits beside this test


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
    if not any(at in text for at in ("@", "＠", "[at]", "(at)")):  # e-mail masks shorten the local part
        assert len(masked) == len(text)
    assert masked != text
