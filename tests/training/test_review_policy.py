"""Fitting the review policy: recall targets met within the review budget, or said plainly when not."""
import numpy as np
import pytest

from classifier.errors import ConfigError
from classifier.labels import LABELS
from classifier.review import review_reasons
from training.fitting.review_policy import ReviewConfig, adopt_signals, fit_review_policy, measurable_fires, seen_recall


def synthetic(n: int, seed: int, n_high: int = 60, n_legal: int = 80):
    """Calibrated-looking scores where the rare classes are ranked well but usually not predicted."""
    rng = np.random.default_rng(seed)
    y_urg = np.full(n, 2)
    y_urg[:n_high] = 0
    y_urg[n_high: n_high + n // 4] = 1
    y_cat = np.zeros(n, int)
    y_cat[n - n_legal:] = 2
    y_sent = rng.integers(0, 3, n)

    def scores(y, k, signal):
        logits = rng.normal(0, 1, (n, k))
        logits[np.arange(n), y] += signal
        e = np.exp(logits)
        return e / e.sum(1, keepdims=True)

    urg = scores(y_urg, 3, 2.0)
    urg[:, 0] *= 0.35  # high is rarely the argmax: the watch threshold has to find it
    urg /= urg.sum(1, keepdims=True)
    probs = {"category": scores(y_cat, 4, 2.5), "sentiment": scores(y_sent, 3, 3.0), "urgency": urg}
    return probs, {"category": y_cat, "sentiment": y_sent, "urgency": y_urg}


def test_recall_targets_are_met_within_the_budget_on_the_fitting_scores():
    probs, targets = synthetic(2000, seed=1)
    config = ReviewConfig(recall_targets={"urgency.high": 0.95, "category.contract_legal": 0.9}, recall_margin=0.0,
                          max_share=0.3)
    thresholds, watch, report = fit_review_policy(probs, targets, config)
    in_review = np.array([bool(r) for r in review_reasons(probs, thresholds, watch)])
    assert in_review.mean() <= 0.3 and report["review_share"] == pytest.approx(in_review.mean())
    high, _ = seen_recall(probs, targets, "urgency.high", in_review)
    legal, _ = seen_recall(probs, targets, "category.contract_legal", in_review)
    assert high >= 0.95 and legal >= 0.9 and report["targets_met"]
    # the model alone (no review) would see far fewer urgent items: the watch does the work
    assert (probs["urgency"].argmax(1) == 0)[targets["urgency"] == 0].mean() < 0.8
    assert 0.0 < watch["urgency.high"] < 1.0
    # and the fitted thresholds carry over to fresh items from the same distribution
    fresh, fresh_targets = synthetic(4000, seed=2, n_high=120, n_legal=160)
    fresh_review = np.array([bool(r) for r in review_reasons(fresh, thresholds, watch)])
    assert seen_recall(fresh, fresh_targets, "urgency.high", fresh_review)[0] >= 0.85


def test_the_confidence_rule_yields_budget_to_the_recall_targets():
    probs, targets = synthetic(2000, seed=3)
    generous = fit_review_policy(probs, targets, ReviewConfig(recall_margin=0.0, max_share=0.9))[2]
    tight = fit_review_policy(probs, targets, ReviewConfig(recall_margin=0.0, max_share=generous["review_share"] * 0.8))[2]
    assert tight["confidence_scale"] < generous["confidence_scale"]
    assert tight["review_share"] <= generous["review_share"] * 0.8


def test_unreachable_targets_keep_the_budget_and_say_so():
    probs, targets = synthetic(2000, seed=4)
    thresholds, watch, report = fit_review_policy(probs, targets, ReviewConfig(max_share=0.01))
    assert not report["targets_met"] and "cannot be met" in report["warning"]
    assert report["review_share"] <= 0.01
    assert report["confidence_scale"] < 1.0  # the confidence rule gave way first


@pytest.mark.parametrize("bad", [{"recall_targets": {"urgency.urgent": 0.9}}, {"max_share": 0},
                                 {"target_accuracy": {"topic": 0.9}}, {"budget": 0.1}])
def test_bad_review_config_is_a_config_error(bad):
    with pytest.raises(ConfigError) as err:
        ReviewConfig.from_dict(bad)
    assert err.value.code == "E300"


def test_shipped_review_config_reads():
    config = ReviewConfig.from_yaml("configs/review.yaml")
    assert set(config.recall_targets) == {"urgency.high", "category.contract_legal"}
    assert all(h in LABELS for h in config.target_accuracy)


def test_watch_moves_to_the_served_models_scale_by_flag_rate():
    from training.fitting.review_policy import flag_rate, transfer_watch

    fit, _ = synthetic(2000, seed=5)
    served, _ = synthetic(1000, seed=6)
    # the served model is more confident: its P(high) is squeezed towards 0 for most items
    served["urgency"] = served["urgency"] ** [1.5, 1.0, 1.0]
    served["urgency"] /= served["urgency"].sum(1, keepdims=True)
    watch = {"urgency.high": 0.3, "category.contract_legal": 1.0}
    moved = transfer_watch(fit, served, watch)
    assert moved["category.contract_legal"] == 1.0  # no watch stays no watch
    assert moved["urgency.high"] != watch["urgency.high"]
    assert flag_rate(served, "urgency.high", moved["urgency.high"]) == pytest.approx(
        flag_rate(fit, "urgency.high", 0.3), abs=0.002)


def test_seen_recall_interval_is_exact_binomial():
    from training.stats import clopper_pearson

    assert clopper_pearson(17, 17) == [pytest.approx(0.8049, abs=1e-4), 1.0]  # a bootstrap would say [1, 1]
    lo, hi = clopper_pearson(13, 17)
    assert lo < 13 / 17 < hi


def test_the_budget_is_a_share_of_traffic_not_of_rows_chosen_by_active_learning():
    """Rows an active-learning round picked (rare-class-like, uncertain) sit in the fitting scores but
    are not traffic: the review share is measured on the traffic rows only, so hard picked rows do not
    use up the budget that traffic gets — while their urgent items still count for seen recall."""
    probs, targets = synthetic(2000, seed=7)
    picked, picked_targets = synthetic(600, seed=8, n_high=200, n_legal=200)
    for h in probs:  # picked rows are the uncertain ones: flatten their scores
        picked[h] = 0.5 * picked[h] + 0.5 / picked[h].shape[1]
    both = {h: np.concatenate([probs[h], picked[h]]) for h in probs}
    both_targets = {h: np.concatenate([targets[h], picked_targets[h]]) for h in targets}
    traffic = np.r_[np.ones(2000, bool), np.zeros(600, bool)]
    config = ReviewConfig(recall_margin=0.0, max_share=0.25)
    thresholds, watch, report = fit_review_policy(both, both_targets, config, traffic=traffic)
    in_review = review_mask_of(both, thresholds, watch)
    assert report["review_share"] == pytest.approx(in_review[traffic].mean())
    assert report["review_share"] <= 0.25 and report["traffic_rows"] == 2000
    assert report["review_share_all_rows"] == pytest.approx(in_review.mean())
    assert in_review.mean() > in_review[traffic].mean()  # the picked rows are reviewed more often
    # counted over every row instead, the same budget buys less watch on traffic
    counted_all = fit_review_policy(both, both_targets, config)[2]
    assert counted_all["review_share"] <= 0.25
    assert review_mask_of(both, counted_all["thresholds"], counted_all["watch"])[traffic].mean() < in_review[traffic].mean()


def review_mask_of(probs, thresholds, watch):
    from classifier.review import review_mask

    return review_mask(probs, thresholds, watch)


def test_a_signal_is_adopted_when_precise_rejected_when_measured_imprecise_and_kept_when_too_rare_to_judge():
    probs, targets = synthetic(400, seed=3)  # rows 0-59 urgent (high), the last 80 contract_legal
    config = ReviewConfig(signal_min_precision=0.2, signal_min_support=3)  # judged from 15 firing rows on
    hits = [[] for _ in range(400)]
    for i in range(0, 10):  # money_gone: 10 urgent rows
        hits[i].append("money_gone")
    for i in range(100, 130):  # lost_device: 30 rows, 2 of them urgent: measured, precision 0.07
        hits[i].append("lost_device")
    hits[0].append("lost_device"), hits[1].append("lost_device")
    for i in (200, 201):  # due_today_failure: 2 rows, neither urgent: too rare to judge
        hits[i].append("due_today_failure")
    adopted, report = adopt_signals(probs, targets, hits, config)
    assert "money_gone" in adopted and report["money_gone"]["measured"] is False  # 10 rows: too few, adopted anyway
    assert "lost_device" not in adopted and report["lost_device"]["measured"] is True
    assert report["lost_device"]["precision_any"] == pytest.approx(2 / 32)
    assert "due_today_failure" in adopted and report["due_today_failure"]["measured"] is False
    assert "legal_notice" in adopted and report["legal_notice"]["fires"] == 0  # never fired: costs nothing here
    for i in range(10, 20):  # 20 rows now, all urgent: measured and precise
        hits[i].append("money_gone")
    adopted, report = adopt_signals(probs, targets, hits, config)
    assert "money_gone" in adopted and report["money_gone"]["measured"] is True
    assert measurable_fires(config) == 15
