"""Where truly urgent items land in the review queue under three orders, side by side: the model's
level (the first release), the sort level (PriorityMatrix.sort_level, migration 0006) and the served
order (serving/review/store.py ORDER: the sort level, then P(urgency high), migration 0011).

    python bench/bench_queue_rank.py [--bundle models/default] [--data data/labeled/test.jsonl]
                                     [--size 155] [--draws 200] [--seed 0]

Every text of --data is classified once by the bundle (the service's model path); each item gets a
received time spread over one working morning (seeded) and no request metadata. Then:

* **mix**: one queue built from a 155-item mix holding every truly urgent text (gold urgency
  high) plus texts drawn at random, as a supervisor would meet a bad morning;
* **draws**: --draws queues of --size items drawn at random (the test split's own urgent rate),
  their urgent items' ranks pooled.

The queue is what GET /v1/review lists: items the review policy queued, sorted by (level,
first-response deadline, margin, received time), by (sort level, deadline, margin, received time), and
as served: (sort level, 1 − P(high), deadline, margin, received time). A rank is 1-based; "share" is
rank / queue length. Urgent items the policy did not
queue are counted apart (predicted high: they are P1/P3 in the matrix, outside the queue); the last line
puts them together (the whole work order): the share of urgent items that reach a person early, predicted
high without review or in the queue's first tenth.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
from datetime import datetime, timedelta, timezone
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=Path("models/default"))
    ap.add_argument("--data", type=Path, default=Path("data/labeled/test.jsonl"))
    ap.add_argument("--priority", type=Path, default=Path("configs/priority.yaml"))
    ap.add_argument("--size", type=int, default=155)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from classifier.priority import PriorityMatrix
    from classifier.runtime import Classifier
    from serving.db.derived import margin_of, urgency_risk_of

    matrix = PriorityMatrix.from_yaml(args.priority)
    clf = Classifier.load(args.bundle, threads=args.threads)
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    preds = clf.predict([r["text"] for r in rows])
    rng = random.Random(args.seed)
    start = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)  # 09:00 Asia/Shanghai, a Tuesday
    items = []
    for i, (row, p) in enumerate(zip(rows, preds)):
        labels = {h: p.heads[h].label for h in ("category", "sentiment", "urgency")}
        received = start + timedelta(seconds=rng.randrange(4 * 3600))
        prio = matrix.assess(labels["category"], labels["sentiment"], labels["urgency"], None, received)
        sort = matrix.sort_level(labels, p.review_reasons, None, received, level=prio.level) if p.needs_review else None
        scores = {h: {"scores": dict(p.heads[h].scores)} for h in ("category", "sentiment", "urgency")}
        items.append({"i": i, "text": row["text"], "urgent": row["urgency"] == "high", "queued": bool(p.needs_review),
                      "predicted_high": labels["urgency"] == "high", "level": prio.level,
                      "sort_level": sort.level if sort else prio.level, "raised_by": sort.raised_by if sort else (),
                      "respond_by": prio.respond_by, "margin": margin_of(scores), "received": received,
                      "risk": urgency_risk_of(scores)})

    orders = {  # the service's ORDER as it was and as it is (serving/review/store.py)
        "level": lambda x: (x["level"], x["respond_by"], x["margin"], x["received"], x["i"]),
        "sort level": lambda x: (x["sort_level"], x["respond_by"], x["margin"], x["received"], x["i"]),
        "served": lambda x: (x["sort_level"], x["risk"], x["respond_by"], x["margin"], x["received"], x["i"]),
    }

    def ranks(pool: list[dict]) -> dict[str, list[tuple[int, int, int]]]:
        queue = [x for x in pool if x["queued"]]
        out = {}
        for name, key in orders.items():
            ordered = sorted(queue, key=key)
            out[name] = [(n + 1, len(ordered), x["i"]) for n, x in enumerate(ordered) if x["urgent"]]
        return out

    def summary(found: list[tuple[int, int, int]]) -> str:
        if not found:
            return "no urgent item queued"
        r = [a for a, _, _ in found]
        share = [a / n for a, n, _ in found]
        return (f"rank median {statistics.median(r):g}, worst {max(r)}; share of queue median "
                f"{statistics.median(share):.2f}, worst {max(share):.2f}; in the first 10 %: "
                f"{sum(s <= 0.10 for s in share)}/{len(share)}")

    urgent = [x for x in items if x["urgent"]]
    print(f"bundle {clf.model_version}; {len(items)} texts, {len(urgent)} truly urgent; "
          f"{sum(x['queued'] for x in urgent)} of them queued, {sum(x['predicted_high'] for x in urgent)} predicted high")

    # one mix: every urgent text plus random others, args.size in all
    others = [x for x in items if not x["urgent"]]
    mix = urgent + rng.sample(others, max(0, args.size - len(urgent)))
    found = ranks(mix)
    queued = [x for x in mix if x["queued"]]
    raised = sum(bool(x["raised_by"]) for x in queued)
    print(f"\nmix of {len(mix)} ({len(urgent)} urgent): queue of {len(queued)}, {len(found['served'])} urgent in it; "
          f"{raised} of the queue raised (levels {_count(x['level'] for x in queued)}, "
          f"sort levels {_count(x['sort_level'] for x in queued)})")
    for name in orders:
        print(f"  {name + ':':12s}{summary(found[name])}")
    print("  per urgent item (rank by level -> sort level -> served, level -> sort level, P(high), reasons):")
    by = {name: {i: a for a, _, i in found[name]} for name in orders}
    for a, n, i in sorted(found["level"], key=lambda t: -t[0]):
        x = items[i]
        print(f"    {a:3d} -> {by['sort level'][i]:3d} -> {by['served'][i]:3d} of {n}  {x['level']} -> {x['sort_level']}  "
              f"{1 - x['risk']:.4f}  {','.join(x['raised_by']) or '-':40s} {x['text'][:30]}")

    # many random queues at the split's own urgent rate
    pooled: dict[str, list] = {name: [] for name in orders}
    drawn_urgent = []
    for d in range(args.draws):
        draw = random.Random(args.seed + 1 + d).sample(items, min(args.size, len(items)))
        drawn_urgent += [x for x in draw if x["urgent"]]
        for name, found in ranks(draw).items():
            pooled[name] += found
    print(f"\n{args.draws} random queues of {args.size} items: {len(pooled['served'])} urgent items queued in all")
    for name in orders:
        print(f"  {name + ':':12s}{summary(pooled[name])}")
    # the whole work order: an urgent item predicted high is routed as P1/P3 without review, so it reaches a
    # person without the queue; one the policy did not queue and the model did not call high is unseen
    early = sum(s <= 0.10 for s in (a / n for a, n, _ in pooled["served"]))
    direct = sum(x["predicted_high"] and not x["queued"] for x in drawn_urgent)
    unseen = sum(not x["predicted_high"] and not x["queued"] for x in drawn_urgent)
    print(f"  whole work order, of {len(drawn_urgent)} urgent items drawn: {direct} predicted high without review, "
          f"{early} in the queue's first 10 % (served), {len(pooled['served']) - early} later in the queue, "
          f"{unseen} unseen; reaching a person early {(direct + early) / max(1, len(drawn_urgent)):.2f}")


def _count(values) -> str:
    from collections import Counter

    return " ".join(f"{k}:{n}" for k, n in sorted(Counter(values).items()))


if __name__ == "__main__":
    main()
