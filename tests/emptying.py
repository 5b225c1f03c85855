"""Emptying a test database between tests: one owner for tests/conftest.py's `clean_db` and the
admin tests' `admin_db`.

Every table of the models loses its rows and every sequence restarts at 1, as `TRUNCATE ...
RESTART IDENTITY` would do, but with DELETE and setval: TRUNCATE gives each table and index a new
file, which PostgreSQL syncs to disk at commit (about 130-200 ms a test on the loaded 2-core CI
machine, 345 tests), while deleting the few rows a test leaves takes about 2 ms.
"""

from functools import cache

from sqlalchemy import text


@cache
def _emptying_sql(url: str) -> str:
    """One batch of statements for the database at `url` (its sequences are read once)."""
    from shared.db.models import Base
    from shared.db.session import get_engine

    with get_engine(url).connect() as conn:
        sequences = conn.execute(text("SELECT schemaname, sequencename FROM pg_sequences")).all()
    # children before parents, so that no foreign key is left pointing at a deleted row
    deletes = "".join(f'DELETE FROM "{table.name}";' for table in reversed(Base.metadata.sorted_tables))
    restarts = ", ".join(f'setval(\'"{schema}"."{name}"\', 1, false)' for schema, name in sequences)
    return f"{deletes} SELECT {restarts};" if restarts else deletes


def empty_database(url: str) -> None:
    """Every table of the models emptied and its ids restarted, in one transaction."""
    from shared.db.session import get_engine

    with get_engine(url).begin() as conn:
        conn.exec_driver_sql(_emptying_sql(url))
