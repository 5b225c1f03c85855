"""Sample requests: need a checkpoint, queue a sampling message, download when done."""

import base64
import io
import json
import zipfile

import pytest

from shared import lifecycle
from shared.db.models import Sample, WorkStatus
from tests.factories import epoch_row


@pytest.fixture
def trained_job(make_job, record_epochs):
    """A job with two recorded epochs (epoch 1 has the lower validation loss)."""
    return record_epochs(make_job()["id"], [1.1, 1.3])


def test_sample_without_checkpoint_is_409(client, user_headers, make_job, broker):
    job = make_job()
    response = client.post(f"/api/v1/jobs/{job['id']}/samples", headers=user_headers, json={})
    assert response.status_code == 409
    assert response.get_json() == {"error": "job has no checkpoint yet"}
    assert broker.llen("sampling") == 0


def test_sample_request_queues_a_message(client, user_headers, trained_job, broker, db_session):
    response = client.post(
        f"/api/v1/jobs/{trained_job}/samples",
        headers=user_headers,
        json={"length": 1000, "temperature": [0.5, 1.0], "count": 2, "seed_text": "def ", "random_seed": 7},
    )
    assert response.status_code == 202
    sample = response.get_json()
    assert sample["status"] == "queued" and sample["temperatures"] == [0.5, 1.0] and sample["count"] == 2
    assert sample["progress"] == 0.0
    assert broker.llen("sampling") == 1
    message = json.loads(broker.lindex("sampling", 0))
    assert message["headers"]["task"] == "charlstm.sample"
    token = db_session.get(Sample, sample["id"]).dispatch_token
    assert json.loads(base64.b64decode(message["body"]))[0] == [sample["id"], token]
    assert db_session.get(Sample, sample["id"]).checkpoint_key == f"jobs/{trained_job}/epoch-0001"


def test_sample_defaults(client, user_headers, trained_job):
    sample = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()
    assert (sample["length"], sample["count"], sample["temperatures"]) == (50_000, 1, [0.75])


@pytest.mark.parametrize(
    "fields, loc",
    [
        ({"length": 0}, ["length"]),
        ({"length": 1_000_001}, ["length"]),
        ({"count": 33}, ["count"]),
        ({"seed_text": "x" * 10_001}, ["seed_text"]),
        ({"random_seed": -1}, ["random_seed"]),
        ({"temperatures": 1.0}, ["temperatures"]),
    ],
)
def test_bad_sample_requests_are_422(client, user_headers, trained_job, fields, loc):
    response = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json=fields)
    assert response.status_code == 422
    assert [e["loc"] for e in response.get_json()["detail"]] == [loc]


@pytest.mark.parametrize("temperature", [-0.1, 10.5, [], [1.0] * 9, [0.5, -1]])
def test_bad_temperatures_are_422(client, user_headers, trained_job, temperature):
    response = client.post(
        f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={"temperature": temperature}
    )
    assert response.status_code == 422
    assert all(e["loc"][0] == "temperature" for e in response.get_json()["detail"])


def test_get_list_and_ownership(client, user_headers, other_headers, admin_headers, trained_job):
    sample = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()
    assert client.get(f"/api/v1/samples/{sample['id']}", headers=user_headers).get_json() == sample
    listing = client.get(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers).get_json()
    assert listing["total"] == 1 and listing["items"] == [sample]
    for path in (f"/api/v1/samples/{sample['id']}", f"/api/v1/samples/{sample['id']}/text"):
        assert client.get(path, headers=other_headers).status_code == 404
    assert client.get(f"/api/v1/samples/{sample['id']}", headers=admin_headers).status_code == 200


def test_text_before_success_is_409(client, user_headers, trained_job):
    sample = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()
    response = client.get(f"/api/v1/samples/{sample['id']}/text", headers=user_headers)
    assert response.status_code == 409
    assert response.get_json() == {"error": f"sample {sample['id']} is queued, not succeeded"}


def _finish(db_session, store, sample_id, data: bytes) -> None:
    sample = db_session.get(Sample, sample_id)
    sample.status, sample.object_key = WorkStatus.succeeded, f"samples/{sample_id}/result"
    store.put_bytes(sample.object_key, data)
    db_session.commit()


def test_text_streams_plain_text(client, user_headers, trained_job, db_session, store):
    sample = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()
    text = "généré\n" * 20_000  # larger than one chunk
    _finish(db_session, store, sample["id"], text.encode("utf-8"))
    response = client.get(f"/api/v1/samples/{sample['id']}/text", headers=user_headers)
    assert response.status_code == 200 and response.is_streamed
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'inline; filename="sample-{sample["id"]}.txt"'
    assert response.get_data(as_text=True) == text


def test_text_of_several_is_a_zip(client, user_headers, trained_job, db_session, store):
    sample = client.post(
        f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={"temperature": [0.5, 1.0]}
    ).get_json()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("t0.5.txt", "a")
        zf.writestr("t1.0.txt", "b")
    _finish(db_session, store, sample["id"], buffer.getvalue())
    response = client.get(f"/api/v1/samples/{sample['id']}/text", headers=user_headers)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert zipfile.ZipFile(io.BytesIO(response.data)).namelist() == ["t0.5.txt", "t1.0.txt"]


def test_job_without_val_loss_samples_the_latest(client, user_headers, make_job, db_session):
    job_id = make_job(validation_split=0)["id"]
    for n in (1, 2):
        db_session.add(epoch_row(n, job_id=job_id, val_loss=None, chars_per_second=1.0, checkpoint_key=f"k{n}"))
    db_session.commit()
    sample = client.post(f"/api/v1/jobs/{job_id}/samples", headers=user_headers, json={}).get_json()
    assert db_session.get(Sample, sample["id"]).checkpoint_key == "k2"


def test_cancel_a_sample(client, user_headers, other_headers, trained_job, db_session):
    queued = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()
    url = f"/api/v1/samples/{queued['id']}/cancel"
    assert client.post(url, headers=other_headers).status_code == 404
    response = client.post(url, headers=user_headers)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert client.post(url, headers=user_headers).status_code == 200  # again: a no-op
    assert client.get(f"/api/v1/samples/{queued['id']}", headers=user_headers).get_json()["status"] == "cancelled"
    assert client.get(f"/api/v1/samples/{queued['id']}/text", headers=user_headers).status_code == 409
    done = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()
    lifecycle.finish_sample(db_session, done["id"], object_key="samples/1.txt")
    db_session.commit()
    response = client.post(f"/api/v1/samples/{done['id']}/cancel", headers=user_headers)
    assert response.status_code == 409
    assert response.get_json() == {"error": f"sample {done['id']} already succeeded; nothing to cancel"}


def test_fair_queue_one_sample_message_per_user_and_a_cancel_sends_the_next(
    client, user_headers, trained_job, broker, db_session
):
    ids = [client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()["id"]]
    ids.append(client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={}).get_json()["id"])
    assert broker.llen("sampling") == 1  # the second waits for the first to leave the queue
    assert db_session.get(Sample, ids[1]).dispatched_at is None
    assert client.post(f"/api/v1/samples/{ids[0]}/cancel", headers=user_headers).status_code == 200
    assert broker.llen("sampling") == 2
    message = json.loads(broker.lindex("sampling", 0))
    db_session.expire_all()
    assert json.loads(base64.b64decode(message["body"]))[0] == [ids[1], db_session.get(Sample, ids[1]).dispatch_token]
