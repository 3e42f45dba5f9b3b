"""Text normalization shared by training and inference (the only copy).

NFKC (which also folds full-width ASCII to half width), traditional → simplified Chinese via
OpenCC's ``t2s`` table, control characters removed and whitespace runs collapsed. Unpaired
surrogates (not characters: what a broken decoding or a JSON ``"\\ud800"`` escape leaves behind)
are removed too; the tokenizer cannot take them.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff]")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s():
    import opencc  # opencc-python-reimplemented: pure Python, no native build

    return opencc.OpenCC("t2s")


def normalize_text(text: str) -> str:
    """Return the canonical form of ``text`` that every model component sees."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    text = _t2s().convert(text)
    return _SPACE.sub(" ", text).strip()
