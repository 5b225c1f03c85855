"""The site's pages, one package: the user pages (`pages/`, at `/`), the admin pages (`admin/`,
at `/admin/`, gated by role in their blueprint's guard) and the API documentation, in one layout
(templates/layout.html) with one sign-in (signin.py), one session and CSRF setup (security.py),
and shared presenters, charts and figures (presenters.py, charts.py, overlay.py, figures.py).
report.py renders an analysis (the pages and the CLI).

The app factory (services/app.py) calls `init_app(app)`.

Optional config: ADMIN_SESSION_MAX_AGE (seconds a sign-in lasts, default 12 h), ADMIN_POLL_MS
(default 2000). Sessions are signed with SECRET_KEY: outside embedded mode (DATABASE_URL set) the
app refuses to start without a strong one; embedded, a missing key becomes a random key per
process (sessions then do not survive a restart or span several processes). The cookie's Secure
flag follows SESSION_COOKIE_SECURE, and TRUSTED_PROXIES reverse proxies' X-Forwarded-* headers
are believed (werkzeug's ProxyFix).
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask_openapi3 import OpenAPI

log = logging.getLogger(__name__)

__all__ = ["init_app"]


def init_app(app: OpenAPI) -> None:
    """Sessions, CSRF settings and proxies for the pages, then the user pages, the admin pages
    and the API docs (once: calling again does nothing). The imports are here so that importing
    report.py (the CLI does) does not load the web app."""
    from .admin import admin_bp
    from .pages import docs, pages_bp

    if pages_bp.name in app.blueprints:
        return
    _init_sessions(app)
    app.register_blueprint(admin_bp)
    app.register_blueprint(pages_bp)
    docs.init_app(app)


def _init_sessions(app: OpenAPI) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    from .security import CSRF_DEFAULTS, SessionInterface, check_secret_key

    settings = app.config["SETTINGS"]
    check_secret_key(settings)  # InsecureSecretKey outside embedded mode
    if not app.secret_key:
        key = settings.secret_key
        if not key:
            log.warning(
                "SECRET_KEY is not set: sessions use a random key and end when this process exits "
                "(and do not work across several processes)"
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
