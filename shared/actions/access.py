"""Which records a user may see: their own, every one for an admin. Another user's record is
NotFound, as if it did not exist. The API, the pages and the actions all read through here."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shared.db.models import Job, User

from .errors import NotFound

MAX_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one cannot exist (and must not reach the query)

Owned = TypeVar("Owned")


def visible(stmt: Select, model: Any, user: User) -> Select:
    """Restrict a query on an owned model to what `user` may see."""
    return stmt if user.is_admin else stmt.where(model.owner_id == user.id)


def visible_children(session: Session, user: User, job: Job) -> list[Job]:
    """The jobs continued or forked from `job` that `user` may see (another user's fork of an
    admin's or a shared job is not theirs to know about)."""
    return list(session.scalars(visible(select(Job).where(Job.parent_id == job.id), Job, user).order_by(Job.id)))


def get_visible(session: Session, user: User, model: type[Owned], object_id: int) -> Owned:
    """The record, or NotFound when it does not exist or `user` may not see it."""
    obj = session.get(model, object_id) if 1 <= object_id <= MAX_ID else None
    if obj is None or not (user.is_admin or obj.owner_id == user.id):  # type: ignore[attr-defined]
        raise NotFound(f"{model.__name__.lower()} {object_id} not found")
    return obj
