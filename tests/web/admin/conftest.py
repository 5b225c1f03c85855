"""Fixtures for the admin pages: a fresh migrated PostgreSQL database (dropped at the end), the app
with the admin blueprint and a Celery app on Redis db 13. Helpers that write rows through the
models are in admin_helpers.py.
"""

import pytest

from tests.web.admin.admin_helpers import ADMIN_REDIS_URL, build_app


@pytest.fixture(scope="session")
def admin_db_url(make_pg_database):
    """A fresh, migrated database of the admin tests' own (dropped at the end)."""
    from shared.db.migrate import upgrade

    url = make_pg_database()
    upgrade(url)
    return url


@pytest.fixture
def admin_db(admin_db_url):
    """The admin test database emptied before the test; yields a session (commit yourself)."""
    from shared.db.session import sessionmaker_for
    from tests.emptying import empty_database

    empty_database(admin_db_url)
    with sessionmaker_for(admin_db_url)() as session:
        yield session


@pytest.fixture(scope="session")
def admin_celery():
    from celery import Celery

    app = Celery("charlstm-admin-test", broker=ADMIN_REDIS_URL)
    yield app
    app.close()


@pytest.fixture
def redis13():
    import redis

    client = redis.Redis.from_url(ADMIN_REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        pytest.fail(f"the tests need Redis at {ADMIN_REDIS_URL} (.ci/run starts it): {exc}")
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def admin_app(admin_db_url, admin_db, admin_celery, tmp_path):
    return build_app(admin_db_url, admin_celery, tmp_path)


@pytest.fixture
def admin_client(admin_app):
    return admin_app.test_client()
