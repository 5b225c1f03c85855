"""Admin forms carry a CSRF token, and a cookie-session POST without a valid one is refused (400)
and changes nothing. Every unsafe /admin route is enumerated from app.url_map."""

from html.parser import HTMLParser

from tests.security.security_helpers import UNSAFE, admin_login, csrf_from, fill, is_login_redirect, job_status

PAGES = ["/admin/", "/admin/jobs/{queued}", "/admin/jobs/{job}", "/admin/workers", "/admin/corpora"]


class Forms(HTMLParser):
    """Each <form method=post>: its action and the names/values of its inputs."""

    def __init__(self):
        super().__init__()
        self.forms, self._open = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self._open = {"action": attrs.get("action"), "inputs": {}}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None:
            self._open["inputs"][attrs.get("name")] = attrs.get("value")

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def post_forms(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    parser = Forms()
    parser.feed(response.get_data(as_text=True))
    return parser.forms


def test_every_post_form_on_admin_pages_has_a_csrf_token(client, world):
    actions = {form["action"]: form for form in post_forms(client, "/admin/login")}
    admin_login(client, world.admin_token)
    for page in PAGES:
        actions.update({form["action"]: form for form in post_forms(client, page.format(**vars(world)))})
    # the forms are really there (login, logout, cancel), and each has a non-empty token
    assert {"/admin/login", "/admin/logout", f"/admin/jobs/{world.queued}/cancel"} <= set(actions)
    for action, form in actions.items():
        assert form["inputs"].get("csrf_token"), (action, form)


def unsafe_admin_routes(app):
    return {
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin")
        for method in rule.methods & UNSAFE
    }


def test_every_unsafe_admin_route_is_checked_here(app):
    assert {e for e, _, _ in unsafe_admin_routes(app)} == {"admin.login", "admin.logout", "admin.job_cancel"}


def test_session_posts_without_a_valid_token_are_refused_and_change_nothing(app, admin_session, world, db_session):
    client = admin_session
    for endpoint, method, path in sorted(unsafe_admin_routes(app)):
        data = {"token": world.admin_token} if endpoint == "admin.login" else {}
        for csrf in (None, "forged", csrf_from(client, "/admin/").upper()):
            form = data if csrf is None else {**data, "csrf_token": csrf}
            response = client.open(fill(path, world), method=method, data=form)
            assert response.status_code == 400, (endpoint, csrf, response.status_code)
            assert b"CSRF" in response.data or b"csrf" in response.data
    # nothing happened: the job is still queued, the admin is still logged in (logout did nothing)
    assert job_status(db_session, world.queued) == ("queued", False)
    assert client.get("/admin/").status_code == 200
    # and with the page's token the same cancel goes through (the check above is not vacuous)
    csrf = csrf_from(client, f"/admin/jobs/{world.queued}")
    assert client.post(f"/admin/jobs/{world.queued}/cancel", data={"csrf_token": csrf}).status_code == 302
    assert job_status(db_session, world.queued) == ("cancelled", True)


def test_login_without_a_token_starts_no_session(client, world):
    client.get("/admin/login")  # the session holds a CSRF secret, but the form's token is not sent
    assert client.post("/admin/login", data={"token": world.admin_token}).status_code == 400
    assert is_login_redirect(client.get("/admin/"))


def test_a_bearer_header_does_not_let_a_cookie_session_skip_csrf(admin_session, world, db_session):
    """CSRF is skipped for Bearer requests; a bogus Bearer header must then not fall back to the cookie."""
    response = admin_session.post(f"/admin/jobs/{world.queued}/cancel", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    assert job_status(db_session, world.queued) == ("queued", False)
