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
