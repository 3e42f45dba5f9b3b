"""The review policy at run time: reasons per item, watch thresholds from the bundle."""
import json

import numpy as np
import pytest

from classifier.bundle import Calibration
from classifier.errors import BundleManifestInvalid
from classifier.review import review_reasons, watch_reason
from classifier.runtime import Classifier


def probs(cat, sent, urg):
    return {"category": np.array(cat, float), "sentiment": np.array(sent, float), "urgency": np.array(urg, float)}


def test_reasons_name_uncertain_heads_and_watched_classes():
    p = probs(
        cat=[[0.9, 0.05, 0.03, 0.02], [0.5, 0.1, 0.38, 0.02], [0.1, 0.1, 0.78, 0.02]],
        sent=[[0.1, 0.8, 0.1]] * 3,
        urg=[[0.02, 0.9, 0.08], [0.3, 0.6, 0.1], [0.7, 0.2, 0.1]],
    )
    reasons = review_reasons(p, {"category": 0.6, "sentiment": 0.5, "urgency": 0.5},
                             {"urgency.high": 0.25, "category.contract_legal": 0.3})
    assert reasons[0] == []
    assert reasons[1] == ["category_uncertain", "possible_high_urgency", "possible_contract_legal"]
    # an item already predicted as the watched class is not "possibly" it: its label is acted on
    assert reasons[2] == []


def test_watch_reason_names():
    assert watch_reason("urgency.high") == "possible_high_urgency"
    assert watch_reason("category.contract_legal") == "possible_contract_legal"


@pytest.mark.parametrize("watch", [{"urgency.urgent": 0.1}, {"nohead.high": 0.1}, {"urgency.high": 1.5}, {"urgency.high": "x"}])
def test_a_bad_watch_entry_is_a_bundle_error(watch):
    d = Calibration().to_dict()
    d["watch"] = watch
    with pytest.raises(BundleManifestInvalid) as err:
        Calibration.from_dict(d)
    assert err.value.code == "E103"


def test_bundles_without_watch_still_load():
    d = Calibration().to_dict()
    del d["watch"]
    assert Calibration.from_dict(d).watch == {}


def test_watched_bundle_sends_possible_high_urgency_to_review(watched_bundle):
    clf = Classifier.load(watched_bundle)
    preds = clf.predict(["信用卡被盗刷了，钱没了", "花呗怎么还款", "服务很好"])
    for p in preds:
        assert p.needs_review
        if p.urgency.label != "high":
            assert "possible_high_urgency" in p.review_reasons
        assert p.to_dict()["review_reasons"] == p.review_reasons
    assert json.loads((watched_bundle / "calibration.json").read_text())["watch"] == {"urgency.high": 0.0}
