"""Training jobs: validation, queueing, listing, cancelling, ownership."""

import base64
import json
from datetime import UTC, datetime

import pytest

from shared.db.models import Job, WorkStatus
from tests.factories import epoch_row


def post_job(client, headers, corpus_id, fields: dict | None = None):
    return client.post("/api/v1/jobs", headers=headers, json={"corpus_id": corpus_id, **(fields or {})})


def test_create_job_queues_a_training_message(client, user_headers, make_corpus, broker, db_session, small_job):
    corpus = make_corpus()
    response = post_job(client, user_headers, corpus["id"], small_job)
    assert response.status_code == 202
    job = response.get_json()
    assert job["status"] == "queued" and job["corpus_id"] == corpus["id"]
    assert job["epochs"] == 3 and job["epoch"] == 0 and job["history"] == [] and job["has_checkpoint"] is False
    assert job["hyperparameters"]["seq_len"] == 10 and job["hyperparameters"]["optimizer"] == "rmsprop"
    assert job["eta_seconds"] is None and (job["attempts"], job["requeues"]) == (0, 0)
    assert broker.llen("training") == 1
    message = json.loads(broker.lindex("training", 0))
    assert message["headers"]["task"] == "charlstm.train"
    row = db_session.get(Job, job["id"])
    assert json.loads(base64.b64decode(message["body"]))[0] == [job["id"], row.dispatch_token]
    assert row.status == WorkStatus.queued and len(row.dispatch_token) == 32


def test_sizing_warnings_come_with_the_new_job(client, user_headers, make_corpus):
    """The same advice as `charlstm train` (shared.engine.training.sizing): 72,000 characters at the
    default batch 128 x 100 are 4 training batches an epoch, with a batch size that gives 200."""
    corpus = make_corpus(text="abcdefghij klmnop\n" * 4000)  # 72,000 characters
    warnings = post_job(client, user_headers, corpus["id"], {"layers": 1, "units": 16}).get_json()["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("only 4 training batches per epoch (under 100)")
    assert "--batch-size 3 gives 200 or more" in warnings[0]
    sized = {"layers": 1, "units": 16, "batch_size": 2, "seq_len": 100}
    assert post_job(client, user_headers, corpus["id"], sized).get_json()["warnings"] == []
    big = post_job(client, user_headers, corpus["id"], {"batch_size": 2}).get_json()["warnings"]  # 3 x 512
    assert any("parameters for" in w and "memorise" in w for w in big)
    assert "warnings" not in client.get("/api/v1/jobs", headers=user_headers).get_json()["items"][0]


def test_defaults_are_the_papers(client, user_headers, make_corpus):
    corpus = make_corpus(text="abcdefghij klmnop\n" * 4000)  # 72,000 characters
    job = post_job(client, user_headers, corpus["id"]).get_json()
    hp = job["hyperparameters"]
    assert (hp["layers"], hp["units"], hp["seq_len"], hp["batch_size"], hp["epochs"]) == (3, 512, 100, 128, 150)


@pytest.mark.parametrize(
    "fields, loc",
    [
        ({"layers": 0}, ["layers"]),
        ({"units": "x"}, ["units"]),
        ({"optimizer": "sgd"}, ["optimizer"]),
        ({"dropout": 1.0}, ["dropout"]),
        ({"learning_rate": 0}, ["learning_rate"]),
        ({"colour": "red"}, ["colour"]),
        ({"corpus_id": "one"}, ["corpus_id"]),
    ],
)
def test_bad_hyperparameters_are_422(client, user_headers, make_corpus, broker, small_job, fields, loc):
    corpus = make_corpus()
    response = post_job(client, user_headers, corpus["id"], {**small_job, **fields})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "request validation failed"
    assert [e["loc"] for e in body["detail"]] == [loc]
    assert all(e["msg"] for e in body["detail"])
    assert broker.llen("training") == 0


def test_missing_body_is_415_empty_object_is_422(client, user_headers):
    assert client.post("/api/v1/jobs", headers=user_headers).status_code == 415
    response = client.post("/api/v1/jobs", headers=user_headers, json={})
    assert response.status_code == 422 and response.get_json()["detail"][0]["loc"] == ["corpus_id"]


def test_corpus_too_short_is_422_naming_batch_size_and_seq_len(client, user_headers, make_corpus, broker, small_job):
    corpus = make_corpus()  # 2,400 characters
    response = post_job(client, user_headers, corpus["id"], {**small_job, "batch_size": 64, "seq_len": 100})
    assert response.status_code == 422
    body = response.get_json()
    assert "too short" in body["error"]
    assert [e["loc"] for e in body["detail"]] == [["batch_size"], ["seq_len"]]
    assert f"has {corpus['clean_chars']} characters" in body["detail"][0]["msg"]
    assert broker.llen("training") == 0


def test_unknown_or_foreign_corpus_is_404(client, user_headers, other_headers, make_corpus, small_job):
    assert post_job(client, user_headers, 999, small_job).status_code == 404
    corpus = make_corpus(headers=other_headers)
    response = post_job(client, user_headers, corpus["id"], small_job)
    assert response.status_code == 404 and response.get_json() == {"error": f"corpus {corpus['id']} not found"}


def test_list_filter_and_paginate(client, user_headers, other_headers, make_job, db_session):
    ids = [make_job()["id"] for _ in range(3)]
    make_job(headers=other_headers)
    db_session.get(Job, ids[0]).status = WorkStatus.running
    db_session.commit()
    page = client.get("/api/v1/jobs?per_page=2", headers=user_headers).get_json()
    assert page["total"] == 3 and [j["id"] for j in page["items"]] == [ids[2], ids[1]]
    page = client.get("/api/v1/jobs?per_page=2&page=2", headers=user_headers).get_json()
    assert [j["id"] for j in page["items"]] == [ids[0]]
    running = client.get("/api/v1/jobs?status=running", headers=user_headers).get_json()
    assert [j["id"] for j in running["items"]] == [ids[0]]
    response = client.get("/api/v1/jobs?status=bogus", headers=user_headers)
    assert response.status_code == 422 and response.get_json()["detail"][0]["loc"] == ["status"]


def test_other_users_job_is_404_admin_sees_it(client, other_headers, admin_headers, make_job):
    job = make_job()
    for path in (f"/api/v1/jobs/{job['id']}", f"/api/v1/jobs/{job['id']}/samples"):
        response = client.get(path, headers=other_headers)
        assert response.status_code == 404 and response.get_json() == {"error": f"job {job['id']} not found"}
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=other_headers).status_code == 404
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/jobs", headers=other_headers).get_json()["total"] == 0


def test_history_checkpoints_and_eta(client, user_headers, make_job, db_session):
    job_id = make_job(epochs=10)["id"]
    job = db_session.get(Job, job_id)
    job.status, job.epoch, job.progress, job.best_val_loss = WorkStatus.running, 2, 0.5, 1.2
    job.train_seconds = 11.0 + 12.0
    for n, (loss, val) in enumerate([(2.0, 1.5), (1.4, 1.2)], start=1):
        db_session.add(epoch_row(n, job_id=job_id, loss=loss, val_loss=val, seconds=10.0 + n, chars_per_second=1000.0))
    db_session.commit()
    body = client.get(f"/api/v1/jobs/{job_id}", headers=user_headers).get_json()
    assert body["checkpoint_epochs"] == [1, 2] and body["has_checkpoint"] is True
    assert [h["epoch"] for h in body["history"]] == [1, 2]
    assert body["history"][0]["loss_bits"] == pytest.approx(2.0 / 0.6931471805599453)
    first = body["history"][0]  # every loss names its unit; the first names stay (nats)
    assert first["loss_nats"] == first["loss"] == 2.0 and first["val_loss_nats"] == first["val_loss"] == 1.5
    assert first["val_loss_bits"] == pytest.approx(1.5 / 0.6931471805599453)
    assert body["best_val_loss_nats"] == body["best_val_loss"] == 1.2
    assert body["best_val_loss_bits"] == pytest.approx(1.2 / 0.6931471805599453)
    listed = client.get("/api/v1/jobs", headers=user_headers).get_json()["items"][0]
    assert listed["best_val_loss_bits"] == pytest.approx(1.2 / 0.6931471805599453)
    assert body["eta_seconds"] == pytest.approx(11.5 * (10 - 2 - 0.5))
    assert "checkpoint_key" not in json.dumps(body)


def test_cancel_queued_job_is_immediate_and_idempotent(client, user_headers, make_job):
    job = make_job()
    response = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=user_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled" and body["finished_at"] is not None
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=user_headers)
    assert again.status_code == 200 and again.get_json()["status"] == "cancelled"


def test_cancel_running_job_sets_the_flag(client, user_headers, make_job, db_session):
    job_id = make_job()["id"]
    db_session.get(Job, job_id).status = WorkStatus.running
    db_session.commit()
    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=user_headers)
    assert response.status_code == 202
    assert response.get_json()["status"] == "running" and response.get_json()["cancel_requested"] is True
    db_session.expire_all()
    assert db_session.get(Job, job_id).cancel_requested is True


@pytest.mark.parametrize("status", [WorkStatus.succeeded, WorkStatus.failed])
def test_cancel_finished_job_is_409(client, user_headers, make_job, db_session, status):
    job_id = make_job()["id"]
    job = db_session.get(Job, job_id)
    job.status, job.finished_at = status, datetime.now(UTC)
    db_session.commit()
    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=user_headers)
    assert response.status_code == 409
    assert response.get_json() == {"error": f"job {job_id} already {status.value}; nothing to cancel"}


def test_broker_down_fails_the_job_with_503(app, client, user_headers, make_corpus, db_session, small_job):
    from celery import Celery

    app.extensions["celery"] = Celery(
        "dead",
        broker="redis://127.0.0.1:1/0",
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        broker_transport_options={"max_retries": 0},
    )
    corpus = make_corpus()
    response = post_job(client, user_headers, corpus["id"], small_job)
    assert response.status_code == 503
    [job] = db_session.query(Job).all()
    assert job.status == WorkStatus.failed and "could not queue" in job.error and "Connection refused" in job.error


class QueryCounter:
    """Counts the SQL statements every engine runs while active (a before_cursor_execute hook)."""

    def __init__(self):
        self.statements: list[str] = []

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def __enter__(self) -> "QueryCounter":
        from sqlalchemy import Engine, event

        event.listen(Engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc) -> None:
        from sqlalchemy import Engine, event

        event.remove(Engine, "before_cursor_execute", self._hook)


def test_listing_jobs_costs_a_constant_number_of_queries_and_loads_no_epoch(client, user_headers, make_job, db_session):
    from shared import lifecycle
    from shared.engine.training.train import EpochReport

    first = db_session.get(Job, make_job()["id"])
    jobs = [first] + [
        lifecycle.create_job(db_session, first.owner_id, first.corpus_id, first.hyperparameters) for _ in range(19)
    ]
    for job in jobs:
        for n in range(1, 51):
            report = EpochReport(epoch=n, loss=1.5, val_loss=1.4, seconds=2.0, chars_per_second=100.0)
            lifecycle.record_epoch(db_session, job.id, report, f"jobs/{job.id}/epoch-{n:04d}")
    db_session.commit()
    counts = {}
    for per_page in (1, 100):
        with QueryCounter() as queries:
            response = client.get(f"/api/v1/jobs?per_page={per_page}", headers=user_headers)
        assert response.status_code == 200 and len(response.get_json()["items"]) == min(per_page, 20)
        assert not [q for q in queries.statements if "epochs" in q.lower().split("from", 1)[-1]], queries.statements
        counts[per_page] = len(queries.statements)
    assert counts[1] == counts[100] <= 4, counts  # token, count, page: not one per job
    items = response.get_json()["items"]
    assert all(j["epoch"] == 50 and j["has_checkpoint"] and j["eta_seconds"] is not None for j in items)


def test_fair_queue_one_message_per_user_and_a_cancel_sends_the_next(
    client, user_headers, other_headers, make_corpus, broker, db_session, small_job
):
    corpus = make_corpus()
    mine = [post_job(client, user_headers, corpus["id"], small_job).get_json() for _ in range(3)]
    assert [j["status"] for j in mine] == ["queued"] * 3
    assert broker.llen("training") == 1  # only the first is in the broker; the others wait their turn
    theirs = post_job(client, other_headers, make_corpus(headers=other_headers)["id"], small_job).get_json()
    assert broker.llen("training") == 2  # another user's first job goes straight in
    sent = [json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in broker.lrange("training", 0, -1)]
    assert sorted(sent) == sorted([mine[0]["id"], theirs["id"]])
    assert client.post(f"/api/v1/jobs/{mine[0]['id']}/cancel", headers=user_headers).status_code == 200
    last = json.loads(base64.b64decode(json.loads(broker.lindex("training", 0))["body"]))[0]
    assert last == [mine[1]["id"], db_session.get(Job, mine[1]["id"]).dispatch_token]  # the next one's turn
    assert broker.llen("training") == 3


def test_timestamps_are_utc_with_a_z_from_post_and_get_alike(settings, broker, tmp_path, small_job):
    """The same moment comes back in the same form from the POST that made it and from a GET, also
    on SQLite (`make up`), which hands back naive datetimes."""
    import io

    from services.app import create_app
    from shared.auth import create_user_token
    from shared.db.migrate import upgrade
    from shared.db.session import session_scope

    url = f"sqlite:///{tmp_path / 'charlstm.db'}"
    upgrade(url)
    with session_scope(url) as session:
        headers = {"Authorization": f"Bearer {create_user_token(session, 'zed')}"}
    client = create_app(settings.model_copy(update={"database_url": url})).test_client()
    text = io.BytesIO(("def f(x):\n    return x * 2\n\n" * 80).encode())
    corpus = client.post("/api/v1/corpora", headers=headers, data={"file": (text, "c.py")}).get_json()
    created = post_job(client, headers, corpus["id"], small_job).get_json()
    fetched = client.get(f"/api/v1/jobs/{created['id']}", headers=headers).get_json()
    listed = client.get("/api/v1/jobs", headers=headers).get_json()["items"][0]
    assert created["created_at"] == fetched["created_at"] == listed["created_at"]
    assert created["created_at"].endswith("Z")
    got_corpus = client.get(f"/api/v1/corpora/{corpus['id']}", headers=headers).get_json()
    assert got_corpus["created_at"] == corpus["created_at"] and corpus["created_at"].endswith("Z")
