"""One rule for the three kinds of queued work (shared/lifecycle/work.py): each test runs for a
job, a sample and an analysis, through the kind's own public functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Analysis, Job, Sample, WorkStatus
from tests.factories import epoch_row

WORKER = "w@host"


@dataclass(frozen=True)
class Kind:
    """A kind of queued work as its callers see it: its table and its lifecycle functions."""

    table: type[Job] | type[Sample] | type[Analysis]
    claim: Callable[[Session, int, str], object]
    heartbeat: Callable[[Session, int, str, str], str]
    cancel: Callable[[Session, int], object]
    finish: Callable[[Session, int, str, str], bool]  # (session, id, worker, lease): succeeded
    finished: type[Exception]  # what cancelling a succeeded or failed one raises
    lost: str  # how the error of one found running again begins


KINDS = {
    "job": Kind(
        Job,
        # a job is retried while it has attempts left: with one, a second claim fails it as lost
        lambda s, i, w: lifecycle.claim_job(s, i, w, max_attempts=1, heartbeat_timeout=0),
        lambda s, i, w, lease: lifecycle.job_heartbeat(s, i, 0.5, w, lease),
        lifecycle.request_cancel,
        lambda s, i, w, lease: lifecycle.finish_job(s, i, WorkStatus.succeeded, worker=w, lease=lease),
        lifecycle.AlreadyFinished,
        "gave up after 1 attempts",
    ),
    "sample": Kind(
        Sample,
        lifecycle.claim_sample,
        lambda s, i, w, lease: lifecycle.sample_heartbeat(s, i, 0.5, w, lease),
        lifecycle.cancel_sample,
        lambda s, i, w, lease: lifecycle.finish_sample(s, i, object_key=f"samples/{i}.txt", lease=lease),
        lifecycle.SampleFinished,
        lifecycle.LOST_SAMPLE,
    ),
    "analysis": Kind(
        Analysis,
        lifecycle.claim_analysis,
        lambda s, i, w, lease: lifecycle.analysis_heartbeat(s, i, None, w, lease),
        lifecycle.cancel_analysis,
        lambda s, i, w, lease: lifecycle.finish_analysis(s, i, object_key=f"analyses/{i}.json", lease=lease),
        lifecycle.AnalysisFinished,
        lifecycle.LOST_ANALYSIS,
    ),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def record_id(db, owner, job_id, kind) -> int:
    """A queued record of `kind`: the job itself, or a sample or an analysis of its first epoch."""
    if kind.table is Job:
        return job_id
    with db() as session:
        job = session.get(Job, job_id)
        epoch = epoch_row(job_id=job_id, val_loss=1.0, chars_per_second=1.0, checkpoint_key="k")
        session.add(epoch)
        if kind.table is Sample:
            sample = lifecycle.create_sample(
                session, owner, job, epoch, length=10, temperatures=[1.0], count=1, seed_text=None, random_seed=None
            )
            return sample.id
        return lifecycle.create_analysis(session, owner, job, epoch, None).id


def stored(db, kind: Kind, record_id: int) -> Job | Sample | Analysis:
    with db() as session:
        record = session.get(kind.table, record_id)
        session.expunge(record)
        return record


def claim(db, kind: Kind, record_id: int) -> str:
    """Claim the record on WORKER; its lease."""
    with db() as session:
        assert kind.claim(session, record_id, WORKER) is not None
    lease = stored(db, kind, record_id).lease
    assert lease
    return lease


def test_a_claim_sets_a_lease_and_running(db, kind, record_id):
    lease = claim(db, kind, record_id)
    record = stored(db, kind, record_id)
    assert (record.status, record.worker, record.attempts) == (WorkStatus.running, WORKER, 1)
    assert record.started_at and record.heartbeat_at and record.finished_at is None and lease == record.lease


def test_a_second_claim_of_a_running_record_fails_it_as_lost(db, kind, record_id):
    claim(db, kind, record_id)
    with db() as session:
        assert kind.claim(session, record_id, WORKER) is None
    record = stored(db, kind, record_id)
    assert record.status == WorkStatus.failed and record.finished_at and record.error.startswith(kind.lost)


def test_a_heartbeat_under_a_stale_lease_answers_lost(db, kind, record_id):
    lease = claim(db, kind, record_id)
    with db() as session:
        assert kind.heartbeat(session, record_id, WORKER, lease) == "ok"
        assert kind.heartbeat(session, record_id, WORKER, "stale") == "lost"


def test_cancelling_a_finished_record_raises(db, kind, record_id):
    lease = claim(db, kind, record_id)
    with db() as session:
        assert kind.finish(session, record_id, WORKER, lease) is True
    with db() as session, pytest.raises(kind.finished, match="already succeeded; nothing to cancel"):
        kind.cancel(session, record_id)
    assert stored(db, kind, record_id).status == WorkStatus.succeeded


def test_a_finish_under_a_stale_lease_records_nothing(db, kind, record_id):
    lease = claim(db, kind, record_id)
    with db() as session:
        assert kind.finish(session, record_id, WORKER, "stale") is False
    record = stored(db, kind, record_id)
    assert (record.status, record.lease, record.finished_at) == (WorkStatus.running, lease, None)
