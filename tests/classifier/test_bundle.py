"""Bundles are verified on load: a missing, truncated or altered file is refused, naming the file."""
import json
import shutil
from pathlib import Path

import pytest

from classifier.bundle import load_bundle
from classifier.errors import BundleHashMismatch, BundleLabelMismatch, BundleManifestInvalid, BundleMissingFile
from classifier.runtime import Classifier

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_bundle"


@pytest.fixture
def bundle(tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(TINY, dst)
    return dst


def test_intact_bundle_loads(bundle):
    b = load_bundle(bundle)
    assert b.model_version.startswith("tiny-")
    assert b.config["max_length"] == 48


def test_truncated_model_is_refused_naming_the_file(bundle):
    path = bundle / "model.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(BundleHashMismatch) as err:
        Classifier.load(bundle)
    assert err.value.code == "E102" and "model.onnx" in str(err.value) and "truncated" in str(err.value)


def test_flipped_byte_is_refused(bundle):
    path = bundle / "tokenizer.json"
    data = bytearray(path.read_bytes())
    data[500] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleHashMismatch) as err:
        load_bundle(bundle)
    assert err.value.details["file"] == "tokenizer.json"


def test_missing_file_is_refused(bundle):
    (bundle / "calibration.json").unlink()
    with pytest.raises(BundleMissingFile) as err:
        load_bundle(bundle)
    assert err.value.code == "E101" and "calibration.json" in str(err.value)


def test_missing_manifest_and_broken_manifest(bundle, tmp_path):
    manifest = bundle / "manifest.json"
    manifest.write_text("{not json")
    with pytest.raises(BundleManifestInvalid):
        load_bundle(bundle)
    manifest.unlink()
    with pytest.raises(BundleMissingFile):
        load_bundle(bundle)
    with pytest.raises(BundleMissingFile):
        load_bundle(tmp_path / "nowhere")


def test_relabelled_bundle_with_a_consistent_manifest_is_refused(bundle):
    from classifier.bundle import write_manifest

    labels = json.loads((bundle / "labels.json").read_text())
    labels["urgency"] = ["low", "medium", "high"]  # reordered: logits would be misread
    (bundle / "labels.json").write_text(json.dumps(labels))
    old = json.loads((bundle / "manifest.json").read_text())
    (bundle / "manifest.json").unlink()
    write_manifest(bundle, **{k: v for k, v in old.items() if k not in ("files", "format_version")})
    with pytest.raises(BundleLabelMismatch):
        load_bundle(bundle)
