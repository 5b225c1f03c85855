"""The admin blueprint, gated by role in one place: its guard (CSRF, then an admin's sign-in: a
signed-in non-admin gets a 403 page, a signed-out browser the sign-in form) runs before every
route, then its security headers and its error pages. The routes are in views.py, sign-in and
sign-out in services/web/signin.py; `services.web.init_app` registers the blueprint.

Optional config: ADMIN_BROKER_TIMEOUT (seconds the workers page waits for the broker's queue
depths, default 1.0), ADMIN_POLL_MS (default 2000).
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ...plumbing.errors import ApiError
from ..folders import STATIC, TEMPLATES
from ..security import Refused, authenticate, check_csrf
from ..signin import ADMIN_AREA, add_area_hooks, add_sign_in_routes

log = logging.getLogger(__name__)

admin_bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder=TEMPLATES, static_folder=STATIC)

add_sign_in_routes(admin_bp, ADMIN_AREA)
add_area_hooks(admin_bp, ADMIN_AREA)
PUBLIC_ENDPOINTS = {"admin.static", "admin.login"}
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
            "error.html",
            status=refused.status,
            message=refused.message,
            title="Forbidden" if refused.status == 403 else "Unauthorized",
        ),
        refused.status,
        headers,
    )


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
    return render_template("error.html", status=status, message=message, title=title), status, headers


@admin_bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    if wants_json():
        return jsonify(error=exc.error), exc.status, exc.headers or {}
    return (
        render_template("error.html", status=exc.status, message=exc.error, title="Error"),
        exc.status,
        exc.headers or {},
    )


@admin_bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("admin page failed", exc_info=exc)
    if wants_json():
        return jsonify(error="internal server error"), 500
    return render_template(
        "error.html",
        status=500,
        title="Internal server error",
        message="The page failed; the error is in the server log.",
    ), 500
