"""`triage keys …` and `triage serve` argument handling."""
from __future__ import annotations

import re

import pytest

from classifier.cli import build_parser, main
from serving.settings import Settings, get_settings


@pytest.fixture
def env_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_key_alone(env_db, capsys):
    code, out, err = run(capsys, "keys", "create", "--role", "ingest")
    assert code == 0
    assert re.fullmatch(r"trk_[A-Za-z0-9_\-]{43}\n", out)
    assert "ingest" in err


def test_list_and_revoke(env_db, capsys):
    _, k1, _ = run(capsys, "keys", "create", "--role", "ingest", "--name", "crm")
    _, k2, _ = run(capsys, "keys", "create", "--role", "supervisor")
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0
    assert k1.strip()[:12] in out and "crm" in out and "supervisor" in out
    assert k1.strip() not in out  # only prefixes are shown
    assert out.count("active") == 2

    code, _, err = run(capsys, "keys", "revoke", k1.strip()[:12])
    assert code == 0 and "revoked key 1" in err
    code, _, err = run(capsys, "keys", "revoke", "1")
    assert code == 0 and "already revoked" in err
    code, _, err = run(capsys, "keys", "revoke", "2")
    assert code == 0
    _, out, _ = run(capsys, "keys", "list")
    assert out.count("revoked") == 2

    code, _, err = run(capsys, "keys", "revoke", "trk_doesnotexist")
    assert code == 1 and "E517" in err


def test_ambiguous_prefix_is_refused(env_db, capsys):
    for _ in range(2):
        run(capsys, "keys", "create", "--role", "ingest")
    code, _, err = run(capsys, "keys", "revoke", "trk_")
    assert code == 1 and "matches 2 keys" in err


def test_unknown_role_is_a_usage_error(env_db, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["keys", "create", "--role", "root"])
    assert exc.value.code == 2


def test_serve_arguments():
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--workers", "2", "--bundle", "b"])
    assert (args.host, args.port, args.workers, args.bundle) == ("0.0.0.0", 9000, 2, "b")
    defaults = build_parser().parse_args(["serve"])
    # Flags left out fall back to the settings: TRIAGE_HOST, TRIAGE_PORT, TRIAGE_SERVER_PROCESSES, TRIAGE_BUNDLE_DIR.
    assert (defaults.host, defaults.port, defaults.workers, defaults.bundle) == (None, None, None, None)
    assert (Settings().host, Settings().port, Settings().server_processes) == ("127.0.0.1", 8000, 1)


def test_serve_with_a_missing_bundle_fails_cleanly(env_db, tmp_path, capsys, monkeypatch):
    # serve exports TRIAGE_BUNDLE_DIR for its workers: let monkeypatch restore it afterwards.
    monkeypatch.setenv("TRIAGE_BUNDLE_DIR", "unused")
    try:
        code, out, err = run(capsys, "serve", "--bundle", str(tmp_path / "nope"))
    finally:
        get_settings.cache_clear()
    assert code == 1
    assert "E101" in err and "Traceback" not in err
