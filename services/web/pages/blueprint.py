"""The user pages' blueprint: CSRF then sign-in (any user's token) on every route but the public
ones, the security headers of every page, error pages. Sign-in and sign-out are
services/web/signin.py's; `services.web.init_app` registers the blueprint."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from shared.actions import ActionError
from shared.lifecycle.quotas import QuotaExceeded

from ...plumbing.errors import ApiError, as_api_error
from ..folders import STATIC, TEMPLATES
from ..security import check_csrf, csrf_token, end_session, security_headers, session_user
from ..signin import ADMIN_AREA, USER_AREA, add_area_hooks, add_sign_in_routes
from .auth import SignedOut, authenticate

log = logging.getLogger(__name__)

pages_bp = Blueprint("pages", __name__, template_folder=TEMPLATES, static_folder=STATIC, static_url_path="/assets")
add_sign_in_routes(pages_bp, USER_AREA)
add_area_hooks(pages_bp, USER_AREA)

PUBLIC_ENDPOINTS = {"pages.static", "pages.index", "pages.welcome", "pages.login", "pages.logout"}
FETCHED_ENDPOINTS = {"pages.job_live", "pages.job_chart", "pages.sample_live"}  # read by the scripts
# and the temperature chart, an analysis download
FETCHED_ENDPOINTS |= {"pages.job_next_char", "pages.analysis_result_json"}


def wants_json() -> bool:
    return request.endpoint in FETCHED_ENDPOINTS


@pages_bp.before_request
def _guard():
    g.user = None
    if request.endpoint == "pages.static":
        return None
    check_csrf()
    try:
        authenticate()
    except SignedOut as out:
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if out.refused is not None:  # a Bearer token, not a browser: no redirect, the reason
            return error_page(401, "Unauthorized", sentence(out.refused), {"WWW-Authenticate": "Bearer"})
        if wants_json():
            return jsonify(error="signed out", login_url=url_for("pages.login")), 401
        if out.expired:
            end_session()
            flash("Your session has ended; please sign in again.", "warning")
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("pages.login", next=target))
    return None


def sentence(text: str) -> str:
    """An API error message as a sentence of a page: capitalised, with a full stop."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def error_page(status: int, title: str, message: str, headers=None):
    if wants_json():
        return jsonify(error=message), status, headers or {}
    return render_template("error.html", status=status, title=title, message=message), status, headers or {}


WHERE_TO_GO = {
    404: "There is no page at {path}.",
    405: "{path} does not answer a {method} from a browser (a form's button sends it).",
}


def site_error_page(exc: HTTPException):
    """A browser's page for an address no blueprint answers (services/app.py decides when, with
    services/plumbing/errors.py's wants_page): the site's error page in the area's layout (the
    admin's under /admin/), with its link home or to the sign-in form."""
    area = ADMIN_AREA if request.path.startswith(ADMIN_AREA.next_prefix) else USER_AREA
    user = session_user()
    if user is not None and area.admin_only and not user.is_admin:
        user = None
    status = exc.code or 500
    message = WHERE_TO_GO.get(status, "{description}").format(
        path=request.path, method=request.method, description=exc.description or ""
    )
    body = render_template(
        "error.html",
        status=status,
        title=exc.name,
        message=message,
        area=area,
        user=user,
        auth="session" if user is not None else None,
        csrf_token=csrf_token,
    )
    response = make_response(body, status)
    response.headers.extend([(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"])
    return security_headers(response, f"{area.blueprint}.static")


@pages_bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.response is not None:
        return exc.response
    if isinstance(exc, CSRFError):
        return error_page(400, "Form expired", f"{exc.description} Reload the page and submit the form again.")
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return error_page(exc.code or 500, exc.name, exc.description or "", headers)


@pages_bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    message = sentence(exc.error)
    return error_page(exc.status, "Not found" if exc.status == 404 else "Error", message, exc.headers)


@pages_bp.errorhandler(ActionError)
def _action_error(exc: ActionError):
    """An action's refusal not handled by its page (a record not the user's: the 404 page)."""
    return _api_error(as_api_error(exc))


@pages_bp.errorhandler(QuotaExceeded)
def _quota_exceeded(exc: QuotaExceeded):
    """A form past the user's quota (a sample, an analysis, a sweep, a continued job): the API's
    429 and message, as a page; nothing is stored (the answer's status rolls the request back)."""
    message = sentence(exc.message) + " Wait for your queued work to finish, or ask an admin."
    return error_page(429, "Quota exceeded", message)


@pages_bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("page failed", exc_info=exc)
    return error_page(500, "Internal server error", "The page failed; the error is in the server log.")
