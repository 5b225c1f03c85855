"""A neuron analysis: what differs from the other queued work (work.py owns the moves of its
state). Created queued within its owner's quota, its message is sent at once after commit (an
analysis is short, one pass over at most ANALYSIS_MAX_CHARS characters: it has no fair-queue
turn); its worker is given an `AnalysisWork`, unless the job is being deleted (it fails: its
objects are going); it succeeds with its stored result, its top cells and the characters read.
As for samples: a worker lost while running it fails it, a cancel is at once (its worker, told by
its heartbeat, stores nothing), a lost message is sent again with a new token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..db.models import Analysis, Epoch, Job, WorkStatus
from . import work
from .quotas import check_analysis_quota, lock_user
from .work import LOST_ANALYSIS as LOST_ANALYSIS


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
    commit (`work.fail_unsent` if that fails)."""
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


fail_lost_analysis = work.fail_lost


def _job_deleted(analysis: Analysis) -> str | None:
    """Why an analysis may not start: its job's objects are being deleted (write none)."""
    return "the job was deleted" if analysis.job.deleting_at is not None else None


def claim_analysis(
    session: Session, analysis_id: int, worker: str = "", token: str | None = None
) -> AnalysisWork | None:
    """Mark the analysis running (`work.claim`); None when there is nothing to do."""
    return work.claim(session, Analysis, analysis_id, worker, token, _analysis_work, refuse=_job_deleted)


def _analysis_work(analysis: Analysis, lease: str) -> AnalysisWork:
    return AnalysisWork(
        analysis_id=analysis.id,
        job_id=analysis.job_id,
        corpus_key=analysis.job.corpus.object_key,
        checkpoint_key=analysis.checkpoint_key,
        text=analysis.text,
        lease=lease,
    )


def analysis_heartbeat(
    session: Session, analysis_id: int, progress: float | None, worker: str, lease: str | None = None
) -> str:
    """Write a running analysis's heartbeat (`work.heartbeat`): "cancel", "lost" or "ok"."""
    return work.heartbeat(session, Analysis, analysis_id, progress, worker, lease)


class AnalysisFinished(work.Finished):
    """A succeeded or failed analysis cannot be cancelled."""


def cancel_analysis(session: Session, analysis_id: int) -> tuple[Analysis, bool]:
    """Cancel a queued or running analysis at once (a running one's worker finishes its pass and
    stores nothing): `work.cancel_now`."""
    return work.cancel_now(session, Analysis, analysis_id, AnalysisFinished)


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
    """Succeeded with the stored result's key and size, its top cells and the characters read; or
    failed with the reason (`work.finish`). False when nothing changed."""
    results = {"object_key": object_key, "stored_bytes": stored_bytes, "top": top, "chars": chars}
    return work.finish(session, Analysis, analysis_id, error, lease, **results)
