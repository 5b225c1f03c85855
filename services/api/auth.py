"""Bearer tokens: `Authorization: Bearer <token>` sets `g.user`; anything else is a 401.

Users see their own objects only (another user's id is a 404, as if it did not exist);
admins see everything (shared/actions/access.py, read through services/plumbing/access.py).
"""

from flask import g

from shared.auth import BadToken, check_token

from ..plumbing.access import MAX_ID, get_visible, visible, visible_children
from ..plumbing.context import bearer_token, get_db
from ..plumbing.errors import ApiError

__all__ = ["MAX_ID", "SECURITY", "SECURITY_SCHEMES", "get_visible", "require_user", "visible", "visible_children"]

SECURITY_SCHEMES: dict = {"bearer": {"type": "http", "scheme": "bearer", "description": "an API token"}}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
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
