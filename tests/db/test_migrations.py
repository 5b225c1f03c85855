"""The Alembic migrations reach head on PostgreSQL and SQLite, agree with the models, and go back to base."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from shared.db.migrate import alembic_config, downgrade, upgrade
from shared.db.models import Base

TABLES = {"users", "tokens", "corpora", "jobs", "epochs", "samples"}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def check_at_head_and_matches_models(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == HEAD
        assert compare_metadata(context, Base.metadata) == []
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def check_downgrade_to_base(url: str) -> None:
    downgrade(url, "base")
    engine = create_engine(url, poolclass=NullPool)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_postgres_reaches_head_and_matches_models(migrated_db):
    check_at_head_and_matches_models(migrated_db)


def test_postgres_downgrade_to_base_and_up_again(make_pg_database):
    url = make_pg_database()
    upgrade(url)
    check_downgrade_to_base(url)
    upgrade(url)
    check_at_head_and_matches_models(url)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'charlstm.db'}"


def test_sqlite_reaches_head_and_matches_models(sqlite_url):
    upgrade(sqlite_url)
    check_at_head_and_matches_models(sqlite_url)
    check_downgrade_to_base(sqlite_url)


def test_upgrade_is_idempotent(sqlite_url):
    upgrade(sqlite_url)
    upgrade(sqlite_url)
    check_at_head_and_matches_models(sqlite_url)


def test_default_url_comes_from_settings(monkeypatch, tmp_path):
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    get_settings.cache_clear()
    try:
        upgrade()
    finally:
        get_settings.cache_clear()
    check_at_head_and_matches_models(f"sqlite:///{tmp_path / 'from-env.db'}")
