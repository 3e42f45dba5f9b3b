"""Does noise take a priority slot? Junk texts (the guideline's `other`: filler, laughter, test
strings, punctuation) and short real reviews the guideline keeps as `P` ("好", "垃圾", …) are
classified by the bundle and placed in the matrix under request metadata that makes feedback
important (VIP / private-banking tier, an amount of 80,000, the regulator's channel) — with the
matrix as configured (metadata_rules_skip_categories: [other]) and without that rule, side by side.

    python bench/bench_noise_priority.py [--bundle models/default] [--priority configs/priority.yaml]

Prints, per set and metadata, how many items reach P1/P2 with and without the rule, and which
short real reviews the model calls `other` (those the rule would wrongly keep low).
"""
from __future__ import annotations

import argparse
import copy
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

JUNK = ["啊", "嗯嗯", "哈哈哈哈哈哈", "测试测试", "？？？", "111", "。。。", "在吗", "你好", "hello", "asdf", "嗯",
        "哦", "好的好的", "666", "1", "test", "😀", "呵呵", "没事了"]
SHORT_REAL = ["好", "垃圾", "太差了", "差评", "好用", "很好", "垃圾软件", "不好用", "闪退", "腊！鸡！"]
METADATA = {
    "none": {},
    "vip": {"customer_tier": "vip"},
    "private_banking": {"customer_tier": "private_banking"},
    "amount_80000": {"amount": 80000},
    "regulator": {"channel": "regulator"},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=Path("models/default"))
    ap.add_argument("--priority", type=Path, default=Path("configs/priority.yaml"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from classifier.rules import load_yaml
    from classifier.priority import PriorityMatrix
    from classifier.runtime import Classifier

    raw = load_yaml(args.priority)
    with_rule = PriorityMatrix.from_dict(raw)
    without = copy.deepcopy(raw)
    without.pop("metadata_rules_skip_categories", None)
    without_rule = PriorityMatrix.from_dict(without)
    clf = Classifier.load(args.bundle, threads=args.threads)
    now = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    print(f"bundle {clf.model_version}; rule: metadata_rules_skip_categories = "
          f"{sorted(with_rule.metadata_rules_skip_categories) or 'none'}")
    for name, texts in (("junk (guideline: other)", JUNK), ("short real reviews (guideline: P)", SHORT_REAL)):
        preds = clf.predict(texts)
        labels = [tuple(p.heads[h].label for h in ("category", "sentiment", "urgency")) for p in preds]
        print(f"\n{name}: {len(texts)} texts; model categories {dict(Counter(c for c, _, _ in labels))}")
        if name.startswith("short"):
            print(f"  called other by the model: {[t for t, (c, _, _) in zip(texts, labels) if c == 'other'] or 'none'}")
        print(f"  {'metadata':16s} {'P1/P2 without rule':>20s} {'P1/P2 with rule':>16s}")
        for meta_name, meta in METADATA.items():
            counts = []
            for matrix in (without_rule, with_rule):
                levels = [matrix.assess(c, s, u, meta, now).level for c, s, u in labels]
                counts.append(sum(lv in ("P1", "P2") for lv in levels))
            print(f"  {meta_name:16s} {counts[0]:>20d} {counts[1]:>16d}")


if __name__ == "__main__":
    main()
