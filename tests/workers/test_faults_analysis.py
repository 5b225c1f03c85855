"""Analyses kept as samples are, with real worker and reconciler processes (cluster.py): a queued
analysis whose message the broker lost is sent again by the reconciler; a running analysis writes
heartbeats (one longer than HEARTBEAT_TIMEOUT is not taken for lost), and one whose worker was
SIGKILLed fails with the reason instead of staying running."""

import time

import pytest
from sqlalchemy import update

from shared import lifecycle
from shared.db.models import Job, WorkStatus
from shared.engine.training.train import EpochReport
from tests.analysis_helpers import python_text, tiny_checkpoint, vocabulary

LONG = 60  # python_text() x 60: about 360,000 characters, several seconds of analysis


@pytest.fixture(scope="module")
def analysed_job(cluster):
    """A finished job whose epoch 1 is the tiny trained checkpoint (its training message, never
    taken, stays in the training queue: no training worker here)."""
    job_id = cluster.job(epochs=1)
    key = f"jobs/{job_id}/epoch-0001"
    cluster.store.put_dir(key, tiny_checkpoint())
    with cluster.db() as session:
        lifecycle.record_vocabulary(session, job_id, vocabulary())
        report = EpochReport(epoch=1, loss=2.0, val_loss=2.1, seconds=1.0, chars_per_second=100.0)
        lifecycle.record_epoch(session, job_id, report, key)
        session.execute(update(Job).where(Job.id == job_id).values(status=WorkStatus.succeeded))
    return job_id


def test_a_queued_analysis_whose_message_was_lost_is_sent_again(cluster, analysed_job):
    worker = cluster.worker("sampling")
    reconciler = cluster.reconciler()
    analysis_id = cluster.analysis(analysed_job, python_text(), send=False)  # as after a broker restart
    first = cluster.get_analysis(analysis_id).dispatch_token
    done = cluster.finished_analysis(analysis_id, 90)
    assert done.status == WorkStatus.succeeded, done.error
    assert done.dispatch_token != first and done.attempts == 1 and done.worker == worker.hostname
    said = f"analysis {analysis_id}: queued, but its message is not in the sampling queue; sent again"
    assert reconciler.log_text().count(said) == 1  # sent once: the re-sent message was then held
    worker.stop()
    reconciler.stop()


def test_a_long_analysis_beats_and_one_whose_worker_died_fails(cluster, analysed_job):
    timeout = cluster.settings.heartbeat_timeout
    worker = cluster.worker("sampling")
    reconciler = cluster.reconciler()
    long = cluster.finished_analysis(cluster.analysis(analysed_job, python_text() * LONG), 180)
    assert long.status == WorkStatus.succeeded, long.error
    ran = (long.finished_at - long.started_at).total_seconds()
    print(f"\nanalysis of {long.chars:,} characters: {ran:.1f} s (heartbeat timeout {timeout:g} s)")
    assert ran > timeout  # without its heartbeat the reconciler would have failed it

    analysis_id = cluster.analysis(analysed_job, python_text() * LONG)
    cluster.wait(lambda: cluster.get_analysis(analysis_id).status == WorkStatus.running, 60, "analysis running")
    worker.kill()  # its message stays unacknowledged: nothing would ever finish it
    killed = time.monotonic()
    lost = cluster.finished_analysis(analysis_id, 60)
    print(f"analysis worker SIGKILL: failed with its reason {time.monotonic() - killed:.1f} s after")
    assert lost.status == WorkStatus.failed and lost.error == lifecycle.LOST_ANALYSIS
    assert f"analysis {analysis_id}: worker {worker.hostname} lost; failed" in reconciler.log_text()
    reconciler.stop()


def test_a_running_analysis_cancelled_stores_nothing(cluster, analysed_job):
    worker = cluster.worker("sampling")
    analysis_id = cluster.analysis(analysed_job, python_text() * (LONG // 2))
    cluster.wait(lambda: cluster.get_analysis(analysis_id).status == WorkStatus.running, 60, "analysis running")
    with cluster.db() as session:
        lifecycle.cancel_analysis(session, analysis_id)
    said = f"analysis {analysis_id}: cancelled; nothing stored"
    cluster.wait(lambda: said in worker.log_text(), 120, "the worker to drop its result")
    analysis = cluster.get_analysis(analysis_id)
    assert analysis.status == WorkStatus.cancelled and analysis.object_key is None
    assert cluster.store.list(f"analyses/{analysis_id}-") == []  # under no attempt's lease
    after = cluster.finished_analysis(cluster.analysis(analysed_job, python_text()))  # the worker is free again
    assert after.status == WorkStatus.succeeded and after.worker == worker.hostname
    worker.stop()
