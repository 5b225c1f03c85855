"""GET /api/v1/samples/{id}/stream: a sample's text as Server-Sent Events while it is written (the
worker's pieces), resumable from an offset, then the stored text and an `end` with the reason."""

import io
import json
import zipfile

import pytest

from shared import lifecycle
from shared.db.models import SamplePiece


@pytest.fixture
def trained_job(make_job, record_epochs):
    return record_epochs(make_job()["id"], [1.1])


@pytest.fixture
def short_streams(app):
    """Responses of a running sample's stream end after half a second (the client then resumes)."""
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.model_copy(update={"sample_stream_seconds": 0.5})
    yield
    app.config["SETTINGS"] = settings


def ask(client, headers, job_id, **body) -> int:
    response = client.post(f"/api/v1/jobs/{job_id}/samples", headers=headers, json=body)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def running(db_session, sample_id: int, *pieces: tuple[int, int, str]) -> str:
    """Claim the sample as a worker would and write `pieces` under its lease (returned)."""
    work = lifecycle.claim_sample(db_session, sample_id, "w1")
    assert work is not None
    assert lifecycle.append_pieces(db_session, sample_id, work.lease, list(pieces))
    db_session.commit()
    return work.lease


def events(body: str) -> list[tuple[str, str | None, dict | None]]:
    """(event, id, data) of each event of an SSE body (comments and `retry:` left out)."""
    out = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], fields.get("id"), json.loads(fields["data"])))
    return out


def stream(client, headers, sample_id, **query):
    extra = query.pop("extra_headers", {})
    response = client.get(f"/api/v1/samples/{sample_id}/stream", headers={**headers, **extra}, query_string=query)
    return response


def test_running_text_from_an_offset_or_last_event_id(client, user_headers, trained_job, db_session, short_streams):
    sample_id = ask(client, user_headers, trained_job)
    running(db_session, sample_id, (0, 0, "hello "), (0, 6, "world"))
    response = stream(client, user_headers, sample_id, offset=3)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    assert body.startswith("retry: ")
    assert events(body) == [("text", "11", {"text": "lo world"})]  # no end: the sample still runs
    resumed = stream(client, user_headers, sample_id, extra_headers={"Last-Event-ID": "6"})
    assert events(resumed.get_data(as_text=True)) == [("text", "11", {"text": "world"})]


def test_text_arrives_before_the_end_then_the_stored_text_is_the_authority(
    client, user_headers, trained_job, db_session, store
):
    sample_id = ask(client, user_headers, trained_job)
    lease = running(db_session, sample_id, (0, 0, "def f"))
    response = client.get(f"/api/v1/samples/{sample_id}/stream", headers=user_headers, buffered=False)
    chunks = (chunk.decode() for chunk in response.response)
    seen = ""
    while "event: text" not in seen:
        seen += next(chunks)
    assert events(seen) == [("text", "5", {"text": "def f"})]
    store.put_bytes(f"samples/{sample_id}.txt", b"def f(x):\n\treturn x\n")
    assert lifecycle.finish_sample(db_session, sample_id, f"samples/{sample_id}.txt", lease=lease, stored_bytes=20)
    db_session.commit()
    assert db_session.query(SamplePiece).filter_by(sample_id=sample_id).count() == 0  # the stored text rules now
    rest = "".join(chunks)
    assert events(rest) == [
        ("text", "20", {"text": "(x):\n\treturn x\n"}),
        ("end", None, {"status": "succeeded", "error": None, "offset": 20}),
    ]
    response.close()


def test_a_text_of_several_comes_from_its_zip_member(client, user_headers, trained_job, db_session, store):
    sample_id = ask(client, user_headers, trained_job, temperature=[0.5, 1.0])
    lease = running(db_session, sample_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("t0.5.txt", "first")
        archive.writestr("t1.0.txt", "second")
    store.put_bytes("samples/x.zip", buffer.getvalue())
    lifecycle.finish_sample(db_session, sample_id, "samples/x.zip", lease=lease, stored_bytes=1)
    db_session.commit()
    body = stream(client, user_headers, sample_id, text=1, offset=2).get_data(as_text=True)
    assert events(body) == [
        ("text", "6", {"text": "cond"}),
        ("end", None, {"status": "succeeded", "error": None, "offset": 6}),
    ]
    assert stream(client, user_headers, sample_id, text=2).status_code == 422


def test_a_cancelled_sample_ends_with_the_reason_and_its_worker_writes_no_more(
    client, user_headers, trained_job, db_session
):
    sample_id = ask(client, user_headers, trained_job)
    lease = running(db_session, sample_id, (0, 0, "abc"))
    assert client.post(f"/api/v1/samples/{sample_id}/cancel", headers=user_headers).status_code == 200
    assert not lifecycle.append_pieces(db_session, sample_id, lease, [(0, 3, "def")])
    db_session.commit()
    body = stream(client, user_headers, sample_id, offset=1).get_data(as_text=True)
    assert events(body) == [("end", None, {"status": "cancelled", "error": "cancelled", "offset": 1})]


def test_a_failed_sample_ends_with_its_error(client, user_headers, trained_job, db_session):
    sample_id = ask(client, user_headers, trained_job)
    lease = running(db_session, sample_id, (0, 0, "abc"))
    lifecycle.finish_sample(db_session, sample_id, error="the checkpoint is missing", lease=lease)
    db_session.commit()
    body = stream(client, user_headers, sample_id).get_data(as_text=True)
    assert events(body) == [("end", None, {"status": "failed", "error": "the checkpoint is missing", "offset": 0})]


def test_a_queued_sample_sends_no_text_yet(client, user_headers, trained_job, short_streams):
    sample_id = ask(client, user_headers, trained_job)
    body = stream(client, user_headers, sample_id).get_data(as_text=True)
    assert events(body) == [] and body.startswith("retry: ")


def test_another_users_sample_is_404(client, user_headers, other_headers, trained_job):
    sample_id = ask(client, user_headers, trained_job)
    response = stream(client, other_headers, sample_id)
    assert response.status_code == 404
    assert stream(client, {}, sample_id).status_code == 401


def test_open_streams_are_capped_per_process(app, client, user_headers, trained_job):
    sample_id = ask(client, user_headers, trained_job)
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.model_copy(update={"sample_streams": 0})
    try:
        response = stream(client, user_headers, sample_id)
    finally:
        app.config["SETTINGS"] = settings
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
