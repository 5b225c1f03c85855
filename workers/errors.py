"""Turning exceptions into the one-line reasons stored on failed jobs and samples."""

from __future__ import annotations

from shared.db.retry import DatabaseUnreachable
from shared.storage import StorageError


class JobError(Exception):
    """A failure whose message is already the reason to show the user."""


def describe_error(exc: BaseException) -> str:
    """A clear message, never a traceback: the engine's input errors (CorpusError, CheckpointError
    and other ValueErrors) say what is wrong; anything else is reported by type."""
    if isinstance(exc, (JobError, DatabaseUnreachable)):
        return str(exc)
    if isinstance(exc, StorageError):
        return f"object storage error: {exc}"
    message = " ".join(str(exc).split())
    if isinstance(exc, ValueError):
        return message or type(exc).__name__
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"internal error ({type(exc).__name__}): {message}" if message else f"internal error ({type(exc).__name__})"
