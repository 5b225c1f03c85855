"""Health, authentication, and JSON (never HTML) errors."""

import threading
import time

import pytest

from services.api import health


def test_healthz_is_liveness_and_touches_no_dependency(client, monkeypatch):
    def broken():
        raise AssertionError("liveness must not check dependencies")

    for name in health.PROBES:
        monkeypatch.setitem(health.PROBES, name, broken)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "ok", "storage": "ok"}


def test_readyz_names_the_failed_dependency(client, monkeypatch):
    def broken():
        raise ConnectionError("refused")

    monkeypatch.setitem(health.PROBES, "broker", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    body = response.get_json()
    assert body["status"] == "unavailable" and body["broker"].startswith("error")
    assert body["database"] == body["storage"] == "ok"


def test_readyz_is_cached_and_bounded(client, monkeypatch):
    calls = []

    def counted():
        calls.append(1)

    monkeypatch.setitem(health.PROBES, "storage", counted)
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    assert len(calls) == 1  # polled five times, checked once

    release = threading.Event()

    def stalled():
        release.wait(30)

    client.application.extensions.pop(health.READY_CACHE, None)
    monkeypatch.setitem(health.PROBES, "storage", stalled)
    began = time.monotonic()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["storage"].startswith("error: no answer")
    release.set()
    assert time.monotonic() - began < client.application.config["SETTINGS"].dependency_timeout + 2


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}])
def test_missing_token_is_401(client, headers):
    response = client.get("/api/v1/corpora", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "missing bearer token"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_token_is_401(client, user_token):
    response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {user_token}x"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "invalid token"}


def test_valid_token(client, user_headers):
    response = client.get("/api/v1/jobs", headers=user_headers)
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "page": 1, "per_page": 20, "total": 0}


@pytest.mark.parametrize("path", ["/api/v1/jobs/abc", "/api/v1/corpora/1.5", "/api/v1/samples/x/text", "/nope"])
def test_not_found_is_json(client, user_headers, path):
    response = client.get(path, headers=user_headers)
    assert response.status_code == 404
    assert response.is_json and response.get_json() == {"error": "not found"}


def test_method_not_allowed_is_json(client, user_headers):
    response = client.delete("/api/v1/jobs", headers=user_headers)
    assert response.status_code == 405
    assert response.get_json() == {"error": "method not allowed"}
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_json_500(client, user_headers, monkeypatch):
    from services.api import jobs

    monkeypatch.setattr(jobs, "visible", lambda stmt, model: 1 / 0)
    response = client.get("/api/v1/jobs", headers=user_headers)
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}


def test_oversize_json_body_is_413(client, user_headers):
    response = client.post("/api/v1/jobs", headers=user_headers, json={"corpus_id": 1, "pad": "x" * 2_000_000})
    assert response.status_code == 413
    assert response.get_json() == {"error": "request body too large"}
