"""Domain-adaptive pretraining (training/trainer/adaptation.py): `triage base-model adapt` trains the
tiny encoder on unlabelled texts, `triage train` starts from it, and a config whose adapted encoder is
missing or stale is refused (E608) instead of silently fine-tuning the plain base model."""
import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from classifier.cli import main  # noqa: E402
from classifier.errors import ConfigError  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.errors import AdaptedEncoderMissing, TestSplitLeak  # noqa: E402
from training.trainer.adaptation import adapt_encoder, adapted_encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp: Path, **adapt) -> Path:
    cfg = yaml.safe_load((ROOT / "configs/train-tiny.yaml").read_text())
    cfg.update(train_file=str(ROOT / cfg["train_file"]), dev_file=str(ROOT / cfg["dev_file"]),
               base_model_dir=str(tmp / "base"), output_dir=str(tmp / "run"), max_train_rows=64, max_dev_rows=32,
               epochs=1, baseline=False,
               adapt={"files": [str(ROOT / "data/unlabeled/feedback.jsonl")], "output_dir": str(tmp / "adapted"),
                      "max_texts": 96, "epochs": 1, "batch_size": 16, "max_length": 32, "learning_rate": 1e-3,
                      **adapt})
    path = tmp / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adapt")
    config = _config(tmp)
    assert main(["base-model", "adapt", "--config", str(config)]) == 0
    return tmp, config


def _encoder_weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


def test_adapt_trains_the_encoder_and_records_its_base_and_texts(adapted):
    tmp, _ = adapted
    record = json.loads((tmp / "adapted" / "base_model.json").read_text())["adapted"]
    assert record["texts"] == 96 and record["steps"] == 6 and len(record["epoch_losses"]) == 1
    base, new = _encoder_weights(tmp / "base"), _encoder_weights(tmp / "adapted")
    assert set(base) == set(new)  # the encoder alone: the masked-LM head is not kept
    changed = [k for k in base if not torch.equal(base[k], new[k])]
    assert any(".layer.0." in k for k in changed) and "embeddings.word_embeddings.weight" in changed
    assert (tmp / "adapted" / "tokenizer.json").read_text() == (tmp / "base" / "tokenizer.json").read_text()


def test_training_starts_from_the_adapted_encoder(adapted):
    tmp, config = adapted
    cfg = TrainConfig.from_yaml(config)
    assert adapted_encoder(cfg, tmp / "base") == tmp / "adapted"
    assert main(["train", "--config", str(config)]) == 0
    assert json.loads((tmp / "run" / "train_summary.json").read_text())["encoder_dir"] == str(tmp / "adapted")
    saved = yaml.safe_load((tmp / "run" / "train_config.yaml").read_text())
    assert saved["adapt"]["output_dir"] == str(tmp / "adapted")


def test_a_missing_or_stale_adapted_encoder_is_refused(adapted, tmp_path):
    tmp, config = adapted
    stale = TrainConfig.from_yaml(_config(tmp_path, output_dir=str(tmp / "adapted"), learning_rate=5e-4))
    with pytest.raises(AdaptedEncoderMissing) as err:
        adapted_encoder(stale, tmp / "base")
    assert err.value.code == "E608" and err.value.details == {"differ": ["recipe"]}
    missing = TrainConfig.from_yaml(_config(tmp_path, output_dir=str(tmp_path / "nowhere")))
    with pytest.raises(AdaptedEncoderMissing):
        adapted_encoder(missing, tmp / "base")


def test_adapt_refuses_held_out_texts_and_the_fidelity_set(adapted, tmp_path):
    tmp, _ = adapted
    test_text = json.loads((ROOT / "data/labeled/test_hard.jsonl").read_text(encoding="utf-8").splitlines()[0])["text"]
    leaky = tmp_path / "leaky.jsonl"
    leaky.write_text(json.dumps({"id": "u1", "text": "转账一直失败"}, ensure_ascii=False) + "\n"
                     + json.dumps({"id": "u2", "text": test_text}, ensure_ascii=False) + "\n", encoding="utf-8")
    cfg = TrainConfig.from_yaml(_config(tmp_path, files=[str(leaky)]))
    with pytest.raises(TestSplitLeak) as err:
        adapt_encoder(cfg, tmp / "base")
    assert err.value.details["ids"] == ["u2"]
    with pytest.raises(ConfigError, match="fidelity"):
        TrainConfig.from_yaml(_config(tmp_path, files=[str(ROOT / "data/unlabeled/fidelity.jsonl")]))
