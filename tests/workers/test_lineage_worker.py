"""Lineage, retention and deletion with a real training worker, PostgreSQL and moto S3: a continued job's history goes
on with no gap or repeat, retention keeps exactly the checkpoints its policy names, a delete
during a running job is refused or cancels first, and a delete killed mid-way is finished by a
second one."""

import io
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from shared.auth import create_user_token
from shared.db.models import Epoch, Job
from shared.db.session import session_scope
from tests.waiting import finished, json_at, wait_for, wait_for_answer
from tests.workers.conftest import BUCKET
from tests.workers.processes import stdlib_text

TINY = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "validation_split": 0.1, "patience": 0}
POLICY = {"keep_every": 2, "keep_best": True, "keep_last": 1}


@pytest.fixture(scope="module")
def api(worker_settings, worker_db_url, training_worker):
    from services.app import create_app

    client = create_app(worker_settings).test_client()
    with session_scope(worker_db_url) as session:
        headers = {"Authorization": f"Bearer {create_user_token(session, 'lineage-user')}"}
    corpus = client.post(
        "/api/v1/corpora", headers=headers, data={"file": (io.BytesIO(stdlib_text(12_000).encode()), "c.py")}
    )
    assert corpus.status_code == 201, corpus.get_json()
    return client, headers, corpus.get_json()["id"]


def wait_for_job(client, headers, job_id, what="to finish", done=finished):
    """The API's view of job `job_id` once done(view) holds (it finished, unless told)."""
    return wait_for_answer(json_at(client, f"/api/v1/jobs/{job_id}", headers), 240, f"job {job_id} {what}", done)


def stored_epochs(store, job_id: int) -> set[int]:
    return {int(key.split("/")[3].split("-")[1]) for key in store.list(f"jobs/{job_id}/")}  # jobs/ID/LEASE/epoch-N/


def expected_kept(history: list[dict], own_from: int) -> set[int]:
    """POLICY on a job's own epochs (> own_from): every 2nd, the latest, the best."""
    own = [e for e in history if e["epoch"] > own_from]
    best = min(own, key=lambda e: (e["val_loss"], e["epoch"]))["epoch"]
    return {e["epoch"] for e in own if e["epoch"] % 2 == 0} | {own[-1]["epoch"], best}


@pytest.fixture(scope="module")
def lineage(api, worker_store):
    """A parent trained 4 epochs with POLICY, continued for 2 more by the real worker."""
    client, headers, corpus_id = api
    made = client.post(
        "/api/v1/jobs", headers=headers, json={"corpus_id": corpus_id, **TINY, "epochs": 4, "retention": POLICY}
    )
    assert made.status_code == 202, made.get_json()
    parent = wait_for_job(client, headers, made.get_json()["id"])
    assert parent["status"] == "succeeded", parent["error"]
    asked = client.post(f"/api/v1/jobs/{parent['id']}/continue", headers=headers, json={"epochs": 2})
    assert asked.status_code == 202, asked.get_json()
    child = wait_for_job(client, headers, asked.get_json()["id"])
    assert child["status"] == "succeeded", child["error"]
    return parent, child


def test_a_continued_job_goes_on_with_no_gap_or_repeat(lineage, worker_store, db):
    parent, child = lineage
    assert [e["epoch"] for e in parent["history"]] == [1, 2, 3, 4]
    assert [e["epoch"] for e in child["history"]] == [1, 2, 3, 4, 5, 6]  # the parent's, then its own
    assert child["history"][:4] == parent["history"] and child["epoch"] == 6
    assert child["lineage"]["parent_id"] == parent["id"] and child["lineage"]["parent_epoch"] == 4
    with db() as session:
        own = session.scalars(select(Epoch.epoch).where(Epoch.job_id == child["id"]).order_by(Epoch.epoch)).all()
    assert own == [5, 6]
    # the engine started from the parent's checkpoint: the child's checkpoint carries the whole history
    with db() as session:
        key = session.scalar(select(Epoch.checkpoint_key).where(Epoch.job_id == child["id"], Epoch.epoch == 6))
    meta = json.loads(worker_store.get_bytes(f"{key}/checkpoint.json"))
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3, 4, 5, 6]
    assert [h["val_loss"] for h in meta["history"][:4]] == [e["val_loss"] for e in parent["history"]]


def test_retention_keeps_exactly_the_epochs_the_policy_names(lineage, worker_store, api):
    client, headers, _ = api
    parent, child = lineage
    for job, own_from in ((parent, 0), (child, 4)):
        kept = expected_kept(child["history"] if job is child else parent["history"], own_from)
        assert stored_epochs(worker_store, job["id"]) == kept, job["id"]
        assert job["checkpoint_epochs"] == sorted(kept)
        sizes = sum(worker_store.size(k) for k in worker_store.list(f"jobs/{job['id']}/"))
        assert job["storage_bytes"] == sizes > 0
    assert len(parent["checkpoint_epochs"]) < len(parent["history"])  # the policy did delete some


def test_delete_of_a_running_job_is_refused_or_cancels_it_first(api, worker_store, db):
    client, headers, corpus_id = api
    made = client.post("/api/v1/jobs", headers=headers, json={"corpus_id": corpus_id, **TINY, "epochs": 200})
    job_id = made.get_json()["id"]
    wait_for_job(client, headers, job_id, "to train an epoch", lambda b: b["status"] == "running" and b["epoch"] >= 1)
    refused = client.delete(f"/api/v1/jobs/{job_id}", headers=headers)
    assert refused.status_code == 409 and "cancel" in refused.get_json()["error"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()["status"] == "running"

    accepted = client.delete(f"/api/v1/jobs/{job_id}?cancel=true", headers=headers)
    assert accepted.status_code == 202 and accepted.get_json() == {"status": "deleting"}
    assert job_id not in [j["id"] for j in client.get("/api/v1/jobs", headers=headers).get_json()["items"]]

    def gone() -> bool:
        return client.get(f"/api/v1/jobs/{job_id}", headers=headers).status_code == 404

    wait_for(gone, 120, "the job's worker to finish the delete", interval=0.3)
    assert worker_store.list(f"jobs/{job_id}/") == []
    with db() as session:
        assert session.scalars(select(Epoch).where(Epoch.job_id == job_id)).all() == []


def test_a_delete_killed_midway_is_finished_by_a_second_one(lineage, api, worker_env, worker_store, db):
    client, headers, _ = api
    parent, child = lineage
    assert client.delete(f"/api/v1/jobs/{child['id']}", headers=headers).status_code == 200
    before = sorted(worker_store.list(f"jobs/{parent['id']}/"))
    folder = before[0].rsplit("/", 1)[0]  # jobs/ID/LEASE/epoch-N: the first kept epoch's objects
    first = {k for k in before if k.rsplit("/", 1)[0] == folder}
    killed = subprocess.run(
        [sys.executable, "-m", "tests.workers.kill_mid_delete", str(parent["id"]), str(len(first))],
        env={**os.environ, **worker_env, "S3_BUCKET": BUCKET},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    left = set(worker_store.list(f"jobs/{parent['id']}/"))
    assert left == set(before) - first and left  # half deleted: the first epoch's objects are gone
    with db() as session:
        job = session.get(Job, parent["id"])
        assert job is not None and job.deleting_at is not None and len(job.epochs) == 4  # rows kept, marked
    assert parent["id"] not in [j["id"] for j in client.get("/api/v1/jobs", headers=headers).get_json()["items"]]

    again = client.delete(f"/api/v1/jobs/{parent['id']}", headers=headers)
    assert again.status_code == 200 and again.get_json() == {"status": "deleted"}
    assert worker_store.list(f"jobs/{parent['id']}/") == []
    with db() as session:
        assert session.get(Job, parent["id"]) is None
        assert session.scalars(select(Epoch).where(Epoch.job_id == parent["id"])).all() == []
