"""`charlstm sample JOB --follow` against the real API served over HTTP (as in
test_cli_client_api.py), with the test playing the sampling worker: it claims the request and
writes its text through the worker's own TextPublisher. The first characters are printed before
the sample ends; a cancelled sample prints its end and exits 1."""

import contextlib
import io
import sys
import threading

import pytest

from services.cli.main import main
from shared import lifecycle
from shared.db.models import Sample
from shared.db.session import session_scope
from tests.factories import epoch_row
from tests.waiting import wait_for
from workers.text_stream import TextPublisher

SMALL = {"layers": 1, "units": 8, "seq_len": 10, "batch_size": 4, "epochs": 3}


@pytest.fixture
def job_id(client, user_headers, db_session) -> int:
    """A job with a checkpoint to sample from."""
    text = "def f(x):\n    return x\n" * 200
    corpus = client.post(
        "/api/v1/corpora",
        headers=user_headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(text.encode()), "c.py")},
    ).get_json()
    job = client.post("/api/v1/jobs", headers=user_headers, json={"corpus_id": corpus["id"], **SMALL}).get_json()
    db_session.add(epoch_row(job_id=job["id"], checkpoint_key=f"jobs/{job['id']}/epoch-1"))
    db_session.commit()
    return job["id"]


class Recorder(io.StringIO):
    """stdout that logs each write into `order` and signals the first one."""

    def __init__(self, order: list[str]):
        super().__init__()
        self.order, self.printed = order, threading.Event()

    def write(self, text: str) -> int:
        if text:
            self.order.append(f"printed {text!r}")
            self.printed.set()
        return super().write(text)


def play_worker(url: str, store, job_id: int, stdout: Recorder, order: list[str], cancel: bool = False) -> None:
    """Claim the job's sample, write its first characters, wait until the CLI printed them, then
    end it: stored and succeeded, or cancelled."""

    def requested() -> int | None:
        with session_scope(url) as session:
            return session.query(Sample.id).filter_by(job_id=job_id).scalar()

    with contextlib.suppress(TimeoutError):  # never requested: the CLI's answer fails the test
        sample_id = wait_for(requested, 10, "the sample request", interval=0.05)
        with session_scope(url) as session:
            work = lifecycle.claim_sample(session, sample_id, "w1")
        assert work is not None
        with TextPublisher(sample_id, work.lease, texts=1, db_url=url) as publisher:
            publisher.write(0, "def f(x):")
        stdout.printed.wait(30)
        with session_scope(url) as session:
            if cancel:
                lifecycle.cancel_sample(session, sample_id)
            else:
                key = f"samples/{sample_id}.txt"
                store.put_bytes(key, b"def f(x):\n    return x\n")
                lifecycle.finish_sample(session, sample_id, key, lease=work.lease, stored_bytes=23)
        order.append("ended")


def follow(monkeypatch, clean_db, store, job_id, cancel=False) -> tuple[int, list[str], str]:
    order: list[str] = []
    stdout = Recorder(order)
    monkeypatch.setattr(sys, "stdout", stdout)
    worker = threading.Thread(target=play_worker, args=(clean_db, store, job_id, stdout, order, cancel))
    worker.start()
    try:
        code = main(["sample", str(job_id), "--length", "30", "--follow", "--no-quality"])
    finally:
        worker.join(60)
    return code, order, stdout.getvalue()


def test_follow_prints_the_text_before_the_sample_ends(service, monkeypatch, clean_db, store, job_id, capsys):
    code, order, out = follow(monkeypatch, clean_db, store, job_id)
    assert code == 0
    assert order[0] == "printed 'def f(x):'" and "ended" in order[1:]
    assert out == "def f(x):\n    return x\n\n"  # the rest from the stored text, the authority
    assert ": 1 text(s), 23 bytes downloaded" in capsys.readouterr().err  # the followed text counts


def test_follow_of_a_cancelled_sample_exits_1_with_the_reason(service, monkeypatch, clean_db, store, job_id, capsys):
    code, order, out = follow(monkeypatch, clean_db, store, job_id, cancel=True)
    assert code == 1 and order[0] == "printed 'def f(x):'"
    assert out.startswith("def f(x):")
    assert "cancelled" in capsys.readouterr().err
