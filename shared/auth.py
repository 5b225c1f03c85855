"""API tokens: random strings handed to users once; only their SHA-256 is stored. A token may
have a lifetime (`Token.expires_at`): after it, the token answers 401 saying it expired.

No Flask here: the API, the CLI and tests share these functions. Functions take a session and
do not commit; the caller owns the transaction.
"""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import Token, User
from .timefmt import absolute, parse_duration

MAX_LIFETIME = timedelta(days=3650)


class BadToken(Exception):
    """The token cannot sign anyone in: unknown, or `expired` (the message says when)."""

    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.message, self.expired = message, expired


def new_token() -> str:
    """43 URL-safe characters, never starting with "-": `charlstm --token TOKEN` would read one that
    does as an option (argparse), about one token in 64."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_lifetime(text: str) -> timedelta:
    """ "30d", "12h" or "90m" as a timedelta (at most ten years); ValueError for anything else."""
    try:
        lifetime = parse_duration(text, "dhm")
    except ValueError:
        lifetime = timedelta()
    if not lifetime:
        raise ValueError(f"{text!r} is not a lifetime: a number and d, h or m (30d, 12h, 90m)")
    if lifetime > MAX_LIFETIME:
        raise ValueError(f"{text!r} is longer than {MAX_LIFETIME.days} days")
    return lifetime


def create_user_token(session: Session, name: str, admin: bool = False, lifetime: timedelta | None = None) -> str:
    """A new token for user `name` (created if missing; `admin=True` also promotes an existing user),
    valid for `lifetime` (None: until deleted)."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, is_admin=admin)
        session.add(user)
    elif admin:
        user.is_admin = True
    token = new_token()
    expires_at = datetime.now(UTC) + lifetime if lifetime is not None else None
    user.tokens.append(Token(token_hash=hash_token(token), expires_at=expires_at))
    session.flush()
    return token


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)  # SQLite returns naive UTC


def expiry_problem(row: Token, now: datetime | None = None) -> str | None:
    """ "token expired at ..." once the token's lifetime is over, else None."""
    if row.expires_at is None:
        return None
    expires_at = _utc(row.expires_at)
    if (now or datetime.now(UTC)) < expires_at:
        return None
    return f"token expired at {absolute(expires_at)}; ask an administrator for a new one"


def check_token(session: Session, token: str | None) -> Token:
    """The stored row of a plain token that may sign in, or BadToken (unknown, or expired)."""
    if not token:
        raise BadToken("missing token")
    digest = hash_token(token)
    row = session.scalar(select(Token).where(Token.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise BadToken("invalid token")
    if (problem := expiry_problem(row)) is not None:
        raise BadToken(problem, expired=True)
    return row


def find_token(session: Session, token: str | None) -> Token | None:
    """The stored row of a plain token that may sign in, or None (unknown or expired)."""
    try:
        return check_token(session, token)
    except BadToken:
        return None


def user_for_token(session: Session, token: str | None) -> User | None:
    row = find_token(session, token)
    return None if row is None else row.user
