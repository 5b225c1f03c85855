"""Riding out a database outage: the workers' and the reconciler's database steps retry on
connection errors with capped exponential backoff for DATABASE_RETRY_SECONDS, then give up with a
reason that says what happened ("database unreachable for 130 s while recording epoch 3").

A step is one whole transaction (`run_in_session`): a retry starts a new session on a new
connection (the pool pre-pings and replaces dead ones). Lifecycle steps are written to be safe to
repeat (an epoch row is inserted or replaced, a finished record stays finished).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from ..settings import get_settings
from .session import session_scope

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY = 0.2  # seconds, doubled after each failure
MAX_DELAY = 5.0


class DatabaseUnreachable(Exception):
    """The database refused or dropped connections for longer than the retry budget."""


def is_disconnect(exc: BaseException) -> bool:
    """A connection error (refused, reset, dropped, server shutting down): worth retrying.
    OperationalError and InterfaceError are the DBAPI's connection-level errors; any other
    DBAPIError counts when SQLAlchemy invalidated the connection for it."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def with_db_retries(
    fn: Callable[[], T],
    what: str,
    seconds: float | None = None,
    first_delay: float = FIRST_DELAY,
    max_delay: float = MAX_DELAY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """fn(), retried on connection errors (is_disconnect) with backoff doubling from `first_delay`
    up to `max_delay`, for `seconds` (default DATABASE_RETRY_SECONDS). Other errors propagate at
    once; past the budget, DatabaseUnreachable("database unreachable for N s while <what>")."""
    budget = get_settings().database_retry_seconds if seconds is None else seconds
    started = time.monotonic()
    delay, failures = first_delay, 0
    while True:
        try:
            result = fn()
        except Exception as exc:
            if not is_disconnect(exc):
                raise
            failures += 1
            elapsed = time.monotonic() - started
            if elapsed + delay > budget:
                raise DatabaseUnreachable(
                    f"database unreachable for {elapsed:.0f} s while {what}: {_first_line(exc)}"
                ) from exc
            log.warning("database unreachable while %s (try %d, %.0f s so far): %s", what, failures, elapsed, exc)
            sleep(delay)
            delay = min(delay * 2, max_delay)
        else:
            if failures:
                log.info("database back after %.1f s while %s", time.monotonic() - started, what)
            return result


def run_in_session(fn: Callable[[Session], T], what: str, url: str | None = None, seconds: float | None = None) -> T:
    """fn(session) in its own committed transaction, the whole transaction retried (with_db_retries)."""

    def attempt() -> T:
        with session_scope(url) as session:
            return fn(session)

    return with_db_retries(attempt, what, seconds)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
