"""``triage classify "文本"``: a readable result in the terminal, for a quick look."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from classifier.errors import BadEncoding
from classifier.labels import DISPLAY_ZH, HEADS
from classifier.resources import default_bundle


def register(subparsers) -> None:
    p = subparsers.add_parser("classify", help="classify texts given as arguments (or one per line on stdin)")
    p.add_argument("texts", nargs="*", help="texts to classify; none reads stdin")
    p.add_argument("--bundle", type=Path, default=default_bundle(),
                   help="model bundle directory (default: TRIAGE_BUNDLE_DIR, else the shipped models/default)")
    p.add_argument("--json", action="store_true", help="print one JSON object per text")
    p.set_defaults(func=run)


def _stdin_text() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadEncoding(f"standard input is not UTF-8 (byte offset {exc.start}); convert it first, "
                          "e.g. iconv -f GBK -t UTF-8", details={"byte_offset": exc.start}) from None


def run(args: argparse.Namespace) -> int:
    from classifier.runtime import Classifier

    texts = args.texts or [line.rstrip("\r\n") for line in _stdin_text().split("\n") if line.strip()]
    if not texts:
        print("error: no text given", file=sys.stderr)
        return 2
    clf = Classifier.load(args.bundle)
    for text, pred in zip(texts, clf.predict(texts)):
        if args.json:
            print(json.dumps({"text": text, **pred.to_dict()}, ensure_ascii=False))
            continue
        print(text)
        for h in HEADS:
            hp = pred.heads[h]
            print(f"  {h:10s} {hp.label:16s} {DISPLAY_ZH[hp.label]:8s} {hp.confidence:.2f}")
        if pred.category_secondary:
            print(f"  {'secondary':10s} {pred.category_secondary}")
        print(f"  {'review':10s} {'yes: ' + ', '.join(pred.review_reasons) if pred.needs_review else 'no'}")
    return 0
