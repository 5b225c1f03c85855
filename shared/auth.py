"""API tokens: random strings handed to users once; only their SHA-256 is stored.

No Flask here: the API, the CLI and tests share these functions. Functions take a session and
do not commit; the caller owns the transaction.
"""

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import Token, User


def new_token() -> str:
    """43 URL-safe characters, never starting with "-": `charlstm --token TOKEN` would read one that
    does as an option (argparse), about one token in 64."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user_token(session: Session, name: str, admin: bool = False) -> str:
    """A new token for user `name` (created if missing; `admin=True` also promotes an existing user)."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, is_admin=admin)
        session.add(user)
    elif admin:
        user.is_admin = True
    token = new_token()
    user.tokens.append(Token(token_hash=hash_token(token)))
    session.flush()
    return token


def find_token(session: Session, token: str | None) -> Token | None:
    """The stored row of a plain token, or None."""
    if not token:
        return None
    digest = hash_token(token)
    row = session.scalar(select(Token).where(Token.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


def user_for_token(session: Session, token: str | None) -> User | None:
    row = find_token(session, token)
    return None if row is None else row.user
