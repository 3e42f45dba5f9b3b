"""The fixed train / dev / test split of the labelled corpus, and the guard that keeps fitting off `test`.

Why a split of our own: the maintainers deliver `train`, `dev` and extra forum texts; until data v1.2,
blend weights, temperatures and thresholds were fitted on dev and the same dev was reported. The
`test` split made here is read by ``triage evaluate`` only: no fitting step (training, early
stopping, baseline tuning, calibration, review policy) may read it. ``guard_fitting_rows`` enforces
that on every fitting entry point by the sha256 of each row's normalized text, which the split
manifest lists for the test rows, so a copy, subset or renamed file of the test split is caught too.

How the split is drawn (``make_splits``), deterministic for a seed:

- the pool is every labelled row of the maintainers' files; strata are category × urgency × source;
- each urgency × category class gets ``test_fraction`` of its pool size (rounded cumulatively across
  classes, so rare classes get their share), spread over its sources in proportion;
- `test` is drawn only from rows that the previous shipped bundle never trained on (``test_from``:
  the maintainers' dev and new forum files), so the old bundle and the new one can be compared on it
  side by side; where a source has fewer such rows than its quota, the class's other sources make
  up the difference (label marginals hold; the source mix leans towards the forum texts);
- `dev` takes ``dev_fraction`` of each stratum from the rest the same way; `train` is what remains.

Rows chosen by active learning (``hard``: the round-4 file) are not a sample of traffic, so they never
enter `test` or `dev`: ``hard_test_fraction`` of each of their urgency × category classes becomes
`test_hard` (read by ``triage evaluate`` only, guarded like `test`: it is where the guideline's rare-class
rules are tested), and the rest is appended to `train`. Their draw has its own random stream, so adding
or removing a hard file never moves a row of the representative splits.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from classifier.errors import ConfigError
from classifier.text.normalize import normalize_text
from classifier.resources import resource_path
from training.data.schema import read_labelled
from training.errors import TestSplitLeak

SPLITS = ("train", "dev", "test", "test_hard")
HELD_OUT = ("test", "test_hard")  # splits no fitting step may read
KEPT_FIELDS = ("annotation", "selection")  # fields of a source line the schema does not carry
MANIFEST_NAME = "manifest.json"
DEFAULT_MANIFEST = resource_path("data/labeled/" + MANIFEST_NAME)  # the checkout's, from any working directory


def text_key(text: str) -> str:
    """Identity of a text for leak checks: sha256 of its normalized form, 16 hex digits."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()[:16]


def stratum(row: dict) -> tuple[str, str, str]:
    return (row["urgency"], row["category"], row.get("source") or "")


@dataclass
class SplitRecipe:
    seed: int = 20261206
    test_fraction: float = 0.15
    dev_fraction: float = 0.10
    sources: list[str] = field(default_factory=list)  # pool files, in order
    test_from: list[str] = field(default_factory=list)  # files whose rows may go to test
    hard: list[str] = field(default_factory=list)  # files chosen by active learning: test_hard + train only
    hard_test_fraction: float = 0.20

    def to_dict(self) -> dict:
        out = {"seed": self.seed, "test_fraction": self.test_fraction, "dev_fraction": self.dev_fraction,
               "strata": "urgency x category x source", "sources": self.sources, "test_from": self.test_from}
        if self.hard:
            out.update(hard=self.hard, hard_test_fraction=self.hard_test_fraction)
        return out


def _allocate(pool_counts: dict[tuple, int], fraction: float) -> dict[tuple, int]:
    """Quota per stratum: cumulative rounding over the sorted strata keeps every total within 1 of
    ``fraction`` × n, also for an urgency class spread over many small strata."""
    quotas, cum = {}, 0.0
    for key in sorted(pool_counts):
        before = round(cum)
        cum += fraction * pool_counts[key]
        quotas[key] = round(cum) - before
    return quotas


def make_splits(pool: Sequence[dict], test_candidates: set[str], recipe: SplitRecipe) -> dict[str, list[dict]]:
    """Split ``pool`` (schema rows with unique ids and texts) into train/dev/test; rows keep pool order."""
    rng = random.Random(recipe.seed)
    chosen: dict[str, str] = {}  # id -> split
    _draw(pool, lambda r: r["id"] in test_candidates, recipe.test_fraction, "test", chosen, rng)
    _draw([r for r in pool if r["id"] not in chosen], lambda r: True, recipe.dev_fraction * len(pool)
          / max(1, len(pool) - len(chosen)), "dev", chosen, rng)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for row in pool:
        out[chosen.get(row["id"], "train")].append(row)
    return out


def split_hard(rows: Sequence[dict], recipe: SplitRecipe) -> tuple[list[dict], list[dict]]:
    """(test_hard, train) of actively chosen rows: ``hard_test_fraction`` of each urgency × category
    class held out, spread over sources; its own seeded stream, independent of the pool's draw."""
    rng = random.Random(f"{recipe.seed}:hard")
    chosen: dict[str, str] = {}
    _draw(rows, lambda r: True, recipe.hard_test_fraction, "test_hard", chosen, rng)
    return [r for r in rows if r["id"] in chosen], [r for r in rows if r["id"] not in chosen]


def _draw(rows: Sequence[dict], eligible, fraction: float, name: str, chosen: dict[str, str], rng: random.Random) -> None:
    """Mark ``fraction`` of ``rows`` as ``name``: quotas per urgency × category class, spread over
    sources in proportion; a source without enough eligible rows leaves its shortfall to the other
    sources of the same class, so the label marginals hold even where sources cannot."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        urgency, category, source = stratum(r)
        groups[(urgency, category)][source].append(r)
    group_quota = _allocate({g: sum(len(v) for v in by_source.values()) for g, by_source in groups.items()}, fraction)
    for g in sorted(groups):
        by_source = groups[g]
        total = sum(len(v) for v in by_source.values())
        source_quota = _allocate({s: len(v) for s, v in by_source.items()}, group_quota[g] / total if total else 0)
        spare: list[dict] = []
        taken = 0
        for s in sorted(by_source):
            members = sorted(by_source[s], key=lambda r: r["id"])
            rng.shuffle(members)
            ok = [r for r in members if eligible(r)]
            for r in ok[: source_quota[s]]:
                chosen[r["id"]] = name
                taken += 1
            spare.extend(ok[source_quota[s]:])
        rng.shuffle(spare)
        for r in spare[: max(0, group_quota[g] - taken)]:
            chosen[r["id"]] = name


def check_disjoint(splits: dict[str, list[dict]]) -> list[str]:
    """Problems (empty when fine): an id or a normalized text in two splits or twice in one."""
    problems = []
    seen_id: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    for name, rows in splits.items():
        for r in rows:
            k = text_key(r["text"])
            if r["id"] in seen_id:
                problems.append(f"id {r['id']!r} in {seen_id[r['id']]} and {name}")
            if k in seen_text:
                problems.append(f"text of {r['id']!r} ({name}) also in {seen_text[k]}")
            seen_id.setdefault(r["id"], name)
            seen_text.setdefault(k, f"{name} ({r['id']})")
    return problems


class SplitOverlap(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} rows overlap between or within splits")
        self.problems = problems


def write_split(recipe: SplitRecipe, out: Path) -> dict:
    """Draw the split from ``recipe.sources`` and write ``out/{train,dev,test}.jsonl`` and the manifest.

    Rows are validated by the labelled-data schema; each keeps the ``annotation`` field its source
    line has (the guideline version of its label), which the schema itself does not carry.
    """
    unknown = sorted(set(recipe.test_from) - set(recipe.sources))
    if unknown:
        raise ConfigError(f"--test-from files must be among the sources: {', '.join(unknown)}")
    by_file = {path: read_labelled(path) for path in [*recipe.sources, *recipe.hard]}
    pool = [r for path in recipe.sources for r in by_file[path]]
    kept: dict[str, dict] = {}
    for path in by_file:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line) if line.strip() else {}
                extra = {k: record[k] for k in KEPT_FIELDS if k in record}
                if extra:
                    kept[str(record["id"])] = extra
    candidates = {r["id"] for path in recipe.test_from for r in by_file[path]}
    splits = make_splits(pool, candidates, recipe)
    test_hard, hard_train = split_hard([r for path in recipe.hard for r in by_file[path]], recipe)
    splits["test_hard"] = test_hard
    splits["train"] = splits["train"] + hard_train
    problems = check_disjoint(splits)
    if problems:
        raise SplitOverlap(problems)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"recipe": recipe.to_dict(), "splits": {}}
    for name in SPLITS:
        if name == "test_hard" and not recipe.hard:
            continue
        path = out / f"{name}.jsonl"
        # the source line's extra fields in their own order, after the schema's (the reader keeps
        # ``selection`` too: taken out first, so the committed files are reproduced byte for byte)
        write_jsonl(({**{k: v for k, v in r.items() if k not in KEPT_FIELDS}, **kept.get(r["id"], {})}
                     for r in splits[name]), path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest["splits"][name] = {"file": path.name, "data_version": sha[:16], "sha256": sha, **distribution(splits[name])}
    manifest["test_text_keys"] = sorted(text_key(r["text"]) for r in splits["test"])
    if recipe.hard:
        manifest["test_hard_text_keys"] = sorted(text_key(r["text"]) for r in splits["test_hard"])
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def write_jsonl(rows: Iterable[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def distribution(rows: Sequence[dict]) -> dict:
    return {
        "rows": len(rows),
        "category": dict(Counter(r["category"] for r in rows).most_common()),
        "sentiment": dict(Counter(r["sentiment"] for r in rows).most_common()),
        "urgency": dict(Counter(r["urgency"] for r in rows).most_common()),
        "source": dict(Counter(r.get("source") for r in rows).most_common()),
    }


# --- the guard -------------------------------------------------------------------------------
def load_test_keys(manifest: str | Path | None = None) -> frozenset[str]:
    """Text keys of the held-out splits (test and test_hard) from a split manifest (empty when there is none)."""
    path = Path(manifest) if manifest else DEFAULT_MANIFEST
    if not path.is_file():
        return frozenset()
    data = json.loads(path.read_text(encoding="utf-8"))
    return frozenset(k for name in HELD_OUT for k in data.get(f"{name}_text_keys", []))


def guard_fitting_rows(rows: Sequence[dict], what: str, manifest: str | Path | None = None) -> None:
    """Raise ``TestSplitLeak`` (E602) when rows about to be fitted on include test-split texts."""
    keys = load_test_keys(manifest)
    if not keys:
        return
    leaked = [r["id"] for r in rows if text_key(r["text"]) in keys]
    if leaked:
        raise TestSplitLeak(
            f"{what}: {len(leaked)} rows are texts of a held-out split (test, test_hard), which no fitting step may read "
            f"(first ids: {', '.join(leaked[:5])})",
            details={"rows": len(leaked), "ids": leaked[:20]},
        )
