"""Bearer tokens: `Authorization: Bearer <token>` sets `g.user`; anything else is a 401.

Users see their own objects only (another user's id is a 404, as if it did not exist);
admins see everything.
"""

from flask import g
from sqlalchemy import Select, select

from shared.auth import BadToken, check_token
from shared.db.models import Job

from ..plumbing.context import bearer_token, get_db
from ..plumbing.errors import ApiError

SECURITY_SCHEMES: dict = {"bearer": {"type": "http", "scheme": "bearer", "description": "an API token"}}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
MAX_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one cannot exist (and must not reach the query)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="charlstm"'}


def require_user() -> None:
    """A `before_request` hook for the blueprints that need a user."""
    token = bearer_token()
    if token is None:
        raise ApiError(401, "missing bearer token", headers=_CHALLENGE)
    try:
        row = check_token(get_db(), token)
    except BadToken as bad:  # "invalid token", or "token expired at ..."
        raise ApiError(401, bad.message, headers=_CHALLENGE) from None
    g.user = row.user


def visible(stmt: Select, model) -> Select:
    """Restrict a query on an owned model to what the current user may see."""
    return stmt if g.user.is_admin else stmt.where(model.owner_id == g.user.id)


def visible_children(job: Job) -> list[Job]:
    """The jobs continued or forked from `job` that the current user may see (another user's fork
    of an admin's or a shared job is not theirs to know about)."""
    return list(get_db().scalars(visible(select(Job).where(Job.parent_id == job.id), Job).order_by(Job.id)))


def get_visible(model, object_id: int):
    """The object, or a 404 when it does not exist or belongs to someone else."""
    obj = get_db().get(model, object_id) if 1 <= object_id <= MAX_ID else None
    if obj is None or not (g.user.is_admin or obj.owner_id == g.user.id):
        raise ApiError(404, f"{model.__name__.lower()} {object_id} not found")
    return obj
