"""Who is signed in on the user pages: any user's API token, typed once into /login (the admin
pages' signed session cookie then remembers it: one sign-in for both, see
services/admin/security.py) or sent as `Authorization: Bearer`.

`session_user` is the admin's `session_admin` without the admin check; `safe_next` accepts any
path on this site. (Both belong in services/admin/security.py as a parameter of the admin's
functions; they are thin wrappers here until they move.)
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, g, session

from shared.auth import user_for_token
from shared.db.models import Token, User

from ..admin.security import DEFAULT_MAX_AGE, SESSION_KEY
from ..context import bearer_token, get_db


class SignedOut(Exception):
    """No (or no longer a valid) sign-in; `expired` when a session existed."""

    def __init__(self, expired: bool = False):
        super().__init__("signed out")
        self.expired = expired


def session_user() -> User | None:
    """The user remembered by the session cookie, while its token exists and the sign-in is
    younger than ADMIN_SESSION_MAX_AGE seconds."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    max_age = current_app.config.get("ADMIN_SESSION_MAX_AGE", DEFAULT_MAX_AGE)
    at = data.get("at")
    if not isinstance(at, int) or (max_age and time.time() - at > max_age):
        return None
    token = get_db().get(Token, data.get("token_id"))
    if token is None or token.user_id != data.get("user_id"):
        return None
    return token.user


def authenticate() -> User:
    """The current user (also `g.user`, which the API's visibility rules read), or SignedOut."""
    token = bearer_token()
    user = user_for_token(get_db(), token) if token is not None else session_user()
    if user is None:
        raise SignedOut(expired=token is None and SESSION_KEY in session)
    g.user = user
    g.pages_auth = "bearer" if token is not None else "session"
    return user


def safe_next(target: str | None, default: str) -> str:
    """`target` when it is a path on this site, else `default` (no open redirect)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target) or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return default
    return target
