"""Sweeps and fair queues through a real training worker, over HTTP: user A's
sweep of four tiny jobs, then a single job of A's own, then user B's single job. Fair share: B's
job starts before A's third (A has one job at a time in the broker, sweep or not, and the worker
dispatches A's next one when it takes the previous one), and A's jobs keep their order. The
comparison of the sweep lists its four jobs with their best validation bits/char, and each job
recorded its live training loss while it ran. (One run for both stories: each tiny job costs a
few seconds of training on CI.)"""

import time

import pytest

from shared.auth import create_user_token
from shared.db.models import Job, WorkStatus
from shared.db.session import session_scope
from tests.workers.conftest import TINY_HP
from tests.workers.processes import stdlib_text

FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def sweep_run(worker_settings, worker_db_url, worker_store, training_worker, wait_for):
    """A's sweep (grid optimizer x seed), A's single job and B's job, run to the end:
    (client, headers, sweep, a_single, b_job)."""
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
    a_single = client.post("/api/v1/jobs", headers=a, json={"corpus_id": sweep["corpus_id"], **base})
    assert a_single.status_code == 202, a_single.get_json()
    single = client.post("/api/v1/jobs", headers=b, json={"corpus_id": corpus(b), **base})
    assert single.status_code == 202, single.get_json()
    singles = ((a_single.get_json()["id"], a), (single.get_json()["id"], b))

    def done():
        body = client.get(f"/api/v1/sweeps/{sweep['id']}", headers=a).get_json()
        jobs = [client.get(f"/api/v1/jobs/{i}", headers=h).get_json() for i, h in singles]
        return body if body["status"] == "finished" and all(j["status"] in FINISHED for j in jobs) else None

    finished = wait_for(done, 300, what="the sweep and the single jobs", worker=training_worker)
    return client, a, finished, singles[0][0], singles[1][0]


def test_a_single_job_of_another_user_starts_before_the_sweeps_third(sweep_run, db):
    _client, _headers, sweep, a_single, b_job = sweep_run
    assert sweep["counts"]["succeeded"] == 4, [j["error"] for j in sweep["jobs"]]
    a_jobs = [*sweep["job_ids"], a_single]
    with db() as session:
        jobs = {i: session.get(Job, i) for i in [*a_jobs, b_job]}
        assert all(j.status == WorkStatus.succeeded for j in jobs.values()), [j.error for j in jobs.values()]
        started = {i: j.started_at for i, j in jobs.items()}
    order = sorted(started, key=lambda i: started[i])
    print(f"\nfair queue: start order {['B' if i == b_job else 'A' for i in order]}")
    assert order.index(b_job) < order.index(a_jobs[2])  # B waited for at most one of A's jobs
    assert [i for i in order if i != b_job] == a_jobs  # A's own jobs keep their order, the sweep's and the single


def test_the_sweeps_comparison_lists_all_four_with_live_loss(sweep_run):
    client, headers, sweep, _, _ = sweep_run
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
