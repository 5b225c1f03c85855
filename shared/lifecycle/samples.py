"""A sample request's state: created queued, claimed by a sampling worker, heartbeats, finished
with its text or failed with a reason (a crashed worker fails it: a crash that repeats, such as
running out of memory, must not loop; asking again makes a new request), cancelled (a running one
at once: its worker reads it at its next heartbeat and stops at its next chunk), or handed back to
the queue by a worker that is stopping gracefully (`requeue_sample`, not counted as an attempt)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..db.models import Epoch, Job, Sample, WorkStatus, new_lease, utcnow
from .dispatch import beat_or_cancel, cancel_now, clip, dispatch_for_new, hold, holds, redispatch, superseded
from .quotas import check_sample_quota, lock_user

LOST_SAMPLE = "the sampling worker stopped while generating this sample (crashed or killed); request it again"


@dataclass(frozen=True)
class SamplingWork:
    """What a sampling worker needs for one request."""

    sample_id: int
    job_id: int
    checkpoint_key: str
    length: int
    temperatures: list[float]
    count: int
    seed_text: str | None
    random_seed: int | None
    epoch: int | None = None
    precision: str = "float32"
    top_k: int | None = None
    top_p: float | None = None
    corpus_key: str | None = None  # the job's training corpus: novelty is measured against it
    lowercase: bool = False  # the model was trained on the lowercased corpus
    lease: str = ""  # this attempt's fencing token: its text goes under it, and it records only while it holds it


def create_sample(
    session: Session,
    owner_id: int,
    job: Job,
    epoch: Epoch,
    *,
    length: int,
    temperatures: list[float],
    count: int,
    seed_text: str | None,
    random_seed: int | None,
    precision: str = "float32",
    top_k: int | None = None,
    top_p: float | None = None,
) -> Sample:
    """A new queued request for text from `epoch`'s checkpoint of `job` (flushed; the sample
    records the epoch), within its owner's quotas (QuotaExceeded). It waits its turn (fair queues,
    see dispatch.py): send what `take_dispatches` returns after commit."""
    if job.deleting_at is not None:
        raise LookupError(f"job {job.id} is being deleted")
    check_sample_quota(session, lock_user(session, owner_id), length=length, temperatures=temperatures, count=count)
    sample = Sample(
        owner_id=owner_id,
        job_id=job.id,
        checkpoint_key=epoch.checkpoint_key,
        length=length,
        temperatures=list(temperatures),
        count=count,
        seed_text=seed_text,
        random_seed=random_seed,
        status=WorkStatus.queued,
        epoch=epoch.epoch,
        precision=precision,
        top_k=top_k,
        top_p=top_p,
    )
    session.add(sample)
    session.flush()
    hold(sample)  # after the INSERT: its column default would fill a None in
    dispatch_for_new(session, Sample, owner_id)
    return sample


def fail_lost_sample(sample: Sample) -> None:
    """Its worker stopped while generating it (found by the reconciler, or by a redelivery)."""
    sample.status, sample.finished_at, sample.error = WorkStatus.failed, utcnow(), LOST_SAMPLE


def claim_sample(session: Session, sample_id: int, worker: str = "", token: str | None = None) -> SamplingWork | None:
    """Mark the sample running; None when there is nothing to do. A sample found `running` when its
    message arrives again was on a worker that crashed: it fails with that reason."""
    sample = session.get(Sample, sample_id, with_for_update=True)
    if sample is None or WorkStatus(sample.status).finished or superseded(sample, token):
        return None
    if sample.status == WorkStatus.running:
        fail_lost_sample(sample)
        return None
    sample.status, sample.worker, sample.lease = WorkStatus.running, worker, new_lease()
    sample.attempts += 1
    sample.started_at = sample.heartbeat_at = utcnow()
    sample.progress, sample.error = 0.0, None
    return SamplingWork(
        sample_id=sample.id,
        job_id=sample.job_id,
        checkpoint_key=sample.checkpoint_key,
        length=sample.length,
        temperatures=[float(t) for t in sample.temperatures],
        count=sample.count or 1,
        seed_text=sample.seed_text,
        random_seed=sample.random_seed,
        epoch=sample.epoch,
        precision=sample.precision or "float32",  # rows from before migration 0005
        top_k=sample.top_k,
        top_p=sample.top_p,
        corpus_key=sample.job.corpus.object_key,
        lowercase=sample.job.hyperparameters.lowercase,
        lease=sample.lease,
    )


def sample_heartbeat(
    session: Session, sample_id: int, progress: float | None, worker: str, lease: str | None = None
) -> str:
    """ "cancel" once the sample was cancelled (its worker stops at its next chunk), "lost" once the
    attempt holding `lease` no longer holds it, else "ok"."""
    return beat_or_cancel(session, Sample, sample_id, progress, worker, lease)


class SampleFinished(Exception):
    """A succeeded or failed sample cannot be cancelled."""

    def __init__(self, sample: Sample):
        super().__init__(f"sample {sample.id} already {WorkStatus(sample.status).value}; nothing to cancel")
        self.sample = sample


def cancel_sample(session: Session, sample_id: int) -> tuple[Sample, bool]:
    """Cancel a queued or running sample at once (a running one's worker stops at its next chunk
    and stores nothing): `dispatch.cancel_now`'s rule."""
    return cancel_now(session, Sample, sample_id, SampleFinished)


def requeue_sample(session: Session, sample_id: int, worker: str, lease: str | None = None) -> str | None:
    """Hand a running sample back to the queue (its worker is stopping gracefully): not counted as
    an attempt. Returns the new dispatch token to send after commit, or None when the sample is no
    longer running on `worker` under `lease` (cancelled meanwhile, or found lost)."""
    sample = session.get(Sample, sample_id, with_for_update=True)
    if sample is None or not holds(sample, lease) or sample.worker != worker:
        return None
    sample.status, sample.worker, sample.progress = WorkStatus.queued, None, 0.0
    sample.attempts = max(0, sample.attempts - 1)
    sample.started_at = sample.heartbeat_at = None
    return redispatch(sample)


def finish_sample(
    session: Session,
    sample_id: int,
    object_key: str | None = None,
    error: str | None = None,
    *,
    quality: list[dict] | None = None,
    novelty: list[dict] | None = None,
    lease: str | None = None,
    stored_bytes: int | None = None,
) -> bool:
    """Succeeded with the stored text's key and size (and its texts' quality and novelty figures,
    one dict per text), or failed with the reason; a cancelled sample stays cancelled. With `lease` (a
    worker's attempt), only while that attempt holds the sample: a sample ends once, and an attempt
    found lost records nothing (its text is swept as unreferenced). False when nothing changed."""
    sample = session.get(Sample, sample_id, with_for_update=True)
    if sample is None or sample.status == WorkStatus.cancelled:
        return False
    if lease is not None and not holds(sample, lease):
        return False
    sample.status = WorkStatus.failed if error else WorkStatus.succeeded
    sample.object_key = object_key
    sample.stored_bytes = stored_bytes if object_key else None
    sample.error = clip(error) if error else None
    sample.finished_at = utcnow()
    if not error:
        sample.progress = 1.0
        sample.quality, sample.novelty = quality, novelty
    return True
