"""Shared fixtures: a real PostgreSQL database (created for the session, dropped at the end),
the API app on it, a Redis test broker and users with API tokens.

Environment for the whole test session (set here, before anything builds the Celery app or reads
settings): BROKER_URL is the test Redis (db 15; override with TEST_BROKER_URL), CHARLSTM_VAR_DIR
a temporary folder (local object store, SQLite default), SECRET_KEY a random key, and DATABASE_URL / S3_BUCKET are
removed so that nothing can reach a real deployment. PostgreSQL comes from TEST_PG_ADMIN_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

TEST_BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
TEST_PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_MAX_UPLOAD_BYTES = 100_000
TEST_VAR_DIR = Path(tempfile.mkdtemp(prefix="charlstm-test-"))

os.environ["BROKER_URL"] = TEST_BROKER_URL
os.environ["CHARLSTM_VAR_DIR"] = str(TEST_VAR_DIR)
# outside embedded mode the app refuses to start without a strong key (services/web/admin/security.py)
os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)
# a test may hold its session's transaction open while it waits for workers; PostgreSQL must not end it
os.environ.setdefault("IDLE_TRANSACTION_TIMEOUT", "3600")
for _name in ("DATABASE_URL", "S3_BUCKET", "S3_ENDPOINT_URL"):
    os.environ.pop(_name, None)

from sqlalchemy import create_engine, make_url, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from shared.settings import Settings, get_settings  # noqa: E402

get_settings.cache_clear()


def pytest_collection_finish(session):
    """The backend matrix's subprocesses start as soon as the tests are known, so that they run
    alongside the rest of the suite (tests/engine/test_backends.py)."""
    if any(item.nodeid.startswith("tests/engine/test_backends.py") for item in session.items):
        from tests.engine import test_backends

        test_backends.start_early(Path(tempfile.mkdtemp(prefix="charlstm-backends-")))


def pytest_sessionfinish(session, exitstatus):
    import sys

    if "tests.engine.test_backends" in sys.modules:
        sys.modules["tests.engine.test_backends"].stop_early()  # and removes its folder
    shutil.rmtree(TEST_VAR_DIR, ignore_errors=True)


# ---- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_pg_database():
    """Factory: `make_pg_database() -> url` of a new empty database; all are dropped at the end."""
    admin = create_engine(TEST_PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        admin.connect().close()
    except OperationalError as exc:
        pytest.fail(f"the tests need PostgreSQL at {TEST_PG_ADMIN_URL} (.ci/run starts it): {exc.orig}")
    created = []

    def make() -> str:
        name = f"charlstm_test_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(TEST_PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    from shared.db.session import get_engine

    with admin.connect() as conn:
        for name in created:
            url = make_url(TEST_PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
            get_engine(url).dispose()
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(make_pg_database) -> str:
    """URL of a fresh database `charlstm_test_<random>` for the session (empty, not migrated)."""
    return make_pg_database()


@pytest.fixture(scope="session")
def migrated_db(pg_url) -> str:
    """pg_url after `alembic upgrade head` (shared.db.migrate.upgrade)."""
    from shared.db.migrate import upgrade

    upgrade(pg_url)
    return pg_url


@pytest.fixture
def clean_db(migrated_db) -> str:
    """The migrated database with every table emptied (and ids restarted) before the test."""
    from tests.emptying import empty_database

    empty_database(migrated_db)
    return migrated_db


@pytest.fixture
def db_session(clean_db):
    """A session on the clean test database, to arrange or inspect rows (commit yourself)."""
    from shared.db.session import sessionmaker_for

    with sessionmaker_for(clean_db)() as session:
        yield session


# ---- broker, settings, app ------------------------------------------------------------------


@pytest.fixture
def broker():
    """A redis client on the emptied test broker database: `broker.llen("training")`."""
    import redis

    client = redis.Redis.from_url(TEST_BROKER_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        pytest.fail(f"the tests need Redis at {TEST_BROKER_URL} (.ci/run starts it): {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def s3_endpoint():
    """URL of a moto S3 server (ThreadedMotoServer on a free port), e.g. http://127.0.0.1:41234."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def settings(migrated_db) -> Settings:
    """Settings for the app: the session's PostgreSQL, the test broker, the temporary var dir,
    MAX_UPLOAD_BYTES = TEST_MAX_UPLOAD_BYTES."""
    return Settings(
        DATABASE_URL=migrated_db,
        BROKER_URL=TEST_BROKER_URL,
        CHARLSTM_VAR_DIR=str(TEST_VAR_DIR),
        MAX_UPLOAD_BYTES=TEST_MAX_UPLOAD_BYTES,
    )


@pytest.fixture
def store(settings):
    """The (local) object store the app uses, emptied before the test."""
    from shared.storage import get_store

    shutil.rmtree(settings.objects_dir, ignore_errors=True)
    return get_store(settings)


@pytest.fixture
def app(settings, clean_db, store, broker):
    """The API app (services.api.create_app) on a clean database, store and broker."""
    from services.app import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


# ---- users ----------------------------------------------------------------------------------


def _token(url: str, name: str, admin: bool = False) -> str:
    from shared.auth import create_user_token
    from shared.db.session import session_scope

    with session_scope(url) as session:
        return create_user_token(session, name, admin=admin)


@pytest.fixture
def user_token(clean_db) -> str:
    """Plain API token of user `alice`."""
    return _token(clean_db, "alice")


@pytest.fixture
def other_token(clean_db) -> str:
    """Plain API token of user `bob` (another ordinary user)."""
    return _token(clean_db, "bob")


@pytest.fixture
def admin_token(clean_db) -> str:
    """Plain API token of admin `root`."""
    return _token(clean_db, "root", admin=True)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def user_headers(user_token) -> dict:
    return bearer(user_token)


@pytest.fixture
def other_headers(other_token) -> dict:
    return bearer(other_token)


@pytest.fixture
def admin_headers(admin_token) -> dict:
    return bearer(admin_token)
