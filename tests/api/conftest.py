"""API helpers as fixtures: `upload`, `make_corpus`, `make_job`, `corpus_text`, `small_job`."""

import io

import pytest

TEXT = "def f(x):\n    return x * 2\n\n" * 80  # 2,400 characters, plenty for SMALL_JOB
SMALL_JOB = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 10, "epochs": 3}


@pytest.fixture
def corpus_text() -> str:
    """The default corpus text (2,400 characters of Python)."""
    return TEXT


@pytest.fixture
def small_job() -> dict:
    """Hyperparameters of a tiny job that fits the default corpus text."""
    return dict(SMALL_JOB)


@pytest.fixture
def upload(client, user_headers):
    """`upload(data, filename="corpus.txt", headers=user_headers, **form_fields) -> response`."""

    def post(data: bytes | str, filename: str = "corpus.txt", headers: dict | None = None, **fields):
        if isinstance(data, str):
            data = data.encode("utf-8")
        return client.post(
            "/api/v1/corpora",
            headers=headers or user_headers,
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), filename), **fields},
        )

    return post


@pytest.fixture
def make_corpus(upload):
    """Factory: `make_corpus(text=TEXT, headers=user_headers, **form) -> corpus JSON` (asserts 201)."""

    def make(text: str | bytes = TEXT, headers: dict | None = None, **fields) -> dict:
        response = upload(text, headers=headers, **fields)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def make_job(client, user_headers, make_corpus):
    """Factory: `make_job(headers=user_headers, **hyperparameters) -> job JSON` on a new corpus
    (SMALL_JOB hyperparameters unless overridden; asserts 202)."""

    def make(headers: dict | None = None, **hp) -> dict:
        headers = headers or user_headers
        corpus = make_corpus(headers=headers)
        response = client.post("/api/v1/jobs", headers=headers, json={"corpus_id": corpus["id"], **SMALL_JOB, **hp})
        assert response.status_code == 202, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def record_epochs(db_session):
    """`record_epochs(job_id, [val_loss, ...], loss=1.5)`, as a training worker records them: the model's
    vocabulary (the corpus's characters), then one epoch per value, checkpoint `jobs/<id>/epoch-NNNN`."""
    from shared import lifecycle
    from shared.db.models import Job
    from shared.engine.training.train import EpochReport

    def record(job_id: int, val_losses, loss: float = 1.5) -> int:
        job = db_session.get(Job, job_id)
        lifecycle.record_vocabulary(db_session, job_id, list(job.corpus.vocabulary))
        for n, val in enumerate(val_losses, start=1):
            report = EpochReport(epoch=n, loss=loss, val_loss=val, seconds=1.0, chars_per_second=100.0)
            lifecycle.record_epoch(db_session, job_id, report, f"jobs/{job_id}/epoch-{n:04d}")
        db_session.commit()
        return job_id

    return record
