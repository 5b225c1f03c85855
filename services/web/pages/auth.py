"""Who is signed in on the user pages: any user's API token, typed once into /login (the site's
one signed session cookie then remembers it: one sign-in for the admin pages too, see
services/web/signin.py) or sent as `Authorization: Bearer`.

Sessions are read by services/web/security.py's `session_user` (server-side row, token, proof and
age checked in one place).
"""

from __future__ import annotations

from flask import g, session

from shared.auth import BadToken, check_token
from shared.db.models import User

from ...plumbing.context import bearer_token, get_db
from ..security import SESSION_KEY, session_user


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
