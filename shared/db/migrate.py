"""Run the Alembic migrations programmatically: `upgrade(url)` or `python -m shared.db.migrate [URL]`.

The URL defaults to DATABASE_URL (shared.settings). No alembic.ini is needed: the script
location is the repository's migrations/ folder.
"""

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    upgrade(args[0] if args else None)
    print("database is at the latest revision")
    return 0


if __name__ == "__main__":
    sys.exit(main())
