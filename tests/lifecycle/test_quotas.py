"""Per-user quotas: shared.lifecycle.quotas, called by create_job and
create_sample, answered 429 by the API with the limit and the user's current use; nothing is
stored or queued past a limit. Admins are exempt unless a limit is set on them; a user's own
limits (`users.quotas`, `charlstm admin set-quota`) raise or lower the settings' defaults.

Real PostgreSQL and the Redis test broker; rows that only need to exist are written through the
models."""

import threading

import pytest
from sqlalchemy import func, select

from shared.db.models import Analysis, Corpus, Job, Sample, User, WorkStatus
from shared.engine.config import Hyperparameters
from shared.lifecycle import quotas
from shared.lifecycle.quotas import QuotaExceeded, limits_for, model_parameters
from shared.queue import SAMPLING_QUEUE, TRAINING_QUEUE
from shared.settings import Settings
from tests.factories import corpus_row, epoch_row, sample_row

ISSUE_EXAMPLE = {"epochs": 10000, "units": 4096, "layers": 4}
SMALL = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 10, "epochs": 3}
DEFAULTS = Settings()


def user(db_session, name: str) -> User:
    return db_session.scalar(select(User).where(User.name == name))


def corpus_of(db_session, owner: User) -> Corpus:
    corpus = corpus_row(owner=owner, name="big.txt", chars=100_000)
    db_session.add(corpus)
    db_session.commit()
    return corpus


def add_jobs(db_session, owner: User, corpus: Corpus, n: int, status=WorkStatus.queued) -> list[Job]:
    jobs = [Job(owner=owner, corpus=corpus, status=status, hyperparameters=SMALL) for _ in range(n)]
    db_session.add_all(jobs)
    db_session.commit()
    return jobs


def trained_job(db_session, owner: User) -> Job:
    """A succeeded job of `owner` with one recorded epoch (a checkpoint to sample from)."""
    job = add_jobs(db_session, owner, corpus_of(db_session, owner), 1, WorkStatus.succeeded)[0]
    job.vocabulary = list("abcde")
    job.epochs.append(epoch_row())
    db_session.commit()
    return job


def add_samples(db_session, owner: User, job: Job, n: int, status=WorkStatus.queued) -> None:
    db_session.add_all(
        sample_row(owner_id=owner.id, job_id=job.id, checkpoint_key="jobs/x/epoch-0001", status=status)
        for _ in range(n)
    )
    db_session.commit()


def set_quotas(db_session, owner: User, value: dict | None) -> None:
    owner.quotas = value
    db_session.commit()


def counts(db_session) -> tuple[int, int]:
    db_session.expire_all()
    return db_session.scalar(select(func.count(Job.id))), db_session.scalar(select(func.count(Sample.id)))


def post_job(client, headers, corpus: Corpus, **hp):
    return client.post("/api/v1/jobs", headers=headers, json={"corpus_id": corpus.id, **hp})


def refused(response, *quota_names: str) -> dict:
    """The 429 body, after checking it names exactly these limits with their figures."""
    assert response.status_code == 429, (response.status_code, response.get_json())
    body = response.get_json()
    assert body["error"].startswith("quota exceeded: ")
    assert [d["quota"] for d in body["detail"]] == list(quota_names)
    for detail in body["detail"]:
        assert detail["type"] == "quota_exceeded" and detail["msg"] in body["error"]
        assert isinstance(detail["limit"], int) and isinstance(detail["current"], int)
    return body


# ---- the rule ----------------------------------------------------------------------------------


def test_defaults_admit_the_papers_model_and_refuse_the_issues_example():
    paper = Hyperparameters()
    assert model_parameters(paper) == 3 * 4 * 512 * 1025 <= DEFAULTS.quota_max_parameters
    assert paper.epochs <= DEFAULTS.quota_max_epochs
    huge = Hyperparameters(**ISSUE_EXAMPLE)
    assert model_parameters(huge) > DEFAULTS.quota_max_parameters and huge.epochs > DEFAULTS.quota_max_epochs
    # the issue's sample: 8 temperatures x 32 texts x 1,000,000 characters
    assert 8 * 32 * 1_000_000 > DEFAULTS.quota_max_sample_chars >= 50_000 * 8


def test_limits_for_users_admins_and_overrides():
    settings = Settings(QUOTA_MAX_JOBS=7)
    alice, root = User(name="alice", is_admin=False), User(name="root", is_admin=True)
    assert limits_for(alice, settings)["max_jobs"] == 7
    assert set(limits_for(root, settings).values()) == {None}  # exempt
    alice.quotas = {"max_jobs": 30, "max_epochs": None}  # None: the default
    assert limits_for(alice, settings)["max_jobs"] == 30
    assert limits_for(alice, settings)["max_epochs"] == settings.quota_max_epochs
    root.quotas = {"max_epochs": 5}
    assert limits_for(root, settings)["max_epochs"] == 5 and limits_for(root, settings)["max_jobs"] is None


def test_overrides_are_checked():
    assert quotas.check_overrides({"max_jobs": 0}) == {"max_jobs": 0}
    for bad in ({"max_gpus": 1}, {"max_jobs": -1}, {"max_jobs": "5"}, {"max_jobs": True}, {"max_jobs": 1.5}):
        with pytest.raises(ValueError):
            quotas.check_overrides(bad)


def test_create_job_checks_first_and_stores_nothing(db_session, user_token):
    from shared import lifecycle

    alice = user(db_session, "alice")
    corpus = corpus_of(db_session, alice)
    with pytest.raises(QuotaExceeded) as exc:
        lifecycle.create_job(db_session, alice.id, corpus.id, Hyperparameters(**ISSUE_EXAMPLE))
    assert [o.limit_name for o in exc.value.overages] == ["max_epochs", "max_parameters"]
    db_session.rollback()
    assert counts(db_session) == (0, 0)


def test_concurrent_requests_cannot_both_take_the_last_place(clean_db, db_session, user_token):
    """create_job locks the user's row: of two concurrent creations at max_jobs 1, one fails."""
    from shared import lifecycle
    from shared.db.session import sessionmaker_for

    alice = user(db_session, "alice")
    corpus = corpus_of(db_session, alice)
    set_quotas(db_session, alice, {"max_jobs": 1})
    make_session = sessionmaker_for(clean_db)
    first, second = make_session(), make_session()
    try:
        lifecycle.create_job(first, alice.id, corpus.id, Hyperparameters(**SMALL))  # holds the lock
        outcome: list[object] = []

        def other() -> None:
            try:
                lifecycle.create_job(second, alice.id, corpus.id, Hyperparameters(**SMALL))
                outcome.append("created")
            except QuotaExceeded as exc:
                outcome.append(exc.message)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and outcome == []  # waiting for the first transaction
        first.commit()
        thread.join(10)
        assert outcome == ["quota exceeded: 1 queued or running jobs (the limit is 1)"]
    finally:
        second.rollback()
        first.close()
        second.close()
    assert counts(db_session) == (1, 0)


# ---- jobs through the API ----------------------------------------------------------------------


def test_the_issues_example_is_429_with_the_defaults(client, db_session, user_headers, broker):
    corpus = corpus_of(db_session, user(db_session, "alice"))
    body = refused(post_job(client, user_headers, corpus, **ISSUE_EXAMPLE), "max_epochs", "max_parameters")
    assert "10000 epochs per job (the limit is 1000)" in body["error"]
    assert "a model of 536,936,448 parameters (4 layers x 4096 units; the limit is 30,000,000)" in body["error"]
    assert body["detail"][0] == {
        "loc": ["epochs"],
        "msg": "10000 epochs per job (the limit is 1000)",
        "type": "quota_exceeded",
        "quota": "max_epochs",
        "limit": 1000,
        "current": 10000,
    }
    assert counts(db_session) == (0, 0) and broker.llen(TRAINING_QUEUE) == 0
    # each limit on its own: a model too big for few epochs, many epochs of a small model
    body = refused(post_job(client, user_headers, corpus, layers=3, units=2048, epochs=5), "max_parameters")
    assert body["detail"][0]["current"] == 3 * 4 * 2048 * 4097 and body["detail"][0]["loc"] == ["units"]
    refused(post_job(client, user_headers, corpus, **{**SMALL, "epochs": 1001}), "max_epochs")
    assert counts(db_session) == (0, 0) and broker.llen(TRAINING_QUEUE) == 0
    assert post_job(client, user_headers, corpus, **{**SMALL, "epochs": 1000}).status_code == 202  # at the limit
    assert broker.llen(TRAINING_QUEUE) == 1


def test_queued_and_running_jobs_are_limited(client, db_session, user_headers, broker):
    alice = user(db_session, "alice")
    corpus = corpus_of(db_session, alice)
    queued = add_jobs(db_session, alice, corpus, 15)
    running = add_jobs(db_session, alice, corpus, 5, WorkStatus.running)
    add_jobs(db_session, alice, corpus, 3, WorkStatus.succeeded)  # finished jobs do not count
    body = refused(post_job(client, user_headers, corpus, **SMALL), "max_jobs")
    assert body == {
        "error": "quota exceeded: 20 queued or running jobs (the limit is 20)",
        "detail": [
            {
                "loc": ["user"],
                "msg": "20 queued or running jobs (the limit is 20)",
                "type": "quota_exceeded",
                "quota": "max_jobs",
                "limit": 20,
                "current": 20,
            }
        ],
    }
    assert counts(db_session) == (23, 0) and broker.llen(TRAINING_QUEUE) == 0
    from shared import lifecycle

    lifecycle.request_cancel(db_session, running[0].id)  # running: cancel requested, still counted
    db_session.commit()
    refused(post_job(client, user_headers, corpus, **SMALL), "max_jobs")
    lifecycle.request_cancel(db_session, queued[0].id)  # queued: cancelled at once, its place freed
    db_session.commit()
    assert post_job(client, user_headers, corpus, **SMALL).status_code == 202
    # accepted and stored; fair queues send a user's jobs one at a time (alice already has queued ones)
    assert counts(db_session)[0] == 24 and broker.llen(TRAINING_QUEUE) <= 1


def test_admins_are_exempt_unless_a_limit_is_set_on_them(client, db_session, admin_headers, broker):
    root = user(db_session, "root")
    corpus = corpus_of(db_session, root)
    add_jobs(db_session, root, corpus, 25)
    assert post_job(client, admin_headers, corpus, **ISSUE_EXAMPLE).status_code == 202
    set_quotas(db_session, root, {"max_epochs": 100})
    body = refused(post_job(client, admin_headers, corpus, **ISSUE_EXAMPLE), "max_epochs")
    assert body["error"] == "quota exceeded: 10000 epochs per job (the limit is 100)"
    assert broker.llen(TRAINING_QUEUE) <= 1 and counts(db_session) == (26, 0)  # one message per user at a time


def test_a_users_own_limits_raise_or_lower_the_defaults(client, db_session, user_headers, other_headers, broker):
    alice, bob = user(db_session, "alice"), user(db_session, "bob")
    corpus, bobs = corpus_of(db_session, alice), corpus_of(db_session, bob)
    add_jobs(db_session, alice, corpus, 20)
    set_quotas(db_session, alice, {"max_jobs": 22, "max_epochs": 20_000, "max_parameters": 600_000_000})
    assert post_job(client, user_headers, corpus, **ISSUE_EXAMPLE).status_code == 202  # raised
    assert post_job(client, user_headers, corpus, **SMALL).status_code == 202
    refused(post_job(client, user_headers, corpus, **SMALL), "max_jobs")  # 22 now
    set_quotas(db_session, bob, {"max_jobs": 0, "max_epochs": 2})  # lowered
    body = refused(post_job(client, other_headers, bobs, **SMALL), "max_epochs", "max_jobs")
    assert (
        body["error"] == "quota exceeded: 3 epochs per job (the limit is 2); 0 queued or running jobs (the limit is 0)"
    )
    set_quotas(db_session, bob, None)  # back to the defaults
    assert post_job(client, other_headers, bobs, **SMALL).status_code == 202
    assert broker.llen(TRAINING_QUEUE) <= 2  # fair queues: at most one message per user


# ---- samples through the API -------------------------------------------------------------------


def post_sample(client, headers, job: Job, **body):
    return client.post(f"/api/v1/jobs/{job.id}/samples", headers=headers, json=body)


def test_sample_characters_are_limited(client, db_session, user_headers, admin_headers, broker):
    alice = user(db_session, "alice")
    job = trained_job(db_session, alice)
    huge = {"length": 1_000_000, "count": 32, "temperature": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}
    body = refused(post_sample(client, user_headers, job, **huge), "max_sample_chars")
    assert body["error"] == (
        "quota exceeded: 256,000,000 characters in one request "
        "(1,000,000 x 32 x 8 temperatures; the limit is 5,000,000)"
    )
    assert body["detail"][0]["current"] == 256_000_000 and body["detail"][0]["limit"] == 5_000_000
    assert counts(db_session) == (1, 0) and broker.llen(SAMPLING_QUEUE) == 0
    # exactly at the limit is fine
    assert post_sample(client, user_headers, job, length=625_000, count=1, temperature=[0.5] * 8).status_code == 202
    assert post_sample(client, admin_headers, job, **huge).status_code == 202  # admins exempt
    assert counts(db_session) == (1, 2) and broker.llen(SAMPLING_QUEUE) == 2


def test_queued_and_running_samples_are_limited(client, db_session, user_headers, broker):
    alice = user(db_session, "alice")
    job = trained_job(db_session, alice)
    add_samples(db_session, alice, job, 19)
    add_samples(db_session, alice, job, 1, WorkStatus.running)
    add_samples(db_session, alice, job, 4, WorkStatus.succeeded)
    body = refused(post_sample(client, user_headers, job, length=100), "max_samples")
    assert body["error"] == "quota exceeded: 20 queued or running samples (the limit is 20)"
    assert counts(db_session) == (1, 24) and broker.llen(SAMPLING_QUEUE) == 0
    set_quotas(db_session, alice, {"max_samples": 21})
    assert post_sample(client, user_headers, job, length=100).status_code == 202
    refused(post_sample(client, user_headers, job, length=100), "max_samples")
    assert counts(db_session) == (1, 25) and broker.llen(SAMPLING_QUEUE) <= 1  # fair queues: one at a time


def test_queued_and_running_analyses_are_limited(client, db_session, user_headers, admin_headers, broker, store):
    """The same owner (shared.lifecycle.quotas) and the same 429 as samples: finished analyses do
    not count, a user's own limit overrides the default, admins are exempt."""
    alice = user(db_session, "alice")
    job = trained_job(db_session, alice)
    store.put_bytes(f"{job.epochs[0].checkpoint_key}/model.keras", b"weights")  # its checkpoint is stored
    statuses = [WorkStatus.queued] * 19 + [WorkStatus.running] + [WorkStatus.failed] * 3
    db_session.add_all(
        Analysis(owner=alice, job=job, epoch=1, checkpoint_key="k", text="ab", status=status) for status in statuses
    )
    db_session.commit()

    def analyses() -> int:
        return db_session.scalar(select(func.count(Analysis.id)))

    def post(headers):
        return client.post(f"/api/v1/jobs/{job.id}/analyses", headers=headers, json={})

    body = refused(post(user_headers), "max_analyses")
    assert body["error"] == "quota exceeded: 20 queued or running analyses (the limit is 20)"
    assert body["detail"][0]["current"] == 20 and body["detail"][0]["limit"] == 20
    assert analyses() == 23 and broker.llen(SAMPLING_QUEUE) == 0  # nothing stored or queued
    set_quotas(db_session, alice, {"max_analyses": 21})
    assert post(user_headers).status_code == 202
    refused(post(user_headers), "max_analyses")
    assert post(admin_headers).status_code == 202  # admins exempt
    assert analyses() == 25 and broker.llen(SAMPLING_QUEUE) == 2


def test_429_is_documented_on_the_create_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/jobs", "/api/v1/jobs/{job_id}/samples", "/api/v1/jobs/{job_id}/analyses"):
        assert "429" in paths[path]["post"]["responses"], path


# ---- charlstm admin set-quota ------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    import argparse

    from services.cli import admin

    parser = argparse.ArgumentParser()
    admin.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


@pytest.fixture
def cli_db(clean_db, monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", clean_db)
    get_settings.cache_clear()
    yield clean_db
    get_settings.cache_clear()


def test_set_quota_sets_shows_and_removes_limits(cli_db, db_session, user_token, admin_token, capsys):
    assert run_cli(["admin", "set-quota", "alice", "--max-jobs", "2", "--max-sample-chars", "1_000_000"]) == 0
    out = capsys.readouterr().out
    assert "quotas of user 'alice':" in out
    assert "  max_jobs: 2 (set for this user)" in out and "  max_epochs: 1000 (default)" in out
    assert "  max_sample_chars: 1000000 (set for this user)" in out
    db_session.expire_all()
    assert user(db_session, "alice").quotas == {"max_jobs": 2, "max_sample_chars": 1_000_000}

    assert run_cli(["admin", "set-quota", "alice", "--max-jobs", "default", "--max-epochs", "50"]) == 0
    db_session.expire_all()
    assert user(db_session, "alice").quotas == {"max_sample_chars": 1_000_000, "max_epochs": 50}
    assert run_cli(["admin", "set-quota", "alice", "--max-storage-bytes", "5000", "--max-corpora", "3"]) == 0
    db_session.expire_all()
    assert user(db_session, "alice").quotas == {
        "max_sample_chars": 1_000_000,
        "max_epochs": 50,
        "max_storage_bytes": 5000,
        "max_corpora": 3,
    }
    assert run_cli(["admin", "set-quota", "alice", "--reset"]) == 0
    db_session.expire_all()
    assert user(db_session, "alice").quotas is None

    capsys.readouterr()
    assert run_cli(["admin", "set-quota", "root"]) == 0  # no options: shows the limits
    assert "  max_jobs: no limit (default)" in capsys.readouterr().out

    assert run_cli(["admin", "set-quota", "nobody", "--max-jobs", "1"]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    for bad in ("-1", "lots", "1.5"):
        with pytest.raises(SystemExit):
            run_cli(["admin", "set-quota", "alice", "--max-jobs", bad])
    db_session.expire_all()
    assert user(db_session, "alice").quotas is None
