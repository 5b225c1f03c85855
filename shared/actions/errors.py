"""What an action raises when it refuses: the API answers each kind with its status
(services/plumbing/errors.py: `as_api_error`), the pages with a flash or an error page.
Past a quota is the lifecycle's QuotaExceeded (429), raised as it is."""

from __future__ import annotations


def field_error(field: str, msg: str, type_: str = "value_error") -> dict:
    """One `detail` entry in the shape pydantic uses, for checks done after validation."""
    return {"loc": [field], "msg": msg, "type": type_}


class ActionError(Exception):
    """A refused use case: `message`, and per-field `detail` (pydantic's shape) where it names fields."""

    def __init__(self, message: str, detail: list[dict] | None = None):
        super().__init__(message)
        self.message, self.detail = message, detail


class NotFound(ActionError):
    """No such record, or not one the acting user may see."""


class Conflict(ActionError):
    """The record's state does not allow it (finished, running, no checkpoint yet, still in use)."""


class Invalid(ActionError):
    """The request breaks a domain rule (the corpus too short, a bad grid, a seed with nothing left)."""


class Unavailable(ActionError):
    """A dependency did not take the work (the broker): the record is marked failed, not queued."""


class TooLarge(ActionError):
    """An upload over its size limit (nothing of it is kept)."""
