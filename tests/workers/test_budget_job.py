"""A job with `budget_seconds` over HTTP, trained by a real worker process: the budgeted recipe
chooses what was left at the paper's defaults, and the job then shows what it trained."""

from shared.engine.training.budget import RECIPE
from tests.waiting import json_at, wait_for_answer
from tests.workers.over_http import user_with_corpus


def test_a_budgeted_job_records_the_recipes_choices(worker_settings, worker_db_url, enqueue, training_worker):
    from services.app import create_app

    client = create_app(worker_settings).test_client()
    headers, corpus, _ = user_with_corpus(client, worker_db_url, "budget-user")
    asked = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "epochs": 2, "budget_seconds": 60}
    created = client.post("/api/v1/jobs", headers=headers, json={"corpus_id": corpus["id"], **asked})
    assert created.status_code == 202, created.get_json()
    assert created.get_json()["hyperparameters"]["optimizer"] == "rmsprop"  # as asked, until a worker plans it
    job_id = created.get_json()["id"]
    job = wait_for_answer(json_at(client, f"/api/v1/jobs/{job_id}", headers), 180, f"job {job_id}", interval=0.5)
    assert job["status"] == "succeeded", job["error"]
    trained = job["hyperparameters"]
    assert {name: trained[name] for name in asked} == asked  # what was given is kept
    for name in ("optimizer", "schedule", "learning_rate", "dropout", "patience"):
        assert trained[name] == RECIPE[name], name
    assert [e["epoch"] for e in job["history"]] == [1, 2]
