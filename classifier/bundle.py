"""Model bundles: a directory with the ONNX model and everything needed to use it, hash-verified.

Layout::

    manifest.json      format version, model version, data version, code commit, created time,
                       sha256 + size of every other file
    model.onnx         int8 encoder + heads; inputs input_ids/attention_mask, outputs logits per head
    tokenizer.json     the (trimmed) XLM-R Unigram tokenizer
    labels.json        label sets in logit order (must equal classifier.labels.LABELS)
    calibration.json   temperatures, blend weights and abstention thresholds per head, watch
                       thresholds of high-stakes classes (classifier/review.py)
    config.json        max_length, pad id, input/output names
    metrics.json       dev metrics measured at export
    linear.npz         optional TF-IDF linear model blended with the transformer
    lexicon/…          the jieba user dictionary the bundle was trained with
    MODEL_CARD.md

Loading refuses a bundle whose files are missing, truncated or altered, naming the file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifier.errors import BundleHashMismatch, BundleLabelMismatch, BundleManifestInvalid, BundleMissingFile
from classifier.labels import HEADS, LABELS

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "labels.json", "calibration.json", "config.json")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Calibration:
    """Per-head post-processing of raw scores: blend, temperature, abstention threshold."""

    temperature: dict[str, float] = field(default_factory=lambda: {h: 1.0 for h in HEADS})
    # weight of the linear TF-IDF model's probabilities in the blend (0 = transformer only)
    blend: dict[str, float] = field(default_factory=lambda: {h: 0.0 for h in HEADS})
    # a head whose calibrated confidence is below its threshold sends the item to review
    thresholds: dict[str, float] = field(default_factory=lambda: {h: 0.0 for h in HEADS})
    secondary_threshold: float = 0.5
    # high-stakes classes (``urgency.high``) → probability at which an item not predicted as that
    # class still goes to review (classifier/review.py); absent in bundles made before data v1.2
    watch: dict[str, float] = field(default_factory=dict)
    # guideline rule signals this bundle applies as review reasons (classifier/signals.py); None in
    # bundles made before signals, which apply ``signals.DEFAULT_SIGNALS``
    signals: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"temperature": self.temperature, "blend": self.blend, "thresholds": self.thresholds,
               "secondary_threshold": self.secondary_threshold, "watch": self.watch}
        if self.signals is not None:
            out["signals"] = list(self.signals)
        return out

    @property
    def applied_signals(self) -> tuple[str, ...]:
        from classifier.signals import DEFAULT_SIGNALS

        return DEFAULT_SIGNALS if self.signals is None else self.signals

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Calibration":
        from classifier.review import check_watch
        from classifier.signals import check_names

        signals = d.get("signals")
        if signals is not None:
            try:
                signals = check_names(signals)
            except (TypeError, ValueError) as exc:
                raise BundleManifestInvalid(f"calibration.json signals: {exc}", details={"file": "calibration.json"}) from exc
        return cls(
            temperature={h: float(d["temperature"][h]) for h in HEADS},
            blend={h: float(d.get("blend", {}).get(h, 0.0)) for h in HEADS},
            thresholds={h: float(d["thresholds"][h]) for h in HEADS},
            secondary_threshold=float(d.get("secondary_threshold", 0.5)),
            watch=check_watch(d.get("watch") or {}),
            signals=signals,
        )


@dataclass
class Bundle:
    path: Path
    manifest: dict[str, Any]
    config: dict[str, Any]
    calibration: Calibration
    labels: dict[str, tuple[str, ...]]

    @property
    def model_version(self) -> str:
        return self.manifest["model_version"]

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return name in self.manifest["files"]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleManifestInvalid(f"bundle file {path.name} is not valid JSON: {exc}", details={"file": path.name}) from exc


def verify(path: str | Path) -> dict[str, Any]:
    """Check the manifest and every listed file's size and sha256; return the manifest."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise BundleMissingFile(f"bundle directory {path} does not exist", details={"file": str(path)})
    if not manifest_path.exists():
        raise BundleMissingFile(f"bundle {path} has no {MANIFEST}", details={"file": MANIFEST})
    manifest = _read_json(manifest_path)
    if manifest.get("format_version") != FORMAT_VERSION or not isinstance(manifest.get("files"), dict):
        raise BundleManifestInvalid(
            f"{manifest_path} is not a format-{FORMAT_VERSION} bundle manifest", details={"file": MANIFEST}
        )
    for name in REQUIRED_FILES:
        if name not in manifest["files"]:
            raise BundleManifestInvalid(f"bundle manifest does not list required file {name}", details={"file": name})
    for name, meta in manifest["files"].items():
        f = path / name
        if not f.is_file():
            raise BundleMissingFile(f"bundle file {name} is missing from {path}", details={"file": name})
        size = f.stat().st_size
        if size != meta["bytes"]:
            raise BundleHashMismatch(
                f"bundle file {name} has {size} bytes, manifest says {meta['bytes']} (truncated or replaced)",
                details={"file": name, "expected_bytes": meta["bytes"], "actual_bytes": size},
            )
        digest = sha256_file(f)
        if digest != meta["sha256"]:
            raise BundleHashMismatch(
                f"bundle file {name} does not match its sha256 in the manifest (corrupted or altered)",
                details={"file": name, "expected_sha256": meta["sha256"], "actual_sha256": digest},
            )
    return manifest


def load_bundle(path: str | Path) -> Bundle:
    path = Path(path)
    manifest = verify(path)
    labels = {h: tuple(v) for h, v in _read_json(path / "labels.json").items()}
    if labels != LABELS:
        raise BundleLabelMismatch(
            "bundle label sets differ from this version's labels", details={"bundle": labels, "expected": LABELS}
        )
    try:
        calibration = Calibration.from_dict(_read_json(path / "calibration.json"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleManifestInvalid(f"calibration.json is incomplete: {exc}", details={"file": "calibration.json"}) from exc
    return Bundle(path, manifest, _read_json(path / "config.json"), calibration, labels)


def write_manifest(path: str | Path, **fields: Any) -> dict[str, Any]:
    """Hash every file under ``path`` (except the manifest) and write ``manifest.json``."""
    path = Path(path)
    files = {}
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[f.relative_to(path).as_posix()] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
    manifest = {"format_version": FORMAT_VERSION, **fields, "files": files}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest
