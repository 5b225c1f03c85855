"""The admin blueprint: its guard (CSRF, then authentication) on every route, its security
headers and its error pages. The routes are in views.py; `services.web.admin.init_app` registers both.

Optional config: ADMIN_BROKER_TIMEOUT (seconds the workers page waits for the broker's queue
depths, default 1.0), ADMIN_SESSION_MAX_AGE (seconds, default 12 h), ADMIN_POLL_MS (default
2000). Sessions are signed with SECRET_KEY: outside embedded mode (DATABASE_URL set) the app
refuses to start without a strong one; embedded, a missing key becomes a random key per process
(sessions then do not survive a restart or span several processes). The cookie's Secure flag
follows SESSION_COOKIE_SECURE, and TRUSTED_PROXIES reverse proxies' X-Forwarded-* headers are
believed (werkzeug's ProxyFix).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from flask import Blueprint, Flask, flash, g, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ...plumbing.errors import ApiError
from .security import (
    CSRF_DEFAULTS,
    Refused,
    SessionInterface,
    authenticate,
    check_csrf,
    check_secret_key,
    csrf_token,
    security_headers,
)

_HERE = Path(__file__).parent
log = logging.getLogger(__name__)

admin_bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder=str(_HERE / "templates"),
    static_folder=str(_HERE / "static"),
)

PUBLIC_ENDPOINTS = {"admin.static", "admin.login"}


def register(app: Flask) -> None:
    """Register the admin blueprint on `app` (once; calling again does nothing)."""
    if admin_bp.name in app.blueprints:
        return
    settings = app.config["SETTINGS"]
    check_secret_key(settings)  # InsecureSecretKey outside embedded mode
    if not app.secret_key:
        key = settings.secret_key
        if not key:
            log.warning(
                "SECRET_KEY is not set: admin sessions use a random key and end when this "
                "process exits (and do not work across several processes)"
            )
            key = secrets.token_urlsafe(32)
        app.secret_key = key
    for name, value in CSRF_DEFAULTS.items():
        app.config.setdefault(name, value)
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:  # Flask's default is None
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = SessionInterface(settings.session_cookie_secure)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    app.register_blueprint(admin_bp)


FETCHED_ENDPOINTS = {"admin.api_jobs", "admin.api_job", "admin.job_chart"}  # read by admin.js


def wants_json() -> bool:
    """Errors for what the polling script fetches are JSON, not pages or redirects."""
    return request.endpoint in FETCHED_ENDPOINTS


@admin_bp.before_request
def _guard():
    g.admin_user = None
    g.admin_auth = None
    if request.endpoint == "admin.static":
        return None
    check_csrf()  # raises CSRFError for a POST without a valid token (cookie sessions only)
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    try:
        authenticate()
    except Refused as refused:
        return refusal(refused)
    return None


def refusal(refused: Refused):
    """401 -> the login page (a JSON error for fetches and Bearer requests); 403 -> a 403 page."""
    headers = {"WWW-Authenticate": 'Bearer realm="charlstm admin"'} if refused.status == 401 else {}
    if wants_json():
        return jsonify(error=refused.message, login_url=url_for("admin.login")), refused.status, headers
    if refused.status == 401 and g.get("admin_auth") is None and "Authorization" not in request.headers:
        if refused.notify:
            flash(refused.message, "warning")
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("admin.login", next=target))
    return (
        render_template(
            "admin/error.html",
            status=refused.status,
            message=refused.message,
            title="Forbidden" if refused.status == 403 else "Unauthorized",
        ),
        refused.status,
        headers,
    )


@admin_bp.after_request
def _headers(response):
    return security_headers(response, "admin.static")


@admin_bp.context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "admin_user": g.get("admin_user"), "admin_auth": g.get("admin_auth")}


@admin_bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.response is not None:
        return exc.response
    status = exc.code or 500
    if isinstance(exc, CSRFError):
        message = f"{exc.description} Reload the page and submit the form again."
        title = "Form expired"
    else:
        message, title = exc.description or "", exc.name
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if wants_json():
        return jsonify(error=message), status, headers
    return render_template("admin/error.html", status=status, message=message, title=title), status, headers


@admin_bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    if wants_json():
        return jsonify(error=exc.error), exc.status, exc.headers or {}
    return (
        render_template("admin/error.html", status=exc.status, message=exc.error, title="Error"),
        exc.status,
        exc.headers or {},
    )


@admin_bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("admin page failed", exc_info=exc)
    if wants_json():
        return jsonify(error="internal server error"), 500
    return render_template(
        "admin/error.html",
        status=500,
        title="Internal server error",
        message="The page failed; the error is in the server log.",
    ), 500
