"""Rare-class oversampling: which rows repeat and how often; bad entries are configuration errors."""
import pytest

pytest.importorskip("torch")

from classifier.errors import ConfigError  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.trainer.examples import repeats  # noqa: E402


def test_rows_of_oversampled_classes_repeat_by_their_largest_factor():
    oversample = {"urgency.high": 4, "category.other": 2}
    assert repeats({"urgency": "high", "category": "other"}, oversample) == 4
    assert repeats({"urgency": "low", "category": "other"}, oversample) == 2
    assert repeats({"urgency": "low", "category": "fees"}, oversample) == 1
    assert repeats({"urgency": "high", "category": "fees"}, {}) == 1


@pytest.mark.parametrize("bad", [{"urgency.urgent": 2}, {"urgency.high": 0}, {"urgency.high": 1.5}, {"high": 2}])
def test_bad_oversample_entries_are_config_errors(bad):
    with pytest.raises(ConfigError):
        TrainConfig(oversample=bad)
