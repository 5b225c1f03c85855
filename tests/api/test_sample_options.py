"""Sample options on the service: epoch, precision, top-k/top-p, greedy; recorded on the sample."""

import pytest

from shared.db.models import Sample


@pytest.fixture
def trained_job(make_job, record_epochs):
    """A job with two recorded epochs (epoch 1 has the lower validation loss)."""
    return record_epochs(make_job()["id"], [1.1, 1.3])


def post(client, headers, job, **body):
    return client.post(f"/api/v1/jobs/{job}/samples", headers=headers, json=body)


def test_defaults_record_the_best_epoch_and_the_fast_path(client, user_headers, trained_job, db_session):
    sample = post(client, user_headers, trained_job).get_json()
    assert (sample["epoch"], sample["precision"], sample["top_k"], sample["top_p"]) == (1, "int8", None, None)
    assert sample["quality"] is None and sample["novelty"] is None  # until the worker measures it
    assert db_session.get(Sample, sample["id"]).checkpoint_key == f"jobs/{trained_job}/epoch-0001"


def test_options_are_recorded(client, user_headers, trained_job, db_session):
    response = post(
        client, user_headers, trained_job, epoch=2, precision="float32", top_k=5, top_p=0.9, temperature=[0, 0.5]
    )
    assert response.status_code == 202, response.get_json()
    sample = response.get_json()
    assert (sample["epoch"], sample["precision"], sample["top_k"], sample["top_p"]) == (2, "float32", 5, 0.9)
    assert sample["temperatures"] == [0.0, 0.5]  # 0: greedy
    row = db_session.get(Sample, sample["id"])
    assert row.checkpoint_key == f"jobs/{trained_job}/epoch-0002" and row.epoch == 2
    assert client.get(f"/api/v1/samples/{sample['id']}", headers=user_headers).get_json()["epoch"] == 2


def test_an_epoch_without_checkpoint_is_422_naming_it(client, user_headers, trained_job, broker):
    response = post(client, user_headers, trained_job, epoch=3)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == f"job {trained_job} has no checkpoint of epoch 3 (epochs with one: 1, 2)"
    assert [d["loc"] for d in body["detail"]] == [["epoch"]]
    assert broker.llen("sampling") == 0


@pytest.mark.parametrize(
    "fields, loc",
    [
        ({"top_k": 0}, ["top_k"]),
        ({"top_k": 2.5}, ["top_k"]),
        ({"top_p": 0}, ["top_p"]),
        ({"top_p": 1.5}, ["top_p"]),
        ({"precision": "float16"}, ["precision"]),
        ({"epoch": 0}, ["epoch"]),
        ({"epoch": "1"}, ["epoch"]),
    ],
)
def test_bad_options_are_422(client, user_headers, trained_job, fields, loc):
    response = post(client, user_headers, trained_job, **fields)
    assert response.status_code == 422
    assert [e["loc"] for e in response.get_json()["detail"]] == [loc]


def test_openapi_documents_the_options_and_figures(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    create = schemas["SampleCreate"]["properties"]
    assert {"top_k", "top_p", "precision", "epoch"} <= set(create)
    out = schemas["SampleOut"]["properties"]
    assert {"epoch", "precision", "top_k", "top_p", "quality", "novelty"} <= set(out)
    assert "bits_per_char" in schemas["TextQuality"]["properties"]
    assert "spans" in schemas["TextNovelty"]["properties"]
