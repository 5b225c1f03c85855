"""No default secret, sessions bound to the token's stored hash, and the session
cookie's Secure flag.

Outside embedded mode (DATABASE_URL set) the app does not start without a strong SECRET_KEY, so
the old compose default `change-me-before-deploying` signs nothing; and even a forger who knows
the app's real key cannot make an admin session from ids alone: the session holds a proof keyed
by the token's stored hash.
"""

import logging
import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from pydantic import ValidationError
from sqlalchemy import select

from services.app import create_app
from services.web.security import SESSION_KEY, InsecureSecretKey, session_proof
from shared.settings import Settings
from tests.conftest import TEST_BROKER_URL, bearer
from tests.security.security_helpers import admin_login, is_login_redirect

OLD_COMPOSE_DEFAULT = "change-me-before-deploying"
STRONG = "k3Y-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def make_app(settings: Settings, **update):
    app = create_app(settings.model_copy(update=update))
    app.config["TESTING"] = True
    return app


@pytest.mark.parametrize(
    "key",
    [
        "",
        OLD_COMPOSE_DEFAULT,
        OLD_COMPOSE_DEFAULT + "-0123456789abcdefghijklmnop",  # long, but still the placeholder
        "Short-but-Random-9x",
        "a" * 64,  # long, but one character
    ],
)
def test_the_app_refuses_to_start_without_a_strong_secret_key(settings, clean_db, key):
    with pytest.raises(InsecureSecretKey) as refused:
        make_app(settings, secret_key=key)
    message = str(refused.value)
    assert message.startswith("SECRET_KEY ") and "\n" not in message and "at least 32 characters" in message
    assert key == "" or key not in message  # the error never echoes the key


@pytest.mark.parametrize("key", [STRONG, "serving-tests-secret-key-serving-tests"])
def test_a_strong_key_starts_the_app(settings, clean_db, key):
    assert make_app(settings, secret_key=key).secret_key == key


def _forged_cookie(key: str, payload: dict) -> str:
    """A Flask session cookie made the way Flask makes it (itsdangerous, salt "cookie-session")."""
    from flask.sessions import session_json_serializer

    serializer = URLSafeTimedSerializer(
        key, salt="cookie-session", serializer=session_json_serializer, signer_kwargs={"key_derivation": "hmac"}
    )
    return serializer.dumps(payload)


def _root_token(db_session):
    from shared.db.models import Token, User

    root = db_session.scalar(select(User).where(User.name == "root"))
    return db_session.scalar(select(Token).where(Token.user_id == root.id))


def _answers(client, cookie: str) -> tuple:
    client.set_cookie("session", cookie, domain="localhost")
    page = client.get("/admin/")
    fetched = client.get("/admin/api/jobs")
    return page, fetched


def test_a_session_forged_with_the_apps_own_key_and_the_old_fields_is_refused(app, client, world, db_session):
    token = _root_token(db_session)
    old_fields = {"token_id": token.id, "user_id": token.user_id, "at": int(time.time())}
    key = app.secret_key
    assert isinstance(key, str)
    # the forging works: Flask itself reads the cookie back
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer.loads(_forged_cookie(key, {SESSION_KEY: old_fields}))[SESSION_KEY] == old_fields

    guesses = [
        old_fields,
        {**old_fields, "proof": "0" * 64},
        {**old_fields, "proof": session_proof(type(token)(id=token.id, user_id=token.user_id, token_hash="0" * 64))},
        {**old_fields, "proof": token.token_hash},  # even the stored hash itself is not the proof
        {**old_fields, "proof": None},
    ]
    for fields in guesses:
        page, fetched = _answers(client, _forged_cookie(key, {SESSION_KEY: fields}))
        assert is_login_redirect(page), (fields, page.status_code)
        assert fetched.status_code == 401 and b"queued" not in fetched.data, fields

    # the genuine login of the same admin passes, and its cookie carries the proof
    admin_login(client, world.admin_token)
    with client.session_transaction() as session:
        assert session[SESSION_KEY]["proof"] == session_proof(token)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/api/jobs").status_code == 200


def test_the_user_pages_refuse_a_forged_session_too(app, client, world, db_session):
    """The user pages read sessions through the same check as the admin pages: no proof, no user."""
    token = _root_token(db_session)
    old_fields = {"token_id": token.id, "user_id": token.user_id, "at": int(time.time())}
    client.set_cookie("session", _forged_cookie(app.secret_key, {SESSION_KEY: old_fields}), domain="localhost")
    page = client.get("/jobs")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    client.delete_cookie("session", domain="localhost")
    admin_login(client, world.admin_token)  # a genuine sign-in covers the user pages
    assert client.get("/jobs").status_code == 200


def test_a_session_forged_with_the_old_compose_default_is_refused(settings, app, client, world, db_session):
    # the app does not start with the old default key at all ...
    with pytest.raises(InsecureSecretKey):
        make_app(settings, secret_key=OLD_COMPOSE_DEFAULT)
    # ... and a cookie signed with it, even with a proof, means nothing to an app with its own key
    token = _root_token(db_session)
    fields = {"token_id": token.id, "user_id": token.user_id, "at": int(time.time()), "proof": session_proof(token)}
    page, fetched = _answers(client, _forged_cookie(OLD_COMPOSE_DEFAULT, {SESSION_KEY: fields}))
    assert is_login_redirect(page) and fetched.status_code == 401


def test_a_session_ends_when_its_token_is_replaced_by_another_with_the_same_id(app, client, world, db_session):
    """The proof follows the stored hash: a token row whose hash changed no longer matches."""
    admin_login(client, world.admin_token)
    assert client.get("/admin/").status_code == 200
    token = _root_token(db_session)
    token.token_hash = "f" * 64
    db_session.commit()
    assert is_login_redirect(client.get("/admin/"))


def test_embedded_mode_without_a_key_uses_a_random_one(tmp_path, broker, caplog):
    """No DATABASE_URL (what `make up` uses; its launcher also writes var/secret-key): a missing
    key is a random key per process, with a warning, and admin logins work."""
    from shared.auth import create_user_token
    from shared.db.migrate import upgrade
    from shared.db.session import session_scope

    embedded = Settings(DATABASE_URL="", BROKER_URL=TEST_BROKER_URL, CHARLSTM_VAR_DIR=str(tmp_path), SECRET_KEY="")
    upgrade(embedded.resolved_database_url)
    with session_scope(embedded.resolved_database_url) as session:
        token = create_user_token(session, "root", admin=True)
    with caplog.at_level(logging.WARNING, logger="services.web"):
        first, second = make_app(embedded), make_app(embedded)
    assert "SECRET_KEY is not set" in caplog.text
    assert isinstance(first.secret_key, str) and len(first.secret_key) >= 32
    assert first.secret_key != second.secret_key
    client = first.test_client()
    admin_login(client, token)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/", headers=bearer(token)).status_code == 200


# ---- the Secure flag ---------------------------------------------------------------------------


def _set_cookie(app, https: bool = False, forwarded_https: bool = False) -> str:
    """The Set-Cookie of a fresh session (the login page stores its CSRF secret in it)."""
    headers = {"X-Forwarded-Proto": "https"} if forwarded_https else {}
    response = app.test_client().get(
        "/admin/login", base_url="https://localhost" if https else "http://localhost", headers=headers
    )
    assert response.status_code == 200
    cookies = [v for k, v in response.headers.items() if k.lower() == "set-cookie" and v.startswith("session=")]
    assert len(cookies) == 1, cookies
    return cookies[0]


def _flags(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


@pytest.mark.parametrize(
    ("mode", "proxies", "https", "forwarded", "secure"),
    [
        ("auto", 0, False, False, False),
        ("auto", 0, True, False, True),
        ("auto", 0, False, True, False),  # X-Forwarded-Proto from an untrusted client is ignored
        ("auto", 1, False, True, True),  # ... and believed from one trusted proxy
        ("auto", 1, False, False, False),
        ("true", 0, False, False, True),
        ("true", 0, True, False, True),
        ("false", 0, True, False, False),
        ("false", 1, False, True, False),
    ],
)
def test_the_session_cookie_secure_flag(settings, clean_db, broker, mode, proxies, https, forwarded, secure):
    app = make_app(settings, session_cookie_secure=mode, trusted_proxies=proxies)
    flags = _flags(_set_cookie(app, https=https, forwarded_https=forwarded))
    assert ("secure" in flags) is secure, flags
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags


def test_the_default_is_auto_and_other_values_are_refused(monkeypatch):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    defaults = Settings()
    assert defaults.session_cookie_secure == "auto" and defaults.trusted_proxies == 0
    with pytest.raises(ValidationError):
        Settings(SESSION_COOKIE_SECURE="sometimes")
    with pytest.raises(ValidationError):
        Settings(TRUSTED_PROXIES=-1)
