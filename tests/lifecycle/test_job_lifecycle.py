"""A job's state, one lifecycle function at a time, on PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shared import lifecycle
from shared.db.models import Epoch, Job, WorkStatus, utcnow
from shared.engine.training.train import EpochReport
from shared.lifecycle.work import MAX_ERROR_CHARS


def report(epoch, loss=1.5, val_loss=1.6, seconds=2.0):
    return EpochReport(epoch=epoch, loss=loss, val_loss=val_loss, seconds=seconds, chars_per_second=1000.0)


def test_claim_marks_running_and_counts_attempts(db, job_id, get_job):
    with db() as session:
        work = lifecycle.claim_job(session, job_id, "w1@host")
    assert work.job_id == job_id and work.attempts == 1 and work.resume_key is None
    assert work.corpus_key.startswith("corpora/") and work.hyperparameters.units == 16
    job = get_job(job_id)
    assert job.status == WorkStatus.running and job.worker == "w1@host" and job.started_at and job.heartbeat_at
    first_start = job.started_at
    with db() as session:
        lifecycle.record_epoch(session, job_id, report(1), f"jobs/{job_id}/epoch-0001")
    with db() as session:  # delivered again to the same worker: its pool process died; resume from epoch 1
        work = lifecycle.claim_job(session, job_id, "w1@host")
    assert work.attempts == 2 and (work.resume_epoch, work.resume_key) == (1, f"jobs/{job_id}/epoch-0001")
    assert get_job(job_id).started_at == first_start  # the job started once; attempts count the starts
    with db() as session:  # another worker while w1's heartbeat is fresh: busy, nothing changes
        busy = lifecycle.claim_job(session, job_id, "w2@host")
    assert isinstance(busy, lifecycle.Busy) and busy.worker == "w1@host" and get_job(job_id).attempts == 2
    with db() as session:  # ... and once it is older than the timeout: taken over
        assert lifecycle.claim_job(session, job_id, "w3@host", heartbeat_timeout=0).attempts == 3
    with db() as session:
        assert lifecycle.claim_job(session, job_id, "w3@host") is None
    job = get_job(job_id)
    assert job.status == WorkStatus.failed and "gave up after 3 attempts" in job.error


def test_superseded_message_is_skipped(db, job_id, get_job):
    token = get_job(job_id).dispatch_token
    assert token and len(token) == 32
    with db() as session:
        assert lifecycle.claim_job(session, job_id, "w", token="0" * 32) is None
    assert get_job(job_id).status == WorkStatus.queued
    with db() as session:
        assert lifecycle.claim_job(session, job_id, "w", token=token).attempts == 1


def test_invalid_stored_hyperparameters_fail_the_job_with_the_reason(db, job_id, get_job):
    with db() as session:
        session.execute(update(Job).where(Job.id == job_id).values(hyperparameters_json={"units": 0}))
    with db() as session:
        assert lifecycle.claim_job(session, job_id, "w") is None
    job = get_job(job_id)
    assert job.status == WorkStatus.failed and job.error.startswith("invalid hyperparameters: units")


def test_requeue_hands_the_job_back_without_counting_an_attempt(db, job_id, get_job):
    token = get_job(job_id).dispatch_token
    with db() as session:
        lifecycle.claim_job(session, job_id, "w", token=token)
        session.get(Job, job_id).progress = 0.6
    with db() as session:
        assert lifecycle.requeue_job(session, job_id, "another worker") is None
        new_token = lifecycle.requeue_job(session, job_id, "w")
    job = get_job(job_id)
    assert job.status == WorkStatus.queued and (job.attempts, job.requeues) == (0, 1) and job.worker is None
    assert job.progress == 0.0 and new_token == job.dispatch_token != token
    with db() as session:
        assert lifecycle.claim_job(session, job_id, "w", token=token) is None  # the old message
        assert lifecycle.requeue_job(session, job_id, "w") is None  # not running
        assert lifecycle.claim_job(session, job_id, "w", token=new_token).attempts == 1


def test_a_lost_worker_requeues_counted_cancels_or_gives_up(db, job_id, get_job):
    with db() as session:
        lifecycle.claim_job(session, job_id, "w")
        session.get(Job, job_id).progress = 0.4
    with db() as session:
        token = lifecycle.worker_lost(session.get(Job, job_id), heartbeat_timeout=5, max_attempts=2)
    job = get_job(job_id)  # the same requeue as a graceful hand-back, but the attempt counts
    assert job.status == WorkStatus.queued and token == job.dispatch_token and job.progress == 0.0
    assert (job.attempts, job.requeues, job.worker) == (1, 0, None)
    with db() as session:
        lifecycle.claim_job(session, job_id, "w")
    with db() as session:
        assert lifecycle.worker_lost(session.get(Job, job_id), heartbeat_timeout=5, max_attempts=2) is None
    job = get_job(job_id)
    assert job.status == WorkStatus.failed and job.error.startswith("gave up after 2 attempts")
    assert "(last one w, silent for over 5 s)" in job.error


def test_a_lost_worker_of_a_job_being_cancelled_ends_it_cancelled(db, job_id, get_job):
    with db() as session:
        lifecycle.claim_job(session, job_id, "w")
        lifecycle.request_cancel(session, job_id)
    with db() as session:
        assert lifecycle.worker_lost(session.get(Job, job_id), heartbeat_timeout=5, max_attempts=3) is None
    assert get_job(job_id).status == WorkStatus.cancelled


def test_request_cancel_outcomes(db, job_id, get_job, owner, corpus_id):
    with db() as session:
        _, outcome = lifecycle.request_cancel(session, job_id)
    assert outcome == lifecycle.CANCELLED and get_job(job_id).status == WorkStatus.cancelled
    with db() as session:
        assert lifecycle.request_cancel(session, job_id)[1] == lifecycle.UNCHANGED
        running = lifecycle.create_job(session, owner, corpus_id, get_job(job_id).hyperparameters).id
        lifecycle.claim_job(session, running, "w")
    with db() as session:
        assert lifecycle.request_cancel(session, running)[1] == lifecycle.CANCEL_REQUESTED
        assert lifecycle.request_cancel(session, running)[1] == lifecycle.UNCHANGED
    assert get_job(running).status == WorkStatus.running and get_job(running).cancel_requested
    with db() as session:  # the run completed before the worker read the flag: the cancel wins
        assert lifecycle.finish_job(session, running, WorkStatus.succeeded, worker="w")
    assert get_job(running).status == WorkStatus.cancelled
    with db() as session:
        done = lifecycle.create_job(session, owner, corpus_id, get_job(job_id).hyperparameters).id
        lifecycle.finish_job(session, done, WorkStatus.succeeded)
    with db() as session, pytest.raises(lifecycle.AlreadyFinished, match="already succeeded"):
        lifecycle.request_cancel(session, done)
    with db() as session, pytest.raises(LookupError):
        lifecycle.request_cancel(session, 10**9)


def test_claim_skips_finished_and_cancelled_jobs(db, job_id, get_job):
    with db() as session:
        session.get(Job, job_id).cancel_requested = True
    with db() as session:
        assert lifecycle.claim_job(session, job_id, "w") is None
    job = get_job(job_id)
    assert job.status == WorkStatus.cancelled and job.attempts == 0 and job.finished_at
    with db() as session:
        assert lifecycle.claim_job(session, job_id, "w") is None
        assert lifecycle.claim_job(session, 10**9, "w") is None


def test_record_epoch_replaces_and_tracks_best_and_seconds(db, job_id, get_job):
    with db() as session:
        lifecycle.record_epoch(session, job_id, report(1, val_loss=2.0, seconds=10), "k1")
        lifecycle.record_epoch(session, job_id, report(2, val_loss=1.0, seconds=20), "k2")
    with db() as session:
        lifecycle.record_epoch(session, job_id, report(3, val_loss=1.5, seconds=30), "k3")
        lifecycle.record_epoch(session, job_id, report(3, val_loss=1.2, seconds=33), "k3b")  # an epoch redone
        lifecycle.record_epoch(session, job_id, report(4, val_loss=None, seconds=40), "k4")
    with db() as session:
        rows = session.scalars(select(Epoch).where(Epoch.job_id == job_id).order_by(Epoch.epoch)).all()
        assert [(r.epoch, r.checkpoint_key) for r in rows] == [(1, "k1"), (2, "k2"), (3, "k3b"), (4, "k4")]
        assert rows[2].val_loss == 1.2
    job = get_job(job_id)
    assert job.epoch == 4 and job.best_val_loss == 1.0 and job.train_seconds == pytest.approx(103)


def test_best_epoch_is_the_lowest_validation_loss_and_the_earliest_of_ties(db, job_id):
    with db() as session:
        job = session.get(Job, job_id)
        assert lifecycle.best_epoch(job) is None
        for epoch, val in ((1, 2.0), (2, 1.0), (3, 1.0), (4, None)):
            lifecycle.record_epoch(session, job_id, report(epoch, val_loss=val), f"k{epoch}")
        session.flush()
        session.expire(job, ["epochs"])
        assert lifecycle.best_epoch(job).epoch == 2
        for row in job.epochs:
            row.val_loss = None
        assert lifecycle.best_epoch(job).epoch == 4  # no validation at all: the latest


def test_eta_is_mean_epoch_seconds_times_epochs_left(db, job_id, get_job):
    assert lifecycle.eta_seconds(get_job(job_id)) is None  # no epoch yet
    with db() as session:
        lifecycle.claim_job(session, job_id, "w")
        lifecycle.record_epoch(session, job_id, report(1, seconds=10), "k1")
        lifecycle.record_epoch(session, job_id, report(2, seconds=30), "k2")
        session.get(Job, job_id).progress = 0.5
    assert lifecycle.eta_seconds(get_job(job_id)) == pytest.approx(20 * (5 - 2 - 0.5))
    with db() as session:
        lifecycle.requeue_job(session, job_id, "w")
    assert lifecycle.eta_seconds(get_job(job_id)) == pytest.approx(20 * 3)  # queued: no epoch under way
    with db() as session:
        lifecycle.finish_job(session, job_id, WorkStatus.failed, "x")
    assert lifecycle.eta_seconds(get_job(job_id)) is None


def test_finish_job_clips_long_errors(db, job_id, get_job):
    with db() as session:
        lifecycle.finish_job(session, job_id, WorkStatus.failed, "x" * 10_000)
    job = get_job(job_id)
    assert job.status == WorkStatus.failed and len(job.error) == MAX_ERROR_CHARS and job.finished_at


def test_a_worker_whose_job_was_given_away_touches_nothing(db, job_id, get_job):
    with db() as session:
        lifecycle.claim_job(session, job_id, "w1")
    with db() as session:  # w1 fell silent; the reconciler gave the job to w2
        lifecycle.claim_job(session, job_id, "w2", heartbeat_timeout=0)
    with db() as session:
        assert lifecycle.job_heartbeat(session, job_id, 0.5, "w1") == "lost"
        with pytest.raises(lifecycle.JobLost):
            lifecycle.record_epoch(session, job_id, report(1), "k", worker="w1")
        with pytest.raises(lifecycle.JobLost):
            lifecycle.record_vocabulary(session, job_id, ["a", "b"], worker="w1")
        assert lifecycle.finish_job(session, job_id, WorkStatus.failed, "x", worker="w1") is False
        assert lifecycle.requeue_job(session, job_id, "w1") is None
    job = get_job(job_id)
    assert job.status == WorkStatus.running and job.worker == "w2" and job.epoch == 0 and job.vocabulary is None


def test_heartbeat_reads_the_cancel_flag_and_records_the_vocabulary(db, job_id, get_job):
    with db() as session:
        lifecycle.claim_job(session, job_id, "w")
        session.get(Job, job_id).heartbeat_at = utcnow() - timedelta(minutes=5)
    with db() as session:
        assert lifecycle.job_heartbeat(session, job_id, 1.7, "w") == "ok"
        lifecycle.record_vocabulary(session, job_id, ["\n", "a"], worker="w")
    job = get_job(job_id)
    assert job.progress == 1.0 and utcnow() - job.heartbeat_at < timedelta(seconds=30)
    assert job.vocabulary == ["\n", "a"]
    with db() as session:
        lifecycle.request_cancel(session, job_id)
        assert lifecycle.job_heartbeat(session, job_id, None, "w") == "cancel"


def test_a_lost_message_is_sent_again_or_the_pending_cancel_ends_the_job(db, job_id, get_job):
    old = get_job(job_id).dispatch_token
    with db() as session:
        token = lifecycle.message_lost(session.get(Job, job_id))
    assert token == get_job(job_id).dispatch_token != old
    with db() as session:
        session.get(Job, job_id).cancel_requested = True
    with db() as session:
        assert lifecycle.message_lost(session.get(Job, job_id)) is None
    assert get_job(job_id).status == WorkStatus.cancelled
