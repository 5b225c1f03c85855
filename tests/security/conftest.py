"""Fixtures for the security tests: the API app (with its admin pages) from tests/conftest.py and
`world`, rows of three users written straight through the models:

alice (ordinary user) owns corpus `corpus`, a running job `job` with one finished epoch, a queued
job `queued`, and a succeeded sample `sample` whose text is in the object store; bob is another
ordinary user with nothing; root is an admin. `missing` ids exist nowhere and have as many digits
as alice's ids, so that "not found" answers can be compared byte for byte once the id is masked.
"""

import types

import pytest

from tests.security.security_helpers import admin_login


@pytest.fixture
def app(app):
    app.config["ADMIN_BROKER_TIMEOUT"] = 0.2  # the workers page counts the broker's messages; none here
    return app


@pytest.fixture
def world(db_session, store, user_headers, other_headers, admin_headers, user_token, admin_token):
    from sqlalchemy import select

    from shared.db.models import Analysis, Job, Token, User, WorkStatus
    from tests.factories import corpus_row, epoch_row, sample_row

    alice = db_session.scalar(select(User).where(User.name == "alice"))
    corpus = corpus_row(owner=alice, name="alice.txt", object_key="corpora/" + "a" * 32 + ".txt")
    hp = {"epochs": 3, "layers": 1, "units": 8, "seq_len": 10, "batch_size": 2}
    job = Job(
        owner=alice,
        corpus=corpus,
        status=WorkStatus.running,
        hyperparameters=hp,
        epoch=1,
        epochs=[epoch_row(loss=2.0, val_loss=2.1, checkpoint_key="jobs/1/epoch-0001")],
    )
    queued = Job(owner=alice, corpus=corpus, status=WorkStatus.queued, hyperparameters=hp)
    db_session.add_all([corpus, job, queued])
    db_session.flush()
    sample = sample_row(
        owner_id=alice.id,
        job_id=job.id,
        checkpoint_key="jobs/1/epoch-0001",
        length=5,
        status=WorkStatus.succeeded,
        object_key="samples/1.txt",
    )
    db_session.add(sample)
    analysis = Analysis(  # queued (its result would be one more object in the store)
        owner_id=alice.id, job_id=job.id, epoch=1, checkpoint_key="jobs/1/epoch-0001", status=WorkStatus.queued
    )
    db_session.add(analysis)
    from shared.db.models import Sweep

    sweep = Sweep(owner_id=alice.id, corpus_id=corpus.id, base={}, variants=[])  # no jobs: nothing to cancel
    db_session.add(sweep)
    db_session.commit()
    store.put_bytes(sample.object_key, b"alice's secret sample")
    store.put_bytes("jobs/1/epoch-0001/model.keras", b"alice's secret model")
    return types.SimpleNamespace(
        corpus=corpus.id,
        job=job.id,
        queued=queued.id,
        sample=sample.id,
        analysis=analysis.id,
        sweep=sweep.id,
        alice_id=alice.id,
        missing={"corpus_id": 9, "job_id": 9, "sample_id": 9, "analysis_id": 9, "sweep_id": 9},
        alice=user_headers,
        bob=other_headers,
        root=admin_headers,
        admin_token=admin_token,
        alice_token_id=db_session.scalar(select(Token.id).where(Token.user_id == alice.id)),
    )


@pytest.fixture
def admin_session(client, world):
    """The test client, logged in to the admin pages as root with the login form (a cookie session)."""
    admin_login(client, world.admin_token)
    return client
