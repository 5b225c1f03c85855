"""Helpers of the page tests (admin and user pages alike): a form's CSRF token, as a browser gets
it from the page, and signing in through the real form (one sign-in view serves /login and
/admin/login)."""

import re

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client, path: str = "/login") -> str:
    """The CSRF token of the form(s) on the page at `path`."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token field on {path}"
    return match.group(1)


def sign_in(client, token: str, login_path: str = "/login", next_path: str | None = None):
    """POST the sign-in form at `login_path` (with its CSRF token); returns the answer."""
    form = {"csrf_token": csrf_from(client, login_path), "token": token}
    if next_path:
        form["next"] = next_path
    return client.post(login_path, data=form)
