"""Sections written into a bundle's model card after the export keep the bundle loadable."""
import shutil

import pytest

from classifier.bundle import load_bundle
from classifier.errors import BundleError
from tests.conftest import TINY_BUNDLE
from training.evaluation.model_card import CARD_FILE, replace_card_section

START, END = "<!-- speed: test -->", "<!-- /speed -->"


def test_a_section_is_appended_then_replaced_and_the_manifest_follows(tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(TINY_BUNDLE, bundle)
    version = load_bundle(bundle).model_version
    replace_card_section(bundle, START, END, ["## Speed", "", "first"])
    replace_card_section(bundle, START, END, ["## Speed", "", "second"])
    card = (bundle / CARD_FILE).read_text(encoding="utf-8")
    assert card.count(START) == 1 and "second" in card and "first" not in card
    assert load_bundle(bundle).model_version == version  # hashes rewritten, the version kept

    (bundle / CARD_FILE).write_text(card + "edited by hand\n", encoding="utf-8")
    with pytest.raises(BundleError):  # an edit outside the writer is still caught
        load_bundle(bundle)


REPO = TINY_BUNDLE.parents[2]
DEFAULT = REPO / "models" / "default"


def test_the_card_says_its_use_its_data_and_why_a_watch_is_off():
    """Issue 28: intended and out-of-scope use, the data's provenance mismatch, and why the default
    bundle's contract_legal watch is 1.0 — from the export's own review-policy report."""
    import json

    from training.evaluation.model_card import render_model_card

    report = json.loads((DEFAULT / "export_report.json").read_text(encoding="utf-8"))
    manifest = json.loads((DEFAULT / "manifest.json").read_text(encoding="utf-8"))
    metrics = json.loads((DEFAULT / "metrics.json").read_text(encoding="utf-8"))
    card = render_model_card(manifest["model_version"], manifest, metrics, report)
    for heading in ("## Intended use", "## Out-of-scope use", "## What the training data is, and is not",
                    "## Watch thresholds at 1.0"):
        assert card.count(heading) == 1, heading
    assert card.index("## Intended use") < card.index("## Provenance")
    assert "not** a bank's own satisfaction surveys" in card and "hotline transcripts" in card
    watch = card.split("## Watch thresholds at 1.0", 1)[1].split("\n\n", 2)[1]
    policy = report["calibration"]["review_policy"]
    assert policy["watch"]["category.contract_legal"] == 1.0 and not policy["targets_met"]
    assert "`category.contract_legal` is P ≥ 1.0, i.e. off" in watch
    assert "0.877 (n=685)" in watch and "15.0% of traffic" in watch and "`urgency.high` at P ≥ 0.0186" in watch
    assert "urgency.high` is P ≥ 1.0" not in watch  # only the watch that is off


def test_evaluate_card_adds_the_use_section_and_results_per_source_to_an_exported_card(tmp_path):
    """A bundle exported before these sections gets them from `triage evaluate --card`, without retraining."""
    from classifier.cli import main

    bundle = tmp_path / "b"
    shutil.copytree(TINY_BUNDLE, bundle)
    assert "## Intended use" not in (bundle / CARD_FILE).read_text(encoding="utf-8")
    for _ in range(2):  # a second run replaces both sections
        assert main(["evaluate", "--bundle", str(bundle), "--data", str(REPO / "tests/fixtures/data/good.jsonl"),
                     "--out", str(tmp_path / "eval"), "--no-plots", "--card"]) == 0
    card = (bundle / CARD_FILE).read_text(encoding="utf-8")
    assert card.count("## Intended use") == 1 and card.count("Per source") == 1
    assert card.index("## Out-of-scope use") < card.index("## Provenance")
    table = card.split("Per source", 1)[1]
    assert "| `icbc_app_review` |" in table and "| `atec_cs_question` |" in table
    load_bundle(bundle)  # the manifest follows
