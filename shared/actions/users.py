"""Users: issuing an API token (creating the user if missing) and setting a user's own limits.
The CLI's admin commands call these; the session is the caller's (committed by it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth import create_user_token
from ..db.models import User
from ..lifecycle.quotas import check_overrides, limits_for
from .errors import Invalid, NotFound

# a limit set to this is removed from the user's own limits (back to the QUOTA_* setting)
DEFAULT = "default"


def check_user_name(name: str) -> str:
    """A user name has 1-64 printable characters (surrounding spaces removed)."""
    name = name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise Invalid("a user name has 1-64 printable characters")
    return name


def issue_token(session: Session, name: str, *, admin: bool = False, lifetime: timedelta | None = None) -> str:
    """A new API token for user `name`, created if missing (`admin` also promotes an existing one)."""
    return create_user_token(session, check_user_name(name), admin=admin, lifetime=lifetime)


@dataclass(frozen=True)
class Limits:
    """A user's limits after a change: every limit's value (None: no limit) and which are the user's own."""

    role: str
    limits: dict[str, int | None]
    own: frozenset[str]


def set_quotas(session: Session, name: str, changes: dict[str, int | str | None], *, reset: bool = False) -> Limits:
    """Set a user's own limits: a value sets one, DEFAULT removes one, None leaves it; `reset` removes
    them all first. Checked by the lifecycle's quota rules (`check_overrides`)."""
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise NotFound(f"no user {name.strip()!r}")
    quotas = {} if reset else dict(user.quotas or {})
    for limit, value in changes.items():
        if value == DEFAULT:
            quotas.pop(limit, None)
        elif value is not None:
            quotas[limit] = value
    user.quotas = check_overrides(quotas) or None
    return Limits("admin" if user.is_admin else "user", limits_for(user), frozenset(user.quotas or {}))
