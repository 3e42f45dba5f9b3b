"""Settings that are computed, not just read: the model's worker/thread layout per process."""
from __future__ import annotations

import sys

from serving.settings import Settings, model_parallelism, solo_threads


def test_automatic_layout_is_one_single_threaded_worker_per_core():
    assert model_parallelism(Settings(_env_file=None), cores=2) == (2, 1)
    assert model_parallelism(Settings(_env_file=None), cores=1) == (1, 1)
    assert model_parallelism(Settings(_env_file=None), cores=32) == (8, 4)  # capped at 8 workers


def test_server_processes_split_the_cores():
    settings = Settings(_env_file=None, server_processes=2)
    assert model_parallelism(settings, cores=8) == (4, 1)
    assert model_parallelism(Settings(_env_file=None, server_processes=4), cores=2) == (1, 1)


def test_explicit_layout_wins():
    assert model_parallelism(Settings(_env_file=None, model_workers=1), cores=2) == (1, 2)
    assert model_parallelism(Settings(_env_file=None, model_workers=1, model_threads=3), cores=2) == (1, 3)


def test_the_solo_session_takes_the_process_share_of_the_cores():
    assert solo_threads(Settings(_env_file=None), cores=2) == 2  # 2 workers x 1 thread; alone: 2
    assert solo_threads(Settings(_env_file=None, server_processes=2), cores=8) == 4
    assert solo_threads(Settings(_env_file=None, model_solo_session=False), cores=2) == 0
    assert solo_threads(Settings(_env_file=None, model_workers=1), cores=2) == 0  # already every core
    assert solo_threads(Settings(_env_file=None), cores=1) == 0


def test_layout_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRIAGE_MODEL_WORKERS", "3")
    monkeypatch.setenv("TRIAGE_SERVER_PROCESSES", "1")
    assert model_parallelism(Settings(_env_file=None), cores=6) == (3, 2)


def test_serve_app_sets_the_switch_interval(monkeypatch, tmp_path):
    from serving import app as app_module
    from serving.http import logs
    from serving.settings import get_settings

    monkeypatch.setattr(logs, "configure_logging", lambda *a, **k: None)  # keep pytest's logging

    monkeypatch.setenv("TRIAGE_SWITCH_INTERVAL_MS", "0.5")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    before = sys.getswitchinterval()
    get_settings.cache_clear()
    try:
        app_module.serve_app()
        assert abs(sys.getswitchinterval() - 0.0005) < 1e-9
    finally:
        sys.setswitchinterval(before)
        get_settings.cache_clear()
