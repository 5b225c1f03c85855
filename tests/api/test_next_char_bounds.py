"""The next-character chart's bounds through the API (services.api.nextchar): a model over
NEXT_CHAR_MAX_PARAMETERS is 422 before any download, a user past NEXT_CHAR_PER_USER running
requests gets the quotas' 429, every slot busy (NEXT_CHAR_THREADS) is 503 with Retry-After, and
concurrent requests for one checkpoint download and parse it once. The attack with real processes
is tests/security/test_attack_nextchar.py."""

import threading

import numpy as np
import pytest
from sqlalchemy import select

from shared.db.models import User
from tests.analysis_helpers import store_checkpoint

QUERY = {"prompt": "def f(x):", "temperatures": "1"}


@pytest.fixture
def trained_job(make_job, record_epochs, store):
    job_id = record_epochs(make_job()["id"], [1.1, 1.3])
    store_checkpoint(store, job_id, 1)
    store_checkpoint(store, job_id, 2)
    return job_id


def ask(client, headers, job_id, **query):
    return client.get(f"/api/v1/jobs/{job_id}/next-char", headers=headers, query_string={**QUERY, **query})


def user_id(db_session, name: str) -> int:
    return db_session.scalar(select(User.id).where(User.name == name))


def next_char_gate(app):
    from services.plumbing.nextchar import gate

    with app.app_context():
        return gate()


def test_a_model_over_the_size_limit_is_422_naming_the_limit_and_the_sampling_job(
    app, client, user_headers, trained_job, store
):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"next_char_max_parameters": 100})
    store.delete_prefix(f"jobs/{trained_job}/")  # nothing is downloaded: a missing checkpoint would be 404
    response = ask(client, user_headers, trained_job)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert "NEXT_CHAR_MAX_PARAMETERS" in error and "sampling job" in error and "1 layers x 8 units" in error


def test_a_user_past_the_concurrency_limit_gets_the_quota_429(
    app, client, user_headers, other_headers, trained_job, db_session
):
    gate = next_char_gate(app)
    alice = user_id(db_session, "alice")
    with gate.slot(alice):  # one request of alice's computing (NEXT_CHAR_PER_USER = 1)
        refused = ask(client, user_headers, trained_job)
        others = ask(client, other_headers, trained_job)  # bob's request is not alice's
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["error"].startswith("quota exceeded: 1 next-character requests running (the limit is 1)")
    (detail,) = body["detail"]
    assert detail["quota"] == "next_char_per_user" and detail["limit"] == 1 and detail["current"] == 1
    assert detail["type"] == "quota_exceeded"
    assert others.status_code == 404  # alice's job: bob passed the gate and found nothing of his
    assert ask(client, user_headers, trained_job).status_code == 200  # the place is free again


def test_every_slot_busy_is_503_with_retry_after(app, client, user_headers, trained_job):
    gate = next_char_gate(app)
    with gate.slot(-1):  # another user's chart holds NEXT_CHAR_THREADS = 1
        busy = ask(client, user_headers, trained_job)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert "NEXT_CHAR_THREADS" in busy.get_json()["error"]
    assert ask(client, user_headers, trained_job).status_code == 200


def test_concurrent_requests_for_one_checkpoint_load_it_once(app, trained_job, monkeypatch):
    from services.plumbing.context import get_store
    from services.plumbing.nextchar import light_sampler

    with app.app_context():
        store = get_store()  # the app's own store, its downloads counted
    downloads = []
    real_get_dir = store.get_dir
    started = threading.Event()

    def counted_get_dir(key, folder):
        downloads.append(key)
        started.set()
        threading.Event().wait(0.3)  # the others arrive while this download is under way
        return real_get_dir(key, folder)

    monkeypatch.setattr(store, "get_dir", counted_get_dir)
    key = f"jobs/{trained_job}/epoch-0001"
    samplers = []

    def load():
        with app.app_context():
            samplers.append(light_sampler(key))

    threads = [threading.Thread(target=load) for _ in range(4)]
    threads[0].start()
    started.wait(10)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert downloads == [key]
    assert len(samplers) == 4 and all(s is samplers[0] for s in samplers)
    assert all(m.dtype == np.float32 for m in samplers[0].net.matrices)
