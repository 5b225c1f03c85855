"""Sweeps over HTTP: one job per variant (grid or explicit), validated as jobs are, within quotas
and fair queues (one message in the broker for the whole sweep), listed, read, cancelled."""

import pytest

from shared.db.models import Job, WorkStatus

SMALL = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 10, "epochs": 3}


def post_sweep(client, headers, **body):
    return client.post("/api/v1/sweeps", headers=headers, json=body)


def test_a_grid_makes_one_job_per_combination_and_sends_one_message(
    client, user_headers, make_corpus, broker, db_session
):
    corpus = make_corpus()
    grid = {"optimizer": ["rmsprop", "adam"], "seed": [0, 1]}
    response = post_sweep(client, user_headers, corpus_id=corpus["id"], base=SMALL, grid=grid, name="opt x seed")
    assert response.status_code == 202, response.get_json()
    sweep = response.get_json()
    assert sweep["name"] == "opt x seed" and sweep["status"] == "queued" and sweep["jobs_total"] == 4
    assert [j["variant"] for j in sweep["jobs"]] == [
        {"optimizer": "rmsprop", "seed": 0},
        {"optimizer": "rmsprop", "seed": 1},
        {"optimizer": "adam", "seed": 0},
        {"optimizer": "adam", "seed": 1},
    ]
    assert sweep["counts"] == {"queued": 4, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert sweep["compare_url"] == f"/api/v1/compare?sweep={sweep['id']}"
    rows = [db_session.get(Job, j["id"]) for j in sweep["jobs"]]
    assert [(r.hyperparameters.optimizer, r.hyperparameters.seed, r.hyperparameters.units) for r in rows] == [
        ("rmsprop", 0, 8), ("rmsprop", 1, 8), ("adam", 0, 8), ("adam", 1, 8)
    ]  # fmt: skip
    assert all(r.sweep_id == sweep["id"] for r in rows)
    assert broker.llen("training") == 1  # fair queues: the user's other jobs wait their turn
    assert [r.dispatched_at is not None for r in rows] == [True, False, False, False]

    listed = client.get("/api/v1/sweeps", headers=user_headers).get_json()
    assert listed["total"] == 1 and listed["items"][0]["job_ids"] == [j["id"] for j in sweep["jobs"]]
    again = client.get(f"/api/v1/sweeps/{sweep['id']}", headers=user_headers).get_json()
    assert again["jobs"] == sweep["jobs"]


def test_explicit_variants_and_the_epoch_budget(client, user_headers, make_corpus, db_session):
    corpus = make_corpus()
    variants = [{"layers": 1, "units": 12}, {"layers": 2, "units": 8, "epochs": 2}]
    response = post_sweep(
        client, user_headers, corpus_id=corpus["id"], base={**SMALL, "epochs": 9}, variants=variants,
        budget={"max_epochs": 4},
    )  # fmt: skip
    assert response.status_code == 202, response.get_json()
    jobs = [db_session.get(Job, j["id"]).hyperparameters for j in response.get_json()["jobs"]]
    assert [(hp.layers, hp.units, hp.epochs) for hp in jobs] == [(1, 12, 4), (2, 8, 2)]


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"grid": {"layers": [1, 9]}}, ["grid", "layers"]),
        ({"grid": {"colour": ["red"]}}, ["grid", "colour"]),
        ({"variants": [{"units": 8}, {"optimizer": "sgd"}]}, ["variants", 1, "optimizer"]),
        ({"variants": [{"units": "8"}]}, ["variants", 0, "units"]),  # strict, as POST /jobs
        ({"base": {"dropout": 1.5}, "variants": [{}]}, ["base", "dropout"]),
        ({"grid": {"seed": [0, 1, 2]}, "budget": {"max_jobs": 2}}, ["budget", "max_jobs"]),
        ({"grid": {"seed": []}}, ["body"]),
        ({"grid": {"seed": [0]}, "variants": [{}]}, ["body"]),
        ({}, ["body"]),
        ({"grid": {"seed": [0]}, "extra": 1}, ["extra"]),
        ({"grid": {"seq_len": [10, 5000]}}, ["seq_len"]),  # the corpus is too short for 5000
    ],
)
def test_invalid_sweeps_are_422_and_create_nothing(client, user_headers, make_corpus, broker, db_session, body, loc):
    corpus = make_corpus()
    body = {"corpus_id": corpus["id"], "base": body.pop("base", SMALL), **body}
    response = post_sweep(client, user_headers, **body)
    assert response.status_code == 422, response.get_json()
    detail = response.get_json()["detail"]
    locs = [d["loc"][1:] if d["loc"][:1] == ["body"] and len(d["loc"]) > 1 else d["loc"] for d in detail]
    assert loc in locs or (loc == ["body"] and detail), detail
    assert db_session.query(Job).count() == 0 and broker.llen("training") == 0


def test_a_sweep_past_the_job_quota_creates_none(client, user_headers, make_corpus, db_session):
    from shared.db.models import User

    corpus = make_corpus()
    for user in db_session.query(User):
        user.quotas = {"max_jobs": 3}
    db_session.commit()
    response = post_sweep(client, user_headers, corpus_id=corpus["id"], base=SMALL, grid={"seed": [0, 1, 2, 3]})
    assert response.status_code == 429, response.get_json()
    assert response.get_json()["detail"][0]["quota"] == "max_jobs"
    assert db_session.query(Job).count() == 0


def test_another_users_sweep_is_404_and_cancel_cancels_the_jobs(
    client, user_headers, other_headers, make_corpus, db_session
):
    corpus = make_corpus()
    sweep = post_sweep(client, user_headers, corpus_id=corpus["id"], base=SMALL, grid={"seed": [0, 1, 2]}).get_json()
    assert client.get(f"/api/v1/sweeps/{sweep['id']}", headers=other_headers).status_code == 404
    assert client.post(f"/api/v1/sweeps/{sweep['id']}/cancel", headers=other_headers).status_code == 404
    assert client.get("/api/v1/sweeps", headers=other_headers).get_json()["total"] == 0
    other_corpus = make_corpus(headers=other_headers)
    theirs = post_sweep(client, user_headers, corpus_id=other_corpus["id"], base=SMALL, grid={"seed": [0]})
    assert theirs.status_code == 404

    first = db_session.get(Job, sweep["jobs"][0]["id"])
    from shared import lifecycle

    lifecycle.claim_job(db_session, first.id, "w1")  # one running: asked to stop, the rest cancelled
    db_session.commit()
    cancelled = client.post(f"/api/v1/sweeps/{sweep['id']}/cancel", headers=user_headers)
    assert cancelled.status_code == 200, cancelled.get_json()
    body = cancelled.get_json()
    assert [j["status"] for j in body["jobs"]] == ["running", "cancelled", "cancelled"]
    assert body["status"] == "running"
    db_session.expire_all()
    assert db_session.get(Job, first.id).cancel_requested is True
    assert client.post(f"/api/v1/sweeps/{sweep['id']}/cancel", headers=user_headers).status_code == 200
    lifecycle.finish_job(db_session, first.id, WorkStatus.cancelled)
    db_session.commit()
    done = client.get(f"/api/v1/sweeps/{sweep['id']}", headers=user_headers).get_json()
    assert done["status"] == "finished" and done["counts"]["cancelled"] == 3


def test_cancelling_a_sweep_dispatches_the_owners_next_job(client, user_headers, make_corpus, broker, db_session):
    corpus = make_corpus()
    sweep = post_sweep(client, user_headers, corpus_id=corpus["id"], base=SMALL, grid={"seed": [0, 1]}).get_json()
    single = client.post("/api/v1/jobs", headers=user_headers, json={"corpus_id": corpus["id"], **SMALL}).get_json()
    assert broker.llen("training") == 1  # the sweep's first job
    client.post(f"/api/v1/sweeps/{sweep['id']}/cancel", headers=user_headers)
    assert broker.llen("training") == 2  # the single job's turn came
    assert db_session.get(Job, single["id"]).dispatched_at is not None


def test_the_study_is_a_valid_sweep_on_the_service(client, user_headers, make_corpus):
    from shared.research.study import sweep_body

    corpus = make_corpus(text="def f(x):\n    return x * 2\n\n" * 2500)  # 75,000 characters
    response = client.post("/api/v1/sweeps", headers=user_headers, json=sweep_body("tiny", corpus["id"]))
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["jobs_total"] == 12
