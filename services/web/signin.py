"""One sign-in and one sign-out for the whole site. The user pages' `/login` and the admin pages'
`/admin/login` are the same view (and `/logout`, `/admin/logout` the same sign-out), set up by
`add_sign_in_routes` for each blueprint with its `Area`: where a sign-in leads, which tokens it
takes (any user's, or an admin's only), what the form says. Both start the same session
(services/web/security.py), so one sign-in with an admin's token covers both areas.
`add_area_hooks` gives each area's pages the same headers and template globals.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from .security import (
    Refused,
    csrf_token,
    end_session,
    safe_next,
    security_headers,
    session_user,
    start_session,
    user_for_token,
)


@dataclass(frozen=True)
class Area:
    """A part of the site with its own navigation and sign-in rules (the layout reads it too)."""

    name: str  # "admin" or "user": the layout's navigation
    blueprint: str  # the blueprint's name: its endpoints are "<blueprint>.login", "<blueprint>.logout"
    home_endpoint: str  # where a sign-in leads without a (safe) `next`
    home_label: str  # the error page's link back there
    next_prefix: str  # the paths a sign-in's `next` may lead to (no open redirect)
    admin_only: bool  # only an administrator's token signs in here
    token_label: str  # the form's field
    missing_token: str  # the answer to an empty form
    user_key: str  # the `g` attribute the blueprint's guard sets to the signed-in user
    auth_key: str  # the `g` attribute that says how ("session" or "bearer")

    @property
    def login_endpoint(self) -> str:
        return f"{self.blueprint}.login"

    @property
    def logout_endpoint(self) -> str:
        return f"{self.blueprint}.logout"


ADMIN_AREA = Area(
    name="admin",
    blueprint="admin",
    home_endpoint="admin.jobs",
    home_label="Back to jobs",
    next_prefix="/admin/",
    admin_only=True,
    token_label="Admin token",
    missing_token="Enter an admin token.",
    user_key="admin_user",
    auth_key="admin_auth",
)
USER_AREA = Area(
    name="user",
    blueprint="pages",
    home_endpoint="pages.jobs",
    home_label="Back to your jobs",
    next_prefix="/",
    admin_only=False,
    token_label="API token",
    missing_token="Enter your API token.",
    user_key="user",
    auth_key="pages_auth",
)


def signed_in(area: Area) -> bool:
    """Whether the session cookie already names a user this area lets in."""
    user = session_user()
    return user is not None and (user.is_admin or not area.admin_only)


def sign_in(area: Area):
    """GET: the form (or straight on to `next` when already signed in). POST (its CSRF token was
    checked by the blueprint's guard): the token starts a session, or the form again with why not
    (401 for an unknown or expired token, 403 for a non-admin on the admin sign-in)."""
    target = safe_next(request.values.get("next"), url_for(area.home_endpoint), prefix=area.next_prefix)
    if request.method == "GET":
        if signed_in(area):
            return redirect(target)
        return render_template("login.html", area=area, next=target, error=None)
    token = request.form.get("token", "").strip()
    if not token:
        return render_template("login.html", area=area, next=target, error=area.missing_token), 400
    try:
        user, row = user_for_token(token, admin_only=area.admin_only)
    except Refused as refused:
        current_app.logger.warning("%s sign-in refused from %s: %s", area.name, request.remote_addr, refused.message)
        return render_template("login.html", area=area, next=target, error=refused.message), refused.status
    start_session(user, row)
    flash(f"Signed in as {user.name}.", "success")
    return redirect(target)


def sign_out(area: Area):
    """POST: end the session (its server-side row too) and go to the area's sign-in form. GET (a
    typed or followed address): a page with the sign-out button, or the sign-in form when no one
    is signed in."""
    if request.method == "GET":
        user = g.get(area.user_key) or (session_user() if signed_in(area) else None)
        if user is None:
            return redirect(url_for(area.login_endpoint))
        return render_template("pages/logout.html", area=area, user=user)
    end_session()
    flash("Signed out.", "success")
    return redirect(url_for(area.login_endpoint))


def add_sign_in_routes(blueprint: Blueprint, area: Area) -> None:
    """`/login` (GET, POST) and `/logout` (GET: the sign-out button, POST) on `blueprint`, as
    `<blueprint>.login`/`.logout`."""
    blueprint.add_url_rule("/login", "login", lambda: sign_in(area), methods=["GET", "POST"])
    blueprint.add_url_rule("/logout", "logout", lambda: sign_out(area), methods=["GET", "POST"])


def add_area_hooks(blueprint: Blueprint, area: Area) -> None:
    """On every response of `blueprint`, the site's security headers (its static files cached);
    in every template, the area (layout.html), who is signed in and how, and the CSRF token."""

    @blueprint.after_request
    def _headers(response):
        return security_headers(response, f"{area.blueprint}.static")

    @blueprint.context_processor
    def _template_globals():
        return {"csrf_token": csrf_token, "area": area, "user": g.get(area.user_key), "auth": g.get(area.auth_key)}
