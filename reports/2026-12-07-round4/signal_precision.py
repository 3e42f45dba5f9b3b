"""Precision and recall of each guideline rule signal (classifier/signals.py) on labelled files.

    python reports/2026-12-07-round4/signal_precision.py data/labeled/train.jsonl data/labeled/dev.jsonl

Precision: share of the texts it fires on that truly hold a class the rule implies; recall per implied class.
"""
import json
import sys

from classifier.text.normalize import normalize_text
from classifier.signals import SIGNALS, find


def main(paths):
    print("| file | signal | fires | share | precision (any implied) | P(high) | recall high | P(contract_legal) | recall contract_legal |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        hits = [find(normalize_text(r["text"])) for r in rows]
        high = [r["urgency"] == "high" for r in rows]
        legal = [r["category"] == "contract_legal" for r in rows]
        for s in [*SIGNALS, None]:
            fired = [bool(h) if s is None else s.name in h for h in hits]
            n = sum(fired)
            implied = s.implies if s else ("urgency.high", "category.contract_legal")
            any_true = [("urgency.high" in implied and a) or ("category.contract_legal" in implied and b)
                        for a, b in zip(high, legal)]
            tp = lambda ys: sum(f and y for f, y in zip(fired, ys))  # noqa: E731
            print(f"| `{path.split('/')[-1]}` | {'**any**' if s is None else s.name} | {n} | {n / len(rows):.2%} | "
                  f"{tp(any_true) / max(n, 1):.2f} | {tp(high) / max(n, 1):.2f} | {tp(high) / max(sum(high), 1):.2f} | "
                  f"{tp(legal) / max(n, 1):.2f} | {tp(legal) / max(sum(legal), 1):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
