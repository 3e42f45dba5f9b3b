"""Does a text hold anything to classify? (E210 when not.)

Normalization (classifier.text.normalize) removes only control and zero-width characters; a text made
of other invisible characters (word joiner U+2060, soft hyphen, Hangul filler, braille blank,
variation selectors, tag characters, bidi isolates, lone combining marks, private-use code
points) survives it, and the model then gives a confident answer about nothing. Rather than
change normalization (which training and the test split's hashes depend on), inputs are checked
here, by Unicode category, the same way in the service (serving/http/schemas.py) and the runtime
(classifier/runtime.py): a text needs at least one character that is not one of these.
"""
from __future__ import annotations

import unicodedata

# Format (Cf: U+2060, U+00AD, U+180E, U+2066..2069, U+FFF9, tags U+E0001..), control (Cc),
# surrogate (Cs), private use (Co), unassigned (Cn), separators (Zs, Zl, Zp) and marks without a
# base character (Mn: U+0300, U+034F, variation selectors U+FE00..FE0F; Me: enclosing marks).
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters by category that render as blank: Hangul fillers and the braille blank pattern.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_invisible(ch: str) -> bool:
    return ch in BLANK_LETTERS or ch.isspace() or unicodedata.category(ch) in INVISIBLE_CATEGORIES


def has_visible_text(text: str) -> bool:
    """True when ``text`` holds a character that is neither whitespace nor invisible, after NFKC
    (what normalization does first: a lone spacing diaeresis "¨" becomes a space and a combining
    mark, which is nothing to classify)."""
    return any(not is_invisible(ch) for ch in unicodedata.normalize("NFKC", text))
