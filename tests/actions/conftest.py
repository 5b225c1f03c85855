"""The lifecycle's rows (a user, a corpus) for the actions, on the clean PostgreSQL database."""

from tests.lifecycle.conftest import TINY_HP, corpus_id, db, owner  # noqa: F401
