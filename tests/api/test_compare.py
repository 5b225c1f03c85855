"""GET /api/v1/compare and the live loss over HTTP, on jobs whose epochs are recorded as a worker
records them."""

import math

from shared import lifecycle
from tests.factories import sample_row

SMALL = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 10, "epochs": 3}
LN2 = math.log(2)


def test_compare_a_sweep_names_what_varies_and_ranks_by_best_validation(
    client, user_headers, make_corpus, record_epochs, db_session
):
    corpus = make_corpus()
    sweep = client.post(
        "/api/v1/sweeps", headers=user_headers,
        json={"corpus_id": corpus["id"], "base": SMALL, "grid": {"optimizer": ["rmsprop", "adam"]}},
    ).get_json()  # fmt: skip
    a, b = (j["id"] for j in sweep["jobs"])
    record_epochs(a, [2.0, 1.5, 1.6])
    record_epochs(b, [1.8, 1.2])
    db_session.add(
        sample_row(owner_id=1, job_id=b, status="succeeded")
    )  # the quality column may not exist in this tree: the comparison reads it defensively
    db_session.commit()
    body = client.get(f"/api/v1/compare?sweep={sweep['id']}&smoothing=0.5", headers=user_headers).get_json()
    assert body["varying"] == ["optimizer"] and body["smoothing"] == 0.5
    assert [c["label"] for c in body["curves"]] == ["optimizer=rmsprop", "optimizer=adam"]
    curve = body["curves"][0]
    assert curve["val_bits"] == [[1, 2.0 / LN2], [2, 1.5 / LN2], [3, 1.6 / LN2]]
    assert curve["val_bits_smoothed"][0] == curve["val_bits"][0]
    assert curve["val_bits_smoothed"][1][1] == (0.5 * 2.0 + 1.5) / 1.5 / LN2
    table = body["table"]
    assert [r["id"] for r in table] == [b, a]  # best validation first
    assert table[0]["best_epoch"] == 2 and math.isclose(table[0]["best_val_bits"], 1.2 / LN2)
    assert table[1]["best_epoch"] == 2 and table[1]["varying"] == {"optimizer": "rmsprop"}
    assert table[0]["seconds_per_epoch"] == 1.0 and table[0]["chars_per_second"] == 100.0
    assert table[0]["quality"] is None and table[0]["samples"] == 0

    by_ids = client.get(f"/api/v1/compare?jobs={b},{a}", headers=user_headers).get_json()
    assert [c["id"] for c in by_ids["curves"]] == [b, a]


def test_compare_refuses_bad_selections(client, user_headers, other_headers, make_job):
    job = make_job()
    assert client.get("/api/v1/compare", headers=user_headers).status_code == 422
    assert client.get(f"/api/v1/compare?jobs={job['id']}&sweep=1", headers=user_headers).status_code == 422
    assert client.get("/api/v1/compare?jobs=1,x", headers=user_headers).status_code == 422
    assert client.get(f"/api/v1/compare?jobs={job['id']}&smoothing=1", headers=user_headers).status_code == 422
    assert client.get(f"/api/v1/compare?jobs={job['id']}", headers=other_headers).status_code == 404
    assert client.get("/api/v1/compare?jobs=99999999999", headers=user_headers).status_code == 404
    assert client.get("/api/v1/compare?sweep=5", headers=user_headers).status_code == 404
    ok = client.get(f"/api/v1/compare?jobs={job['id']}", headers=user_headers).get_json()
    assert ok["varying"] == [] and ok["table"][0]["best_val_bits"] is None


def test_live_loss_is_recorded_only_while_running_and_read_in_bits(client, user_headers, make_job, db_session):
    job_id = make_job()["id"]
    assert not lifecycle.record_batch_loss(db_session, job_id, 1, 3, 10, 2.0)  # queued: nothing
    lifecycle.claim_job(db_session, job_id, "w1")
    assert not lifecycle.record_batch_loss(db_session, job_id, 1, 3, 10, 2.0, worker="w2")
    assert not lifecycle.record_batch_loss(db_session, job_id, 1, 3, 10, float("nan"), worker="w1")
    assert lifecycle.record_batch_loss(db_session, job_id, 1, 3, 10, 2.0, worker="w1")
    assert lifecycle.record_batch_loss(db_session, job_id, 1, 8, 10, 1.5, worker="w1")
    assert lifecycle.record_batch_loss(db_session, job_id, 1, 3, 10, 1.9, worker="w1")  # epoch 1 again (resumed)
    db_session.commit()
    body = client.get(f"/api/v1/jobs/{job_id}/live-loss", headers=user_headers).get_json()
    assert body["status"] == "running" and body["interval_seconds"] == 2.0
    assert body["points"] == [[0.3, 1.9 / LN2], [0.8, 1.5 / LN2]]
    compared = client.get(f"/api/v1/compare?jobs={job_id}", headers=user_headers).get_json()
    assert compared["curves"][0]["live_bits"] == body["points"]
