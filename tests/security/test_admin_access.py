"""Every route under /admin (enumerated from app.url_map, so a new unprotected one fails here)
refuses anonymous clients and ordinary users, bearer or session, and answers admins.

No API endpoint is admin-only (admins see everyone's objects through the same endpoints, see
test_isolation.py); every API route but the health check and the OpenAPI documents needs a token.
"""

import time

import pytest

from services.web.admin import FETCHED_ENDPOINTS, PUBLIC_ENDPOINTS
from services.web.security import SESSION_KEY, session_proof
from tests.security.security_helpers import UNSAFE, admin_login, csrf_from, fill, is_login_redirect, job_status

PUBLIC = {"admin.static", "admin.login"}  # the login page, and CSS/JS
PUBLIC_API = {"health.healthz", "health.readyz", "openapi.doc_url", "openapi.openapi", "openapi.static", "static"}
# flask-openapi3's documentation UI plugins, when installed: public pages like the document
DOCS_UI = {"swagger", "redoc", "rapidoc", "rapipdf", "scalar", "elements"}


def admin_routes(app):
    """(endpoint, method, url) for every protected /admin rule, ids filled with alice's rows."""
    return [
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and rule.endpoint not in PUBLIC
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def test_the_enumeration_sees_every_admin_route_and_only_login_and_static_are_public(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")}
    assert endpoints >= PUBLIC and PUBLIC_ENDPOINTS == PUBLIC
    assert len(admin_routes(app)) >= 10  # the enumeration sees the routes
    for _, _, path in admin_routes(app):
        assert "<" not in path or any(f"<int:{n}>" in path for n in ("job_id", "sample_id", "corpus_id")), path


def test_anonymous_clients_are_sent_to_login(app, client, world, db_session):
    csrf = csrf_from(client)  # a session with a valid CSRF token, so only authentication decides
    for endpoint, method, path in admin_routes(app):
        form = {"csrf_token": csrf} if method in UNSAFE else None
        response = client.open(fill(path, world), method=method, data=form)
        if endpoint in FETCHED_ENDPOINTS:
            assert response.status_code == 401, (method, path)
        else:
            assert is_login_redirect(response), (method, path, response.status_code)
    assert job_status(db_session, world.queued) == ("queued", False)


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_ordinary_users_bearer_tokens_are_forbidden(app, client, world, db_session, who):
    for _, method, path in admin_routes(app):
        response = client.open(fill(path, world), method=method, headers=getattr(world, who))
        assert response.status_code == 403, (method, path, response.status_code)
        assert b"secret sample" not in response.data
    assert job_status(db_session, world.queued) == ("queued", False)


def test_ordinary_users_cannot_log_in_and_their_session_is_refused(app, client, world, db_session):
    alice_token = world.alice["Authorization"].removeprefix("Bearer ")
    response = client.post("/admin/login", data={"csrf_token": csrf_from(client), "token": alice_token})
    assert response.status_code == 403
    assert is_login_redirect(client.get("/admin/"))  # no session was started
    # a signed session naming alice's token, with its valid proof (e.g. an admin demoted since
    # logging in), lets nothing in
    from shared.db.models import Token

    proof = session_proof(db_session.get(Token, world.alice_token_id))
    for _, method, path in admin_routes(app):
        form = {"csrf_token": csrf_from(client)} if method in UNSAFE else None
        with client.session_transaction() as session:
            session[SESSION_KEY] = {
                "token_id": world.alice_token_id,
                "user_id": world.alice_id,
                "at": int(time.time()),
                "proof": proof,
            }
        response = client.open(fill(path, world), method=method, data=form)
        assert response.status_code in (302, 401), (method, path, response.status_code)
        assert response.status_code == 401 or is_login_redirect(response)
    assert job_status(db_session, world.queued) == ("queued", False)


def test_admin_bearer_and_admin_session_are_answered(app, client, world, db_session):
    for headers in (world.root, None):
        if headers is None:
            admin_login(client, world.admin_token)
        for _endpoint, method, path in admin_routes(app):
            if method == "GET":
                response = client.get(fill(path, world), headers=headers)
                assert response.status_code == 200, (path, response.status_code)
                response.close()  # the sample text is streamed
    # the unsafe ones work for an admin too (bearer: no CSRF token needed)
    response = client.post(f"/admin/jobs/{world.queued}/cancel", headers=world.root)
    assert response.status_code == 302 and job_status(db_session, world.queued) == ("cancelled", True)
    assert client.post("/admin/logout", headers=world.root).status_code == 302


def test_every_api_route_but_health_and_docs_needs_a_token(app, client, world):
    routes = [
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/", "/healthz"))  # the user pages have their own tests (tests/pages)
        and rule.endpoint not in PUBLIC_API | {"api_docs"}
        and rule.endpoint.partition(".")[0] not in DOCS_UI
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    assert len(routes) >= 10
    no_scheme = {"Authorization": world.alice["Authorization"].removeprefix("Bearer ")}
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, no_scheme):
        for endpoint, method, path in routes:
            response = client.open(fill(path, world), method=method, headers=headers, json={})
            assert response.status_code == 401, (endpoint, method, headers, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
