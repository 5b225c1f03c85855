"""Who may see the admin pages: an admin's API token, either typed once into the login form
(a signed session cookie then remembers which token) or sent as `Authorization: Bearer` on
every request. CSRF (Flask-WTF) guards the forms of cookie sessions only: a Bearer header is
never sent by a browser on its own.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, g, session
from flask_wtf.csrf import CSRFProtect, generate_csrf

from shared.auth import find_token
from shared.db.models import Token, User

from ..context import bearer_token, get_db

SESSION_KEY = "charlstm_admin"  # {"token_id", "user_id", "at"} in Flask's signed session cookie
DEFAULT_MAX_AGE = 12 * 3600

# Never `init_app`ed: that would add an app-wide check. The admin blueprint calls
# `csrf.protect()` from its own before_request hook, so only admin forms need a token.
csrf = CSRFProtect()
CSRF_DEFAULTS = {
    "WTF_CSRF_ENABLED": True,
    "WTF_CSRF_METHODS": ["POST", "PUT", "PATCH", "DELETE"],
    "WTF_CSRF_FIELD_NAME": "csrf_token",
    "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
    # valid as long as the admin session: a job page left open for hours can still cancel
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": True,
}


class Refused(Exception):
    """Authentication failed: `status` 401 (no or bad credentials) or 403 (not an admin)."""

    def __init__(self, status: int, message: str, notify: bool = False):
        super().__init__(message)
        self.status, self.message, self.notify = status, message, notify


def check_csrf() -> None:
    """Raise flask_wtf's CSRFError (a 400) for an unsafe request without a valid token."""
    if current_app.config.get("WTF_CSRF_ENABLED", True) and bearer_token() is None:
        csrf.protect()


def csrf_token() -> str:
    return generate_csrf()


def admin_for_token(token: str) -> tuple[User, Token]:
    """The admin user and token row for a plain token, or Refused(401/403)."""
    row = find_token(get_db(), token)
    if row is None:
        raise Refused(401, "Unknown token.")
    if not row.user.is_admin:
        raise Refused(403, f"User {row.user.name!r} is not an administrator.")
    return row.user, row


def start_session(user: User, token: Token) -> None:
    session.clear()  # no fixation: a fresh session (and CSRF secret) per login
    session[SESSION_KEY] = {"token_id": token.id, "user_id": user.id, "at": int(time.time())}


def end_session() -> None:
    session.clear()


def session_admin() -> User | None:
    """The admin remembered by the session cookie, while its token still exists, its user is
    still an admin and the login is younger than ADMIN_SESSION_MAX_AGE seconds."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    max_age = current_app.config.get("ADMIN_SESSION_MAX_AGE", DEFAULT_MAX_AGE)
    at = data.get("at")
    if not isinstance(at, int) or (max_age and time.time() - at > max_age):
        return None
    token = get_db().get(Token, data.get("token_id"))
    if token is None or token.user_id != data.get("user_id") or not token.user.is_admin:
        return None
    return token.user


def authenticate() -> User:
    """The current admin (also sets g.admin_user, g.admin_auth), or Refused."""
    token = bearer_token()
    user: User | None
    if token is not None:
        user, _ = admin_for_token(token)
        g.admin_auth = "bearer"
    else:
        user = session_admin()
        if user is None:
            if SESSION_KEY in session:
                end_session()
                raise Refused(401, "Your admin session has ended; please sign in again.", notify=True)
            raise Refused(401, "Please sign in.")
        g.admin_auth = "session"
    g.admin_user = user
    return user


def safe_next(target: str | None, default: str) -> str:
    """`target` when it is a path inside /admin on this site, else `default` (no open redirect)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin/") or target.startswith("//"):
        return default
    return target
