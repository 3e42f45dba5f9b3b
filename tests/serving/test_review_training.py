"""The loop closed: supervisors' decisions exported by the service train a model (tiny config).

Two exports of the same database — before and after a decision was revised — are both listed in
`extra_train_files`: training accepts them, and the later decision is the one it trains on.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

from classifier.cli import main  # noqa: E402
from training.data.schema import read_labelled, read_labelled_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_exported_decisions_train_a_model_and_the_later_decision_wins(make_client, fake_classifier, tmp_path,
                                                                      monkeypatch, capsys):
    db_url = f"sqlite:///{tmp_path / 'loop.db'}"
    api = make_client(fake_classifier, database_url=db_url)
    r = api.classify([
        {"id": "CRM-1001", "text": "他们天天打电话催收，还打到我单位 不确定", "metadata": {"channel": "app", "customer_tier": "vip"}},
        {"id": "CRM-1002", "text": "信用卡年费没提前告知就扣了 不确定", "metadata": {"channel": "hotline"}},
    ])
    assert r.status_code == 200, r.text
    h = api.headers("supervisor")
    queue = {i["item_id"]: i for i in api.client.get("/v1/review", headers=h).json()["items"]}
    first, second = queue["CRM-1001"]["id"], queue["CRM-1002"]["id"]
    assert api.client.post(f"/v1/items/{first}/review", headers=h, json={"category": "product_service", "revision": 0}).status_code == 200
    monkeypatch.setenv("DATABASE_URL", db_url)
    early = tmp_path / "reviewed-early.jsonl"
    assert main(["review", "export", "--out", str(early)]) == 0
    # Revised (the first decision was wrong) and a second item decided, then exported again.
    assert api.client.post(f"/v1/items/{first}/review", headers=h, json={"category": "contract_legal", "revision": 1}).status_code == 200
    assert api.client.post(f"/v1/items/{second}/review", headers=h, json={"sentiment": "negative", "revision": 0}).status_code == 200
    late = tmp_path / "reviewed-late.jsonl"
    assert main(["review", "export", "--out", str(late)]) == 0
    capsys.readouterr()

    rows = [json.loads(line) for line in late.read_text(encoding="utf-8").splitlines()]
    assert [(r["item_id"], r["revision"]) for r in rows] == [("CRM-1001", 2), ("CRM-1002", 1)]  # one row per item
    assert rows[0]["metadata"] == {"channel": "app", "customer_tier": "vip"} and rows[0]["request_id"]
    assert rows[0]["source"] == f"review:{fake_classifier.model_version}" and rows[0]["reviewed_at"].endswith("+00:00")
    assert read_labelled(early)[0]["category"] == "product_service"

    base = tmp_path / "base.jsonl"  # a small slice of the training split, so the review rows are not cut off
    base.write_text("".join((ROOT / "data/labeled/train.jsonl").read_text(encoding="utf-8").splitlines(True)[:64]),
                    encoding="utf-8")
    merged = {r["id"]: r for r in read_labelled_files([base, early, late])}  # what training reads
    assert merged[f"review-{first}"]["category"] == "contract_legal"  # the later decision won
    assert len(merged) == 64 + 2

    cfg = yaml.safe_load((ROOT / "configs/train-tiny.yaml").read_text())
    cfg.update(train_file=str(base), extra_train_files=[str(early), str(late)], dev_file=str(ROOT / cfg["dev_file"]),
               base_model_dir=str(tmp_path / "base-model"), output_dir=str(tmp_path / "run"), max_train_rows=None,
               max_dev_rows=32, epochs=1)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(config)]) == 0
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["best_epoch"] == 1
    saved = yaml.safe_load((tmp_path / "run" / "train_config.yaml").read_text())
    assert saved["extra_train_files"] == [str(early), str(late)]


def test_other_duplicate_ids_are_still_refused(tmp_path):
    from classifier.errors import TriageError

    row = {"id": "x-1", "text": "转账失败", "category": "product_service", "category_secondary": None,
           "sentiment": "negative", "urgency": "medium", "source": "maintainers"}
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    b.write_text(json.dumps({**row, "source": "review:m"}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(TriageError):  # a review row cannot replace a curated one
        read_labelled_files([a, b])
    review = tmp_path / "r.jsonl"
    review.write_text("".join(json.dumps({**row, "source": "review:m", "urgency": u}) + "\n" for u in ("low", "high")),
                      encoding="utf-8")
    assert [r["urgency"] for r in read_labelled(review)] == ["high"]  # in one export too, the later row wins
