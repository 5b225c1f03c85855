"""Who is signed in on the user pages: any user's API token, typed once into /login (the admin
pages' signed session cookie then remembers it: one sign-in for both, see
services/web/admin/security.py) or sent as `Authorization: Bearer`.

Sessions are read by the admin's own `session_user` (server-side row, token, proof and age
checked in one place); `safe_next` is the admin's with any path on this site allowed.
"""

from __future__ import annotations

from flask import g, session

from shared.auth import BadToken, check_token
from shared.db.models import User

from ...plumbing.context import bearer_token, get_db
from ..admin.security import SESSION_KEY, session_user
from ..admin.security import safe_next as admin_safe_next


class SignedOut(Exception):
    """No (or no longer a valid) sign-in; `expired` when a session existed; `refused` says why a
    Bearer token was refused ("invalid token", "token expired at ...")."""

    def __init__(self, expired: bool = False, refused: str | None = None):
        super().__init__("signed out")
        self.expired, self.refused = expired, refused


def authenticate() -> User:
    """The current user (also `g.user`, which the API's visibility rules read), or SignedOut."""
    token = bearer_token()
    if token is not None:
        try:
            user: User | None = check_token(get_db(), token).user
        except BadToken as bad:
            raise SignedOut(refused=bad.message) from None
    else:
        user = session_user()
    if user is None:
        raise SignedOut(expired=SESSION_KEY in session)
    g.user = user
    g.pages_auth = "bearer" if token is not None else "session"
    return user


def safe_next(target: str | None, default: str) -> str:
    """`target` when it is a path on this site, else `default` (no open redirect)."""
    return admin_safe_next(target, default, prefix="/")
