"""Fixtures shared by every test folder."""
import json
import shutil
from pathlib import Path

import pytest

from classifier.bundle import write_manifest

ROOT = Path(__file__).resolve().parents[1]
TINY_BUNDLE = ROOT / "tests" / "fixtures" / "tiny_bundle"


def bundle_with_watch(src: Path, dst: Path, watch: dict[str, float]) -> Path:
    """A copy of bundle ``src`` whose review policy watches ``watch`` (class → probability threshold);
    the manifest is rewritten so the copy verifies."""
    shutil.copytree(src, dst)
    cal = json.loads((dst / "calibration.json").read_text())
    cal["watch"] = watch
    (dst / "calibration.json").write_text(json.dumps(cal))
    manifest = json.loads((dst / "manifest.json").read_text())
    write_manifest(dst, **{k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    return dst


@pytest.fixture(scope="session")
def watched_bundle(tmp_path_factory) -> Path:
    """The tiny test bundle with every item not predicted `high` watched for high urgency (threshold 0)."""
    return bundle_with_watch(TINY_BUNDLE, tmp_path_factory.mktemp("watched") / "bundle", {"urgency.high": 0.0})
