"""Sessions, CSRF and headers of every page (admin and user pages): an API token, either typed
once into a sign-in form (services/web/signin.py; a signed session cookie then remembers which
token) or sent as `Authorization: Bearer` on every request; the admin pages take an admin's only
(`authenticate`). CSRF (Flask-WTF) guards the forms of cookie sessions only: a Bearer header is
never sent by a browser on its own.

Sessions are kept on the server too: a login writes a `WebSession` row whose random sid the
cookie carries, every request checks that row, and logout ends it, so a copied cookie stops
working at logout (not only when it ages out).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect, generate_csrf
from sqlalchemy import ColumnElement, delete, or_, select, update

from shared.auth import BadToken, check_token, expiry_problem
from shared.db.models import Token, User, WebSession
from shared.settings import Settings

from ..plumbing.context import bearer_token, get_db

# {"sid", "token_id", "user_id", "at", "proof"} in Flask's signed session cookie; `sid` names the
# server's WebSession row; `proof` is derived from the token's stored hash, which a forger who
# knows SECRET_KEY (and the ids) still does not know
SESSION_KEY = "charlstm_admin"
DEFAULT_MAX_AGE = 12 * 3600
MAX_LIVE_SESSIONS = 20  # per user: a login beyond them ends the oldest

MIN_SECRET_KEY_CHARS = 32
MIN_SECRET_KEY_DISTINCT = 10
# published placeholders (the old compose default among them): refused whatever their length
PLACEHOLDER_MARKS = ("change-me", "changeme", "change_me", "replace-me", "replaceme")


class InsecureSecretKey(RuntimeError):
    """The web app refuses to start: SECRET_KEY is missing or weak outside embedded mode."""


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot sign sessions (None when it can)."""
    if not key:
        return "SECRET_KEY is not set"
    lowered = key.lower()
    if any(mark in lowered for mark in PLACEHOLDER_MARKS):
        return "SECRET_KEY is a published placeholder"
    if len(key) < MIN_SECRET_KEY_CHARS:
        return f"SECRET_KEY has {len(key)} characters (at least {MIN_SECRET_KEY_CHARS} are needed)"
    if len(set(key)) < MIN_SECRET_KEY_DISTINCT:
        return f"SECRET_KEY has fewer than {MIN_SECRET_KEY_DISTINCT} distinct characters"
    return None


def check_secret_key(settings: Settings) -> None:
    """Outside embedded mode (DATABASE_URL set), raise InsecureSecretKey for a missing or weak key."""
    problem = secret_key_problem(settings.secret_key)
    if problem and settings.database_url:
        raise InsecureSecretKey(
            f"{problem}: set SECRET_KEY to a random string of at least {MIN_SECRET_KEY_CHARS} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))'); the web app does not start without one"
        )


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, its Secure flag from SESSION_COOKIE_SECURE: "true", "false", or
    "auto" (Secure when the request came over HTTPS; behind TRUSTED_PROXIES reverse proxies,
    X-Forwarded-Proto says so)."""

    def __init__(self, mode: str):
        self.mode = mode

    def get_cookie_secure(self, app: Flask) -> bool:
        if self.mode == "auto":
            return request.is_secure
        return self.mode == "true"


# Never `init_app`ed: that would add an app-wide check (the API's JSON too). Each page blueprint
# calls `check_csrf()` from its own before_request hook, so only the pages' forms need a token.
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


# no inline scripts or styles anywhere, so the policy can be strict
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


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


def user_for_token(token: str, admin_only: bool) -> tuple[User, Token]:
    """The user and token row for a plain token, or Refused: 401 for an unknown or expired token,
    403 for a user who is not an administrator when `admin_only`."""
    try:
        row = check_token(get_db(), token)
    except BadToken as bad:
        raise Refused(401, f"This {bad.message}." if bad.expired else "Unknown token.") from None
    if admin_only and not row.user.is_admin:
        raise Refused(403, f"User {row.user.name!r} is not an administrator.")
    return row.user, row


def admin_for_token(token: str) -> tuple[User, Token]:
    """The admin user and token row for a plain token, or Refused(401/403)."""
    return user_for_token(token, admin_only=True)


def session_proof(token: Token) -> str:
    """What binds a session to its token: an HMAC keyed by the token's stored hash."""
    message = f"charlstm admin session:{token.id}:{token.user_id}".encode()
    return hmac.new(token.token_hash.encode(), message, hashlib.sha256).hexdigest()


def _max_age() -> int:
    return current_app.config.get("ADMIN_SESSION_MAX_AGE", DEFAULT_MAX_AGE)


def _prune_sessions(user: User, now: datetime) -> None:
    """Forget the user's ended and aged-out sessions; end the oldest beyond MAX_LIVE_SESSIONS - 1."""
    db = get_db()
    stale: list[ColumnElement[bool]] = [WebSession.ended_at.is_not(None)]
    if _max_age():
        stale.append(WebSession.created_at < now - timedelta(seconds=_max_age()))
    db.execute(delete(WebSession).where(WebSession.user_id == user.id, or_(*stale)))
    live = select(WebSession.id).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
    keep = live.order_by(WebSession.id.desc()).limit(MAX_LIVE_SESSIONS - 1)
    db.execute(
        update(WebSession)
        .where(WebSession.id.in_(live), WebSession.id.not_in(keep.scalar_subquery()))
        .values(ended_at=now)
    )


def start_session(user: User, token: Token) -> None:
    """A new server-side session (a WebSession row, committed) and the cookie that names it."""
    session.clear()  # no fixation: a fresh session (and CSRF secret) per login
    db = get_db()
    now = datetime.now(UTC)
    _prune_sessions(user, now)
    row = WebSession(sid=secrets.token_urlsafe(32), user_id=user.id, token_id=token.id, created_at=now)
    db.add(row)
    db.commit()
    session[SESSION_KEY] = {
        "sid": row.sid,
        "token_id": token.id,
        "user_id": user.id,
        "at": int(time.time()),
        "proof": session_proof(token),
    }


def end_session() -> None:
    """Sign out: the cookie's WebSession row ends (committed), so a copy of the cookie is refused
    from now on, and the browser's cookie is cleared."""
    data = session.get(SESSION_KEY)
    sid = data.get("sid") if isinstance(data, dict) else None
    if isinstance(sid, str):
        db = get_db()
        db.execute(
            update(WebSession)
            .where(WebSession.sid == sid, WebSession.ended_at.is_(None))
            .values(ended_at=datetime.now(UTC))
        )
        db.commit()
    session.clear()


def session_admin() -> User | None:
    """The admin remembered by the session cookie (`session_user`), while still an admin."""
    user = session_user()
    return user if user is not None and user.is_admin else None


def session_user() -> User | None:
    """The user remembered by the session cookie, while its WebSession row exists and has not
    ended (logout ends it), its token still exists unexpired (and the cookie holds that token's
    proof) and the login is younger than ADMIN_SESSION_MAX_AGE seconds. The admin pages and the
    user pages both read sessions through this one check."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    max_age = _max_age()
    at, sid = data.get("at"), data.get("sid")
    if not isinstance(at, int) or (max_age and time.time() - at > max_age) or not isinstance(sid, str):
        return None
    token_id, proof = data.get("token_id"), data.get("proof")
    if not isinstance(token_id, int) or not isinstance(proof, str):
        return None
    db = get_db()
    row = db.scalar(select(WebSession).where(WebSession.sid == sid))
    if row is None or row.ended_at is not None or row.token_id != token_id or row.user_id != data.get("user_id"):
        return None
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    if max_age and datetime.now(UTC) - created > timedelta(seconds=max_age):
        return None
    token = db.get(Token, token_id)
    if token is None or token.user_id != data.get("user_id") or expiry_problem(token) is not None:
        return None
    if not hmac.compare_digest(session_proof(token).encode(), proof.encode()):
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
        user = session_user()
        if user is None:
            if SESSION_KEY in session:
                end_session()
                raise Refused(401, "Your admin session has ended; please sign in again.", notify=True)
            raise Refused(401, "Please sign in.")
        if not user.is_admin:  # signed in, but not an admin: refused, and still signed in (a link
            # from another site must not sign users out)
            raise Refused(403, f"User {user.name!r} is not an administrator.")
        g.admin_auth = "session"
    g.admin_user = user
    return user


def safe_next(target: str | None, default: str, prefix: str = "/admin/") -> str:
    """`target` when it is a path under `prefix` on this site, else `default` (no open redirect)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(prefix) or target.startswith("//"):
        return default
    return target


def security_headers(response, static_endpoint: str):
    """The headers of every page (admin and user pages): a strict CSP (no inline scripts or
    styles anywhere), no sniffing or framing, and no caching but for static files."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != static_endpoint:
        response.headers["Cache-Control"] = "no-store"
    return response
