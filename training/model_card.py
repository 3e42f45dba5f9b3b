"""Sections of a bundle's model card that are written after the export.

The export writes the card; later steps add what only they can measure — the held-out test split
(`triage evaluate --card`), the speed on this machine (`bench/bench_inference.py --card`). Each owns a
section between two HTML comments, so running a step again replaces its section instead of adding
another, and the manifest is rewritten so the bundle's hashes stay true (the model version, which
hashes model.onnx, does not change).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

CARD_FILE = "MODEL_CARD.md"


def replace_card_section(bundle_dir: str | Path, start: str, end: str, lines: Sequence[str]) -> None:
    """Put ``lines`` between the ``start`` and ``end`` markers of the card (appended when missing)."""
    bundle = Path(bundle_dir)
    card_path = bundle / CARD_FILE
    card = card_path.read_text(encoding="utf-8")
    section = "\n".join([start, *lines, end])
    if start in card and end in card:
        before, rest = card.split(start, 1)
        card = before + section + rest.split(end, 1)[1]
    else:
        card = card.rstrip("\n") + "\n\n" + section + "\n"
    card_path.write_text(card, encoding="utf-8")
    refresh_manifest(bundle)


def refresh_manifest(bundle_dir: str | Path) -> None:
    """Rewrite the manifest's file hashes after a file of the bundle changed (provenance kept)."""
    from classifier.bundle import MANIFEST, write_manifest

    bundle = Path(bundle_dir)
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    write_manifest(bundle, **{k: v for k, v in manifest.items() if k not in ("files", "format_version")})
