"""A neuron analysis's state: created queued (its message sent after commit, with the analysis's
dispatch token), claimed by a sampling worker, finished with its result's key and top cells, or
failed with a reason. As for samples (dispatch.py owns the rules): a message whose token is not
the analysis's current one is skipped; a queued analysis whose message the broker lost gets a new
token from the reconciler (jobs.message_lost); a running analysis writes heartbeats, and one
whose heartbeat stopped (its worker died) fails (`fail_lost_analysis`, from the reconciler, or from
a redelivered message); a queued or running one can be cancelled (`cancel_analysis`: its worker,
told by its heartbeat, stores nothing). An analysis is short (one pass over at most
ANALYSIS_MAX_CHARS characters): it has no fair-queue turn."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..db.models import Analysis, Epoch, Job, WorkStatus, new_lease, utcnow
from .dispatch import beat_or_cancel, cancel_now, clip, holds, superseded
from .quotas import check_analysis_quota, lock_user

LOST_ANALYSIS = "the sampling worker stopped while running this analysis (crashed or killed); request it again"


@dataclass(frozen=True)
class AnalysisWork:
    """What a sampling worker needs for one analysis."""

    analysis_id: int
    job_id: int
    corpus_key: str
    checkpoint_key: str
    text: str | None  # None: the tail of the corpus
    lease: str = ""  # this attempt's fencing token: its result goes under it, and it records only while it holds it


def create_analysis(session: Session, owner_id: int, job: Job, epoch: Epoch, text: str | None) -> Analysis:
    """A new queued analysis of `epoch`'s checkpoint of `job` over `text` (None: the corpus's
    tail), within its owner's quota (QuotaExceeded), flushed; the caller sends its message after
    commit (`fail_unsent_analysis` if that fails)."""
    check_analysis_quota(session, lock_user(session, owner_id))
    analysis = Analysis(
        owner_id=owner_id,
        job_id=job.id,
        epoch=epoch.epoch,
        checkpoint_key=epoch.checkpoint_key,
        text=text,
        status=WorkStatus.queued,
    )
    session.add(analysis)
    session.flush()
    return analysis


def fail_unsent_analysis(analysis: Analysis, error: str) -> None:
    """Its message could not be sent: it must not stay queued forever."""
    analysis.status, analysis.finished_at = WorkStatus.failed, utcnow()
    analysis.error = clip(f"could not queue: {error}")


def fail_lost_analysis(analysis: Analysis) -> None:
    """Its worker stopped while running it (found by the reconciler, or by a redelivery)."""
    analysis.status, analysis.finished_at, analysis.error = WorkStatus.failed, utcnow(), LOST_ANALYSIS


def claim_analysis(
    session: Session, analysis_id: int, worker: str = "", token: str | None = None
) -> AnalysisWork | None:
    """Mark the analysis running; None when there is nothing to do (unknown, finished, or the
    message superseded by a newer one; or found running: its worker was lost, and it fails with
    that reason)."""
    analysis = session.get(Analysis, analysis_id, with_for_update=True)
    if analysis is None or WorkStatus(analysis.status).finished or superseded(analysis, token):
        return None
    if analysis.status == WorkStatus.running:
        fail_lost_analysis(analysis)
        return None
    job = session.get(Job, analysis.job_id)
    assert job is not None  # the analysis row cascades with its job
    if job.deleting_at is not None:  # its objects are being deleted: write none
        analysis.status, analysis.finished_at, analysis.error = WorkStatus.failed, utcnow(), "the job was deleted"
        return None
    analysis.status, analysis.worker, analysis.lease = WorkStatus.running, worker, new_lease()
    analysis.attempts += 1
    analysis.started_at = analysis.heartbeat_at = utcnow()
    return AnalysisWork(
        analysis_id=analysis.id,
        job_id=analysis.job_id,
        corpus_key=job.corpus.object_key,
        checkpoint_key=analysis.checkpoint_key,
        text=analysis.text,
        lease=analysis.lease,
    )


def analysis_heartbeat(
    session: Session, analysis_id: int, progress: float | None, worker: str, lease: str | None = None
) -> str:
    """Write a running analysis's heartbeat: "cancel" once it was cancelled (its worker stores
    nothing), "lost" once the attempt holding `lease` no longer holds it, else "ok"."""
    return beat_or_cancel(session, Analysis, analysis_id, progress, worker, lease)


class AnalysisFinished(Exception):
    """A succeeded or failed analysis cannot be cancelled."""

    def __init__(self, analysis: Analysis):
        status = WorkStatus(analysis.status).value
        super().__init__(f"analysis {analysis.id} already {status}; nothing to cancel")
        self.analysis = analysis


def cancel_analysis(session: Session, analysis_id: int) -> tuple[Analysis, bool]:
    """Cancel a queued or running analysis at once (a running one's worker finishes its pass and
    stores nothing): `dispatch.cancel_now`'s rule."""
    return cancel_now(session, Analysis, analysis_id, AnalysisFinished)


def finish_analysis(
    session: Session,
    analysis_id: int,
    *,
    object_key: str | None = None,
    top: dict | None = None,
    chars: int | None = None,
    error: str | None = None,
    lease: str | None = None,
    stored_bytes: int | None = None,
) -> bool:
    """Succeeded with the stored result's key and size, its top cells and the characters read; or failed
    with the reason; a cancelled analysis stays cancelled. With `lease` (a worker's attempt), only
    while that attempt holds the analysis (an attempt found lost records nothing). False when
    nothing changed."""
    analysis = session.get(Analysis, analysis_id, with_for_update=True)
    if analysis is None or analysis.status == WorkStatus.cancelled:
        return False
    if lease is not None and not holds(analysis, lease):
        return False
    analysis.finished_at = utcnow()
    if error:
        analysis.status, analysis.error = WorkStatus.failed, clip(error)
        return True
    analysis.status, analysis.error = WorkStatus.succeeded, None
    analysis.object_key, analysis.top, analysis.chars = object_key, top, chars
    analysis.stored_bytes = stored_bytes
    return True
