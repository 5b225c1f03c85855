"""API tokens (shared.auth) and `charlstm admin create-token`."""

import argparse

from sqlalchemy import select

from shared.auth import create_user_token, hash_token, new_token, user_for_token
from shared.db.models import Token, User


def test_tokens_are_random_and_only_their_hash_is_stored(db_session):
    assert new_token() != new_token() and len(new_token()) >= 40
    token = create_user_token(db_session, "alice")
    db_session.commit()
    [row] = db_session.scalars(select(Token)).all()
    assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert len(row.token_hash) == 64


def test_a_token_never_starts_with_a_dash(monkeypatch):
    """`charlstm --token -abc...` would be read as an option: such draws are thrown away."""
    import secrets

    draws = iter(["-starts-like-an-option", "_fine"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(draws))
    assert new_token() == "_fine"


def test_user_for_token(db_session):
    token = create_user_token(db_session, "alice")
    second = create_user_token(db_session, "alice")
    db_session.commit()
    assert user_for_token(db_session, token).name == "alice"
    assert user_for_token(db_session, second).name == "alice"
    assert db_session.scalar(select(User).where(User.name == "alice")).is_admin is False
    assert user_for_token(db_session, token + "x") is None
    assert user_for_token(db_session, "") is None
    assert user_for_token(db_session, None) is None


def test_admin_flag_promotes(db_session):
    create_user_token(db_session, "carol")
    token = create_user_token(db_session, "carol", admin=True)
    db_session.commit()
    assert user_for_token(db_session, token).is_admin is True
    assert db_session.query(User).count() == 1


def run_cli(argv):
    from services.cli import admin

    parser = argparse.ArgumentParser()
    admin.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_create_token(clean_db, db_session, monkeypatch, capsys):
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", clean_db)
    get_settings.cache_clear()
    try:
        assert run_cli(["admin", "create-token", "dave", "--admin"]) == 0
    finally:
        get_settings.cache_clear()
    token = capsys.readouterr().out.strip().splitlines()[-1]
    user = user_for_token(db_session, token)
    assert user.name == "dave" and user.is_admin


def test_cli_create_token_with_a_lifetime(clean_db, db_session, monkeypatch, capsys):
    """`--expires 30d` (also 12h, 90m) stores Token.expires_at; the token works until then, and
    afterwards check_token refuses it saying it expired."""
    from datetime import UTC, datetime, timedelta

    import pytest

    from shared.auth import BadToken, check_token
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", clean_db)
    get_settings.cache_clear()
    try:
        for lifetime, expected in (
            ("30d", timedelta(days=30)),
            ("12h", timedelta(hours=12)),
            ("90m", timedelta(minutes=90)),
        ):
            before = datetime.now(UTC)
            assert run_cli(["admin", "create-token", "erin", "--expires", lifetime]) == 0
            out = capsys.readouterr().out
            assert "expires: " in out
            row = check_token(db_session, out.strip().splitlines()[-1])
            assert row.expires_at is not None
            assert before + expected <= row.expires_at <= datetime.now(UTC) + expected
        assert run_cli(["admin", "create-token", "erin"]) == 0
        assert check_token(db_session, capsys.readouterr().out.strip().splitlines()[-1]).expires_at is None
    finally:
        get_settings.cache_clear()
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db_session.commit()
    with pytest.raises(BadToken) as refused:
        check_token(db_session, out.strip().splitlines()[-1])
    assert refused.value.expired and refused.value.message.startswith("token expired at ")
    assert user_for_token(db_session, out.strip().splitlines()[-1]) is None


def test_cli_refuses_a_bad_lifetime(capsys):
    import pytest

    for bad in ("30", "0d", "1w", "-5m", "4000d", "d"):
        with pytest.raises(SystemExit) as usage:
            run_cli(["admin", "create-token", "erin", "--expires", bad])
        assert usage.value.code == 2, bad
        assert "--expires" in capsys.readouterr().err


def test_cli_rejects_bad_names(capsys):
    assert run_cli(["admin", "create-token", " "]) == 2
    assert "user name" in capsys.readouterr().err


def test_cli_unmigrated_database(tmp_path, monkeypatch, capsys):
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        assert run_cli(["admin", "create-token", "erin"]) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "charlstm admin migrate" in err and str(tmp_path / "empty.db") in err


def test_cli_outside_the_repository_creates_no_stray_database(tmp_path):
    """create-token in a folder without var/ (no DATABASE_URL): names the database it looked for
    and the command that works, creates nothing; `charlstm admin migrate` there makes one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CHARLSTM_VAR_DIR"}}
    env["PYTHONPATH"] = str(root)
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()

    def charlstm(*argv):
        code = "import sys; from services.cli.main import main; sys.exit(main(sys.argv[1:]))"
        return subprocess.run(
            [sys.executable, "-c", code, *argv], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
        )

    refused = charlstm("admin", "create-token", "alice")
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"no database at {elsewhere / 'var' / 'charlstm.db'}" in refused.stderr
    assert "charlstm admin migrate" in refused.stderr and "CHARLSTM_VAR_DIR=" in refused.stderr
    assert "shared.db.migrate" not in refused.stderr and "Traceback" not in refused.stderr
    assert list(elsewhere.iterdir()) == []  # no stray var/charlstm.db

    migrated = charlstm("admin", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert str(elsewhere / "var" / "charlstm.db") in migrated.stdout
    made = charlstm("admin", "create-token", "alice", "--admin")
    assert made.returncode == 0, made.stderr
    assert f"database: {elsewhere / 'var' / 'charlstm.db'}" in made.stdout and len(made.stdout.split()[-1]) >= 40
