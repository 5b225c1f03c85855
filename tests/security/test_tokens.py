"""Tokens are stored hashed (no column of any table holds the plain token; the stored value is
shared.auth.hash_token's SHA-256) and checked with hmac.compare_digest on every authentication."""

import hashlib
import hmac

import pytest
from sqlalchemy import text

from shared import auth
from shared.settings import get_settings


def rows_containing(db_url: str, needle: str) -> list[str]:
    """`table.column` for every column of every table (any type, cast to text) holding `needle`."""
    from shared.db.session import get_engine

    found = []
    with get_engine(db_url).connect() as conn:
        columns = conn.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY table_name, column_name"
            )
        ).all()
        assert {t for t, _, _ in columns} >= {"users", "tokens", "corpora", "jobs", "epochs", "samples"}
        for table, column, data_type in columns:
            value = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'CAST("{column}" AS TEXT)'
            hits = conn.scalar(
                text(f'SELECT count(*) FROM "{table}" WHERE strpos({value}, :needle) > 0'), {"needle": needle}
            )
            if hits:
                found.append(f"{table}.{column}")
    return found


@pytest.fixture
def cli_token(clean_db, monkeypatch, capsys):
    """A token made by `charlstm admin create-token carol --admin` against the test database."""
    from services.cli.main import main

    monkeypatch.setenv("DATABASE_URL", clean_db)
    get_settings.cache_clear()
    try:
        assert main(["admin", "create-token", "carol", "--admin"]) == 0
    finally:
        monkeypatch.delenv("DATABASE_URL")
        get_settings.cache_clear()
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_no_column_of_any_table_holds_a_plain_token(client, clean_db, user_token, admin_token, cli_token):
    for token in (user_token, admin_token, cli_token):
        # use each token for real first: nothing on the way may record it either
        assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/admin/", headers={"Authorization": f"Bearer {token}"}).status_code in (200, 403)
        assert rows_containing(clean_db, token) == []
        assert rows_containing(clean_db, token[:16]) == []  # nor a prefix of it
        # the scan does find what is there: the hash, in tokens.token_hash only
        assert rows_containing(clean_db, auth.hash_token(token)) == ["tokens.token_hash"]


def test_stored_hash_is_the_sha256_that_shared_auth_computes(db_session, user_token, cli_token):
    stored = set(db_session.scalars(text("SELECT token_hash FROM tokens")))
    for token in (user_token, cli_token):
        assert auth.hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
        assert auth.hash_token(token) in stored
    assert len(stored) == 2 and all(len(h) == 64 for h in stored)


def test_authentication_compares_hashes_with_compare_digest(client, user_token, admin_token, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    for token, path in ((user_token, "/api/v1/corpora"), (admin_token, "/admin/")):
        calls.clear()
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        digest = auth.hash_token(token)
        # compared: the stored hash with the hash of what was sent, never the secret itself
        assert (digest, digest) in calls, calls
        assert all(token not in (a, b) for a, b in calls)


def test_a_failing_compare_digest_refuses_the_token(client, user_token, monkeypatch):
    """The answer depends on compare_digest: the lookup by hash alone does not let a token in."""
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: False)
    response = client.get("/api/v1/corpora", headers={"Authorization": f"Bearer {user_token}"})
    assert response.status_code == 401
    assert client.get("/admin/", headers={"Authorization": f"Bearer {user_token}"}).status_code == 401
