"""Two training levers of issue 24: the focal loss and the source read as an input."""
import numpy as np
import pytest
import torch
from torch import nn

from classifier.errors import ConfigError
from classifier.sources import KIND_TAGS, source_kind, source_tag, training_tags
from training.config import TrainConfig
from training.trainer.strategies import FocalLoss, head_loss


def test_focal_loss_at_gamma_zero_is_the_weighted_cross_entropy_and_ignores_unlabelled_rows():
    torch.manual_seed(0)
    logits, target = torch.randn(16, 3), torch.tensor([0, 1, 2, 2] * 3 + [-100] * 4)
    weight = torch.tensor([3.0, 1.0, 0.5])
    expected = nn.CrossEntropyLoss(weight=weight)(logits, target)
    assert FocalLoss(weight, 0.0)(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert isinstance(head_loss(weight, 0.0), nn.CrossEntropyLoss)
    assert isinstance(head_loss(weight, 2.0), FocalLoss)


def test_focal_loss_weighs_hard_examples_more_than_easy_ones():
    easy = torch.tensor([[6.0, 0.0, 0.0]])  # confidently right
    hard = torch.tensor([[0.0, 1.0, 0.0]])  # wrong
    target = torch.tensor([0])
    ce, focal = nn.CrossEntropyLoss(), FocalLoss(None, 2.0)
    # the easy example's loss shrinks far more than the hard one's
    assert focal(easy, target) / ce(easy, target) < 0.01
    assert focal(hard, target) / ce(hard, target) > 0.3
    # and it still trains: the gradient points towards the true class
    logits = hard.clone().requires_grad_(True)
    focal(logits, target).backward()
    assert logits.grad[0, 0] < 0


@pytest.mark.parametrize("bad", [{"focal_gamma": -1.0}, {"focal_gamma": 9.0}, {"source_dropout": 1.5}])
def test_bad_lever_options_are_config_errors(bad):
    with pytest.raises(ConfigError):
        TrainConfig(train_file="x", dev_file="y", **bad)


def test_source_kinds_from_dataset_names_kinds_or_nothing():
    assert source_kind("ccf_bank_review") == "forum" and source_tag("ccf_bank_review") == KIND_TAGS["forum"]
    assert source_kind(" App_Review ") == "app_review"
    assert source_kind("bq_cs_question") == source_kind("atec_cs_question") == "service_question"
    for unknown in (None, "", "wechat", "review:alice"):
        assert source_tag(unknown) == KIND_TAGS["unknown"]


def test_training_tags_drop_a_seeded_share_of_sources():
    sources = ["icbc_app_review"] * 2000
    a, b = training_tags(sources, 0.2, seed=13), training_tags(sources, 0.2, seed=13)
    assert a == b  # the same rows lose their source in every run
    dropped = np.mean([t == KIND_TAGS["unknown"] for t in a])
    assert 0.17 < dropped < 0.23
    assert training_tags(sources, 0.0, seed=1) == [KIND_TAGS["app_review"]] * 2000


def test_a_source_input_run_reads_its_tag_before_the_text():
    from transformers import PreTrainedTokenizerFast

    from training.trainer.examples import encode_rows

    tok = PreTrainedTokenizerFast(tokenizer_file="models/default/tokenizer.json", pad_token="<pad>")
    rows = [{"id": "a", "text": "征信报告上有逾期记录", "category": "contract_legal", "category_secondary": None,
             "sentiment": "negative", "urgency": "medium", "source": "ccf_bank_review"}]
    plain = encode_rows(rows, tok, 32).input_ids[0]
    tagged = encode_rows(rows, tok, 32, [source_tag("ccf_bank_review")]).input_ids[0]
    tag_ids = tok(source_tag("ccf_bank_review"), add_special_tokens=False)["input_ids"]
    assert tagged[1:1 + len(tag_ids)] == tag_ids  # <s> tag </s></s> text </s>
    assert tagged[-len(plain) + 1:] == plain[1:]  # the text's tokens are unchanged after the tag
    # truncation cuts the text, never the tag
    long_rows = [{**rows[0], "text": "征信" * 200}]
    cut = encode_rows(long_rows, tok, 32, [source_tag("forum")]).input_ids[0]
    assert len(cut) == 32 and cut[1:1 + len(tag_ids)] == tag_ids


def test_a_source_input_run_is_refused_at_export(tmp_path):
    from training.errors import SourceInputNotServed
    from training.export.bundle import FittingData, export_bundle

    with pytest.raises(SourceInputNotServed) as err:
        export_bundle(tmp_path / "run", tmp_path / "out", FittingData(dev_file="data/labeled/dev.jsonl",
                                                                     train_files=["data/labeled/train.jsonl"]),
                      train_config={"source_input": True})
    assert err.value.code == "E607" and not (tmp_path / "out").exists()
