"""Neuron analyses and the temperature chart's numbers through the API: validation, the queue
message, the lifecycle as the API shows it, the result download, ownership; next-char answered
from the checkpoint's weights."""

import base64
import json

import pytest

from shared import lifecycle
from shared.db.models import Analysis, WorkStatus
from tests.analysis_helpers import store_checkpoint


@pytest.fixture
def trained_job(make_job, record_epochs, store):
    """A job with two recorded epochs (epoch 1 the best), both checkpoints stored."""
    job_id = record_epochs(make_job()["id"], [1.1, 1.3])
    store_checkpoint(store, job_id, 1)
    store_checkpoint(store, job_id, 2)
    return job_id


def post(client, headers, job_id, body):
    return client.post(f"/api/v1/jobs/{job_id}/analyses", headers=headers, json=body)


def test_analysis_without_checkpoint_is_409(client, user_headers, make_job, broker):
    response = post(client, user_headers, make_job()["id"], {})
    assert response.status_code == 409
    assert response.get_json() == {"error": "job has no checkpoint yet"}
    assert broker.llen("sampling") == 0


def test_analysis_request_queues_a_message_on_the_sampling_queue(client, user_headers, trained_job, broker):
    response = post(client, user_headers, trained_job, {})
    assert response.status_code == 202
    analysis = response.get_json()
    assert (analysis["status"], analysis["epoch"], analysis["source"]) == ("queued", 1, "corpus")
    assert analysis["neurons"] is None and analysis["result_url"] is None
    assert broker.llen("sampling") == 1
    message = json.loads(broker.lindex("sampling", 0))
    assert message["headers"]["task"] == "charlstm.analyze"
    args = json.loads(base64.b64decode(message["body"]))[0]
    assert args[0] == analysis["id"] and len(args[1]) == 32  # with its dispatch token (the reconciler's key)

    chosen = post(client, user_headers, trained_job, {"text": "def f():\n    return 1\n", "epoch": 2}).get_json()
    assert (chosen["epoch"], chosen["source"]) == (2, "text")


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"text": "x" * 20_001}, ["text"]),  # ANALYSIS_MAX_CHARS (20,000 by default)
        ({"text": "x"}, ["text"]),
        ({"text": "bad \x00 byte"}, ["text"]),
        ({"text": 5}, ["text"]),
        ({"epoch": 0}, ["epoch"]),
        ({"epoch": 1.5}, ["epoch"]),
        ({"colour": "red"}, ["colour"]),
    ],
)
def test_bad_analysis_requests_are_422_naming_the_field(client, user_headers, trained_job, body, loc, broker):
    response = post(client, user_headers, trained_job, body)
    assert response.status_code == 422, response.get_json()
    assert [e["loc"] for e in response.get_json()["detail"]] == [loc]
    assert broker.llen("sampling") == 0


def test_the_text_limit_is_in_the_message(client, user_headers, trained_job):
    error = post(client, user_headers, trained_job, {"text": "y" * 20_001}).get_json()["error"]
    assert "20,001 characters; at most 20,000 (ANALYSIS_MAX_CHARS)" in error


def test_an_epoch_without_a_checkpoint_is_404(client, user_headers, trained_job):
    response = post(client, user_headers, trained_job, {"epoch": 7})
    assert response.status_code == 404
    assert "no checkpoint of epoch 7" in response.get_json()["error"]


def test_lifecycle_as_the_api_shows_it(client, user_headers, trained_job, db_session, store):
    analysis_id = post(client, user_headers, trained_job, {}).get_json()["id"]
    url = f"/api/v1/analyses/{analysis_id}"
    assert client.get(url + "/result", headers=user_headers).status_code == 409

    work = lifecycle.claim_analysis(db_session, analysis_id, "w1")
    db_session.commit()
    assert work is not None and work.text is None and work.checkpoint_key == f"jobs/{trained_job}/epoch-0001"
    assert client.get(url, headers=user_headers).get_json()["status"] == "running"

    cells = [{"layer": 1, "unit": 3, "correlation": 0.91}]
    top = {"features": ["bracket_depth"], "layers": 2, "units": 16, "top": {"bracket_depth": cells}}
    store.put_bytes("analyses/x.json", b'{"text": "ab"}')
    lifecycle.finish_analysis(db_session, analysis_id, object_key="analyses/x.json", top=top, chars=2)
    db_session.commit()
    shown = client.get(url, headers=user_headers).get_json()
    assert shown["status"] == "succeeded" and shown["chars"] == 2
    assert shown["neurons"]["top"]["bracket_depth"] == [{"layer": 1, "unit": 3, "correlation": 0.91}]
    assert shown["result_url"] == url + "/result"
    result = client.get(shown["result_url"], headers=user_headers)
    assert result.status_code == 200 and result.get_json() == {"text": "ab"}
    listed = client.get(f"/api/v1/jobs/{trained_job}/analyses", headers=user_headers).get_json()
    assert [a["id"] for a in listed["items"]] == [analysis_id] and listed["total"] == 1


def test_a_message_that_comes_again_for_a_running_analysis_fails_it(client, user_headers, trained_job, db_session):
    analysis_id = post(client, user_headers, trained_job, {}).get_json()["id"]
    assert lifecycle.claim_analysis(db_session, analysis_id, "w1") is not None
    db_session.commit()
    assert lifecycle.claim_analysis(db_session, analysis_id, "w2") is None  # its worker was lost
    db_session.commit()
    row = db_session.get(Analysis, analysis_id)
    assert row.status == WorkStatus.failed and row.error == lifecycle.LOST_ANALYSIS
    assert lifecycle.claim_analysis(db_session, analysis_id, "w3") is None  # finished: nothing to do


def test_cancel_a_queued_or_running_analysis(client, user_headers, other_headers, trained_job, db_session):
    """As samples are cancelled: at once, again a no-op, a finished one 409, another's 404; the
    worker then skips a queued one, and a running one's heartbeat says cancel and its result is
    not recorded."""
    from shared.lifecycle.work import HEARTBEAT_CANCEL

    queued = post(client, user_headers, trained_job, {}).get_json()["id"]
    assert client.post(f"/api/v1/analyses/{queued}/cancel", headers=other_headers).status_code == 404
    cancelled = client.post(f"/api/v1/analyses/{queued}/cancel", headers=user_headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["finished_at"] is not None
    again = client.post(f"/api/v1/analyses/{queued}/cancel", headers=user_headers)
    assert again.status_code == 200 and again.get_json()["status"] == "cancelled"
    assert lifecycle.claim_analysis(db_session, queued, "w1") is None  # its message: nothing to do
    db_session.commit()

    running = post(client, user_headers, trained_job, {}).get_json()["id"]
    assert lifecycle.claim_analysis(db_session, running, "w1") is not None
    db_session.commit()
    assert client.post(f"/api/v1/analyses/{running}/cancel", headers=user_headers).get_json()["status"] == "cancelled"
    assert lifecycle.analysis_heartbeat(db_session, running, None, "w1") == HEARTBEAT_CANCEL
    lifecycle.finish_analysis(db_session, running, object_key="analyses/x.json", top={}, chars=2)
    db_session.commit()
    db_session.expire_all()
    row = db_session.get(Analysis, running)
    assert row.status == WorkStatus.cancelled and row.object_key is None

    done = post(client, user_headers, trained_job, {}).get_json()["id"]
    lifecycle.claim_analysis(db_session, done, "w1")
    lifecycle.finish_analysis(db_session, done, error="boom")
    db_session.commit()
    refused = client.post(f"/api/v1/analyses/{done}/cancel", headers=user_headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"] == f"analysis {done} already failed; nothing to cancel"


def test_others_analyses_are_404(client, user_headers, other_headers, trained_job):
    analysis_id = post(client, user_headers, trained_job, {}).get_json()["id"]
    assert client.get(f"/api/v1/analyses/{analysis_id}", headers=other_headers).status_code == 404
    assert post(client, other_headers, trained_job, {}).status_code == 404


def test_next_char_gives_a_distribution_per_temperature(client, user_headers, trained_job):
    response = client.get(
        f"/api/v1/jobs/{trained_job}/next-char",
        headers=user_headers,
        query_string={"prompt": "def decode(self, s", "temperatures": "0.5, 1, 2", "top": 1000},
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["epoch"] == 1 and data["temperatures"] == [0.5, 1.0, 2.0]
    assert data["prompt_chars"] == len("def decode(self, s")
    for row in data["probabilities"]:
        assert sum(row) == pytest.approx(1.0, abs=1e-6)
    first = [row[0] for row in data["probabilities"]]
    assert first[0] > first[1] > first[2]  # a lower temperature sharpens the likeliest character
    assert data["probabilities"][1] == sorted(data["probabilities"][1], reverse=True)


@pytest.mark.parametrize(
    "query, status",
    [
        ({"prompt": ""}, 422),
        ({"prompt": "x" * 2001}, 422),
        ({"prompt": "def", "temperatures": "0"}, 422),
        ({"prompt": "def", "temperatures": "a,b"}, 422),
        ({"prompt": "def", "temperatures": ",".join(["1"] * 9)}, 422),
        ({"prompt": "@~^$"}, 422),  # no character of the model's vocabulary (python_text has none)
        ({"prompt": "def", "epoch": 9}, 404),
    ],
)
def test_bad_next_char_queries(client, user_headers, trained_job, query, status):
    response = client.get(f"/api/v1/jobs/{trained_job}/next-char", headers=user_headers, query_string=query)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]


def test_next_char_without_checkpoint_is_409(client, user_headers, make_job):
    job = make_job()
    response = client.get(f"/api/v1/jobs/{job['id']}/next-char", headers=user_headers, query_string={"prompt": "a"})
    assert response.status_code == 409


def test_the_openapi_document_has_the_analyses(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert {
        "/api/v1/jobs/{job_id}/analyses",
        "/api/v1/analyses/{analysis_id}",
        "/api/v1/analyses/{analysis_id}/result",
        "/api/v1/jobs/{job_id}/next-char",
    } <= set(doc["paths"])
    body = doc["paths"]["/api/v1/jobs/{job_id}/analyses"]["post"]["requestBody"]["content"]["application/json"]
    schema = doc["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"text", "epoch"} and schema["additionalProperties"] is False
