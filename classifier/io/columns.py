"""Column mapping: which column of a user's file holds a field the tools know by name.

One home for ``--map`` (``triage data validate``, ``triage score``): exports come with their own
headers (内容, 渠道, 客户等级), and the rules and the schema use fixed names (text, channel,
customer_tier). A pair is written ``FIELD=COLUMN``; ``triage score`` also takes ``COLUMN=FIELD``
when only one side is a column of the file (``--map 渠道=channel``), as analysts tend to write it.
"""
from __future__ import annotations

import argparse
from typing import Iterable, Sequence

from classifier.errors import ColumnMapError


def parse_pair(value: str) -> tuple[str, str]:
    """``"a=b"`` → ``("a", "b")``; an argparse ``type`` (a malformed pair is a usage error)."""
    left, sep, right = value.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=COLUMN, got {value!r}")
    return left.strip(), right.strip()


def orient(pairs: Iterable[tuple[str, str]], columns: Sequence[str]) -> dict[str, str]:
    """``{field: column}`` from ``--map`` pairs against the file's ``columns``.

    ``FIELD=COLUMN`` is read as written when COLUMN is a column of the file; otherwise, when FIELD
    is one and COLUMN is not, the pair is ``COLUMN=FIELD``. A pair naming no column, or two pairs
    for one field, is a ``ColumnMapError`` (E232) that lists the file's columns.
    """
    present = set(columns)
    mapping: dict[str, str] = {}
    for left, right in pairs:
        if right in present:
            field, column = left, right
        elif left in present:
            field, column = right, left
        else:
            raise ColumnMapError(
                f"--map {left}={right}: neither {left!r} nor {right!r} is a column of the file "
                f"(columns: {', '.join(columns) or 'none'})", details={"map": f"{left}={right}"})
        if field in mapping and mapping[field] != column:
            raise ColumnMapError(f"--map: field {field!r} is mapped to both {mapping[field]!r} and {column!r}",
                                 details={"field": field})
        mapping[field] = column
    return mapping
