"""The storage and corpora quotas (shared.lifecycle.quotas): what a user stores is counted (corpora
and their novelty indexes' estimate, jobs' kept checkpoints, samples' and analyses' stored
results), an upload past the limit is a 429 naming it that keeps nothing, and new jobs, samples and
analyses are 429 while the user is at or over it. Real PostgreSQL, the Redis test broker and the
app's object store; rows that only need to exist are written through the models."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from shared.db.models import Analysis, Corpus, Job, Sample, User, WorkStatus
from shared.lifecycle import quotas
from shared.lifecycle.quotas import INDEX_BYTES_PER_CHAR, check_overrides, storage_use
from shared.storage.local import LocalStore
from tests.factories import corpus_row, epoch_row, sample_row

SMALL = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 10, "epochs": 3}


def user(db_session, name: str) -> User:
    db_session.expire_all()
    return db_session.scalar(select(User).where(User.name == name))


def set_quotas(db_session, name: str, value: dict | None) -> None:
    user(db_session, name).quotas = value
    db_session.commit()


def add_corpus(db_session, owner: User, raw: int, clean: int, deleting: bool = False) -> Corpus:
    corpus = corpus_row(owner=owner, chars=raw, clean_chars=clean, deleting_at=datetime.now(UTC) if deleting else None)
    db_session.add(corpus)
    db_session.commit()
    return corpus


def trained_job(db_session, owner: User, checkpoint_bytes: int) -> Job:
    corpus = add_corpus(db_session, owner, 1000, 1000)
    job = Job(owner=owner, corpus=corpus, status=WorkStatus.succeeded, hyperparameters=SMALL, epoch=1)
    job.storage_bytes, job.vocabulary = checkpoint_bytes, list("abcde")
    job.epochs.append(epoch_row())
    db_session.add(job)
    db_session.commit()
    return job


def refused(response, *names: str) -> dict:
    assert response.status_code == 429, (response.status_code, response.get_json())
    body = response.get_json()
    assert [d["quota"] for d in body["detail"]] == list(names), body
    assert all(d["msg"] in body["error"] for d in body["detail"])
    return body


def test_the_new_limits_are_overridable_per_user():
    own = {"max_storage_bytes": 10, "max_corpora": None}
    assert check_overrides(own) == own
    with pytest.raises(ValueError):
        check_overrides({"max_storage_bytes": -1})


def test_storage_use_counts_every_part_of_one_user(db_session, user_token, other_token):
    alice, bob = user(db_session, "alice"), user(db_session, "bob")
    add_corpus(db_session, alice, 1000, 900)
    add_corpus(db_session, alice, 500, 400, deleting=True)  # still stored until its delete ends
    job = trained_job(db_session, alice, checkpoint_bytes=70_000)  # adds a corpus of 1,000 bytes
    db_session.add_all(
        [
            sample_row(owner_id=alice.id, job_id=job.id, length=5, status=WorkStatus.succeeded,
                       object_key="samples/1.txt", stored_bytes=3000),
            sample_row(owner_id=alice.id, job_id=job.id, length=5, status=WorkStatus.queued),
            Analysis(owner=alice, job=job, epoch=1, checkpoint_key="k", text="ab", status=WorkStatus.succeeded,
                     stored_bytes=200),
        ]
    )  # fmt: skip
    trained_job(db_session, bob, checkpoint_bytes=10**9)  # someone else's
    use = storage_use(db_session, alice.id)
    assert (use.corpora, use.corpus_bytes, use.index_bytes) == (2, 2500, INDEX_BYTES_PER_CHAR * 2300)
    assert (use.checkpoint_bytes, use.sample_bytes, use.analysis_bytes) == (70_000, 3000, 200)
    assert use.total == 2500 + 5 * 2300 + 70_000 + 3000 + 200


def test_jobs_samples_and_analyses_are_refused_at_or_over_the_limit(
    client, db_session, user_headers, admin_headers, broker, store
):
    alice = user(db_session, "alice")
    job = trained_job(db_session, alice, checkpoint_bytes=4_010)  # 4,010 + 1,000 + 5 x 1,000 = 10,010 bytes
    store.put_bytes("jobs/x/epoch-0001/model.keras", b"weights")

    def create() -> list:
        return [
            client.post("/api/v1/jobs", headers=user_headers, json={"corpus_id": job.corpus_id, **SMALL}),
            client.post(f"/api/v1/jobs/{job.id}/samples", headers=user_headers, json={"length": 100}),
            client.post(f"/api/v1/jobs/{job.id}/analyses", headers=user_headers, json={}),
        ]

    set_quotas(db_session, "alice", {"max_storage_bytes": 10_011})
    assert [r.status_code for r in create()] == [202, 202, 202]  # under it
    set_quotas(db_session, "alice", {"max_storage_bytes": 10_010})  # at it
    for response in create():
        body = refused(response, "max_storage_bytes")
        assert body["error"] == "quota exceeded: 10,010 bytes stored (the limit is 10,010)"
        assert body["detail"][0]["current"] == 10_010 and body["detail"][0]["loc"] == ["user"]
    db_session.expire_all()
    assert db_session.scalar(select(func.count(Job.id))) == 2 and db_session.scalar(select(func.count(Sample.id))) == 1
    # an administrator has no storage limit unless one is set on them
    assert client.post(f"/api/v1/jobs/{job.id}/analyses", headers=admin_headers, json={}).status_code == 202


def test_an_upload_past_the_storage_limit_is_429_and_keeps_nothing(upload, db_session, user_headers, store):
    text = "print('hello, world')\n" * 100  # 2,200 bytes, as many cleaned characters: 13,200 counted
    first = upload(text)
    assert first.status_code == 201
    charge = first.get_json()["bytes"] + INDEX_BYTES_PER_CHAR * first.get_json()["clean_chars"]
    assert charge == 13_200
    set_quotas(db_session, "alice", {"max_storage_bytes": 2 * charge - 1})
    body = refused(upload(text), "max_storage_bytes")
    assert body["error"] == "quota exceeded: 26,400 bytes stored with this upload of 13,200 (the limit is 26,399)"
    assert body["detail"][0]["loc"] == ["file"] and body["detail"][0]["current"] == 26_400
    assert len(store.list("corpora/")) == 1  # the refused upload's object was deleted
    set_quotas(db_session, "alice", {"max_storage_bytes": 2 * charge})  # exactly at the limit is fine
    assert upload(text).status_code == 201
    db_session.expire_all()
    assert db_session.scalar(select(func.count(Corpus.id))) == 2 and len(store.list("corpora/")) == 2


def test_a_user_at_a_limit_is_refused_before_anything_is_stored(upload, db_session, user_headers, monkeypatch):
    text = "print('hello, world')\n" * 100
    assert upload(text).status_code == 201
    puts = []
    real = LocalStore.put_stream

    def put_stream(self, key, fileobj):
        puts.append(key)
        return real(self, key, fileobj)

    monkeypatch.setattr(LocalStore, "put_stream", put_stream)
    set_quotas(db_session, "alice", {"max_storage_bytes": 13_200})  # used up
    refused(upload(text), "max_storage_bytes")
    # the request's size alone (less the form's allowance, FORM_SLACK) goes past what is left
    set_quotas(db_session, "alice", {"max_storage_bytes": 20_000})
    body = refused(upload("x = 1\n" * 15_800), "max_storage_bytes")  # 94,800 bytes
    assert "with this upload of" in body["error"] and puts == []


def test_the_number_of_corpora_is_limited(upload, db_session, user_headers, other_headers, admin_headers, store):
    text = "print('hello, world')\n" * 10
    set_quotas(db_session, "alice", {"max_corpora": 2})
    assert [upload(text).status_code for _ in range(2)] == [201, 201]
    body = refused(upload(text), "max_corpora")
    assert body["error"] == "quota exceeded: 2 corpora (the limit is 2)"
    assert upload(text, headers=other_headers).status_code == 201  # another user's count is their own
    alice = user(db_session, "alice")
    corpus = db_session.scalar(select(Corpus).where(Corpus.owner_id == alice.id))
    corpus.deleting_at = datetime.now(UTC)  # a corpus being deleted no longer counts
    db_session.commit()
    assert upload(text).status_code == 201
    set_quotas(db_session, "root", {"max_corpora": 0})
    refused(upload(text, headers=admin_headers), "max_corpora")


def test_429_is_documented_on_the_upload(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "429" in paths["/api/v1/corpora"]["post"]["responses"]
    assert quotas.LIMITS["max_storage_bytes"] == "quota_max_storage_bytes"
