"""The visibility rules (shared/actions/access.py) for the request's user (`g.user`, set by the
API's bearer token or the pages' sign-in) in the request's session: the API and the pages alike."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import g
from sqlalchemy import Select

from shared.actions import access
from shared.actions.access import MAX_ID
from shared.db.models import Job, User

from .context import get_db

__all__ = ["MAX_ID", "current_user", "get_visible", "visible", "visible_children"]

Owned = TypeVar("Owned")


def current_user() -> User:
    return g.user


def visible(stmt: Select, model: Any) -> Select:
    """Restrict a query on an owned model to what the current user may see."""
    return access.visible(stmt, model, g.user)


def visible_children(job: Job) -> list[Job]:
    """The jobs continued or forked from `job` that the current user may see."""
    return access.visible_children(get_db(), g.user, job)


def get_visible(model: type[Owned], object_id: int) -> Owned:
    """The record, or shared.actions.NotFound (a 404) when it does not exist or is someone else's."""
    return access.get_visible(get_db(), g.user, model, object_id)
