"""Mask personal data before anything is stored or logged.

Masked: mainland mobile numbers, resident ID-card numbers (18 digits, and the old 15-digit
form), bank-card numbers (16-19 digits) and e-mail addresses. The masks follow common Chinese desensitisation practice (keep a
few leading/trailing characters so a person can still match a record with the customer, hide the
rest): ``138****5678``, ``110***********123X``, ``622202*********0123``, ``z***@163.com``.

Matching runs on a copy where full-width digits and signs (１３８…, as typed with Chinese IMEs)
are folded to ASCII one-for-one, so positions line up with the original. Digit runs are delimited
by non-digits rather than ``\\b`` because Chinese text has no spaces around numbers
("电话13812345678谢谢"). Over-masking is preferred to leaking: an 18-digit number that looks like
an ID card is masked even if its check digit is wrong, and 16-19 digit runs are masked as cards
without a Luhn check (order numbers of that length are rare in feedback and harmless to hide).
"""
from __future__ import annotations

import re
from typing import Any, Callable

# Full-width digits, X/x, +, -, @, . and the ideographic space → ASCII (same length).
_FOLD = str.maketrans(
    {**{chr(0xFF10 + i): str(i) for i in range(10)},
     "Ｘ": "X", "ｘ": "x", "＋": "+", "－": "-", "＠": "@", "．": ".", "\u3000": " "}
)

_SEP = r"[ \-]?"  # one optional space or hyphen between digit groups: 138 1234 5678, 138-1234-5678

_ID_CARD = re.compile(
    r"(?<![0-9])"
    r"[1-9][0-9]{5}"                      # region
    r"(?:18|19|20)[0-9]{2}"               # birth year
    r"(?:0[1-9]|1[0-2])"                  # month
    r"(?:0[1-9]|[12][0-9]|3[01])"         # day
    r"[0-9]{3}[0-9Xx]"                    # sequence + check digit
    r"(?![0-9A-Za-z])"
)
# First-generation (15-digit) ID cards: region + yymmdd + 3-digit sequence, no check digit.
_ID_CARD_15 = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}(?![0-9])"
)
_BANK_CARD = re.compile(r"(?<![0-9])[0-9](?:" + _SEP + r"[0-9]){15,18}(?![0-9])")
_MOBILE = re.compile(
    r"(?<![0-9+])(?:(?:\+|00)?86" + _SEP + r")?"  # optional country code
    r"1[3-9][0-9](?:" + _SEP + r"[0-9]{4}){2}"
    r"(?![0-9])"
)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")


def _keep(head: int, tail: int) -> Callable[[str], str]:
    """Mask all digits/letters of a match except the first ``head`` and last ``tail`` of them."""

    def mask(span: str) -> str:
        positions = [i for i, ch in enumerate(span) if ch.isalnum()]
        hidden = set(positions[head: len(positions) - tail])
        return "".join("*" if i in hidden else ch for i, ch in enumerate(span))

    return mask


def _mask_mobile(span: str) -> str:
    # Keep the country code if present, then 3 + 4 digits of the number itself.
    digits = [i for i, ch in enumerate(span) if ch.isdigit()]
    number = digits[-11:]
    hidden = set(number[3:7])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(span))


def _mask_email(span: str) -> str:
    local, _, domain = span.partition("@")
    return f"{local[0]}***@{domain}"


# Order matters: an ID card (18 digits) would also match the card pattern, and a card's digits
# contain 11-digit runs only as sub-strings (excluded by the digit look-arounds).
_RULES: tuple[tuple[str, re.Pattern[str], Callable[[str], str]], ...] = (
    ("email", _EMAIL, _mask_email),
    ("id_card", _ID_CARD, _keep(3, 4)),
    ("bank_card", _BANK_CARD, _keep(6, 4)),
    ("mobile", _MOBILE, _mask_mobile),
    ("id_card", _ID_CARD_15, _keep(3, 4)),
)


def _spans(folded: str) -> list[tuple[int, int, int]]:
    """``(start, end, rule index)`` of every match, earlier rules first, without overlaps."""
    spans: list[tuple[int, int, int]] = []
    taken = [False] * len(folded)
    for index, (_, pattern, _) in enumerate(_RULES):
        for m in pattern.finditer(folded):
            if any(taken[m.start():m.end()]):
                continue
            spans.append((m.start(), m.end(), index))
            taken[m.start():m.end()] = [True] * (m.end() - m.start())
    return sorted(spans)


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` of every personal-data span, non-overlapping, in text order."""
    return [(_RULES[i][0], start, end) for start, end, i in _spans(text.translate(_FOLD))]


def mask_text(text: str) -> str:
    """``text`` with personal data masked; text without any is returned unchanged."""
    if not any(ch.isdigit() or ch in "@＠" for ch in text):  # fast path: nothing to look for
        return text
    folded = text.translate(_FOLD)
    spans = _spans(folded)
    if not spans:
        return text
    out, last = [], 0
    for start, end, index in spans:
        out.append(text[last:start])
        out.append(_RULES[index][2](folded[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_value(value: Any) -> Any:
    """Mask strings inside a JSON-like value (request metadata can carry phone numbers too)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value
