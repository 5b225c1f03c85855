"""Sweeps through a real training worker, over HTTP (issue 12): user A's sweep of four tiny jobs
and then user B's single job. Fair share: B's job starts before the sweep's third job (A has one
job at a time in the broker). The comparison of the sweep lists all four jobs with their best
validation bits/char, and each job recorded its live training loss while it ran."""

import time

import pytest

from shared.auth import create_user_token
from shared.db.models import Job
from shared.db.session import session_scope
from tests.workers.conftest import TINY_HP
from tests.workers.processes import stdlib_text

FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def sweep_run(worker_settings, worker_db_url, worker_store, training_worker, wait_for):
    """A's sweep (grid optimizer x seed) and B's job, run to the end: (client, headers, sweep, b_job)."""
    from services.app import create_app

    client = create_app(worker_settings).test_client()
    with session_scope(worker_db_url) as session:
        a = {"Authorization": f"Bearer {create_user_token(session, f'sweep-a-{time.time_ns()}')}"}
        b = {"Authorization": f"Bearer {create_user_token(session, f'sweep-b-{time.time_ns()}')}"}

    def corpus(headers) -> int:
        data = {"file": (__import__("io").BytesIO(stdlib_text(20_000).encode()), "c.txt")}
        response = client.post("/api/v1/corpora", headers=headers, data=data)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    base = {**TINY_HP, "epochs": 1}
    grid = {"optimizer": ["rmsprop", "adam"], "seed": [0, 1]}
    created = client.post("/api/v1/sweeps", headers=a, json={"corpus_id": corpus(a), "base": base, "grid": grid})
    assert created.status_code == 202, created.get_json()
    sweep = created.get_json()
    single = client.post("/api/v1/jobs", headers=b, json={"corpus_id": corpus(b), **base})
    assert single.status_code == 202, single.get_json()

    def done():
        body = client.get(f"/api/v1/sweeps/{sweep['id']}", headers=a).get_json()
        job = client.get(f"/api/v1/jobs/{single.get_json()['id']}", headers=b).get_json()
        return body if body["status"] == "finished" and job["status"] in FINISHED else None

    finished = wait_for(done, 240, what="the sweep and B's job", worker=training_worker)
    return client, a, finished, single.get_json()["id"]


def test_a_single_job_of_another_user_starts_before_the_sweeps_third(sweep_run, db):
    _client, _headers, sweep, b_job = sweep_run
    assert sweep["counts"]["succeeded"] == 4, [j["error"] for j in sweep["jobs"]]
    with db() as session:
        started = {i: session.get(Job, i).started_at for i in [*sweep["job_ids"], b_job]}
    order = sorted(started, key=lambda i: started[i])
    print(f"\nsweep fairness: start order {['B' if i == b_job else 'A' for i in order]}")
    assert order.index(b_job) < order.index(sweep["job_ids"][2])
    assert [i for i in order if i != b_job] == sweep["job_ids"]


def test_the_sweeps_comparison_lists_all_four_with_live_loss(sweep_run):
    client, headers, sweep, _ = sweep_run
    body = client.get(f"/api/v1/compare?sweep={sweep['id']}&smoothing=0.6", headers=headers).get_json()
    assert body["varying"] == ["optimizer", "seed"]
    assert sorted(r["id"] for r in body["table"]) == sorted(sweep["job_ids"])
    assert all(r["best_epoch"] == 1 and 0 < r["best_val_bits"] < 10 for r in body["table"]), body["table"]
    assert all(r["chars_per_second"] > 0 and r["seconds_per_epoch"] > 0 for r in body["table"])
    assert {r["label"] for r in body["table"]} == {
        "optimizer=rmsprop seed=0", "optimizer=rmsprop seed=1", "optimizer=adam seed=0", "optimizer=adam seed=1"
    }  # fmt: skip
    for curve in body["curves"]:  # the worker recorded the running loss within the epoch
        assert curve["live_bits"], curve
        assert all(0 < x <= 1 and 0 < y < 10 for x, y in curve["live_bits"])
