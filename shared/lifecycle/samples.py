"""A sample request: what differs from the other queued work (work.py owns the moves of its
state). Created queued within its owner's quotas, it waits its turn (fair queues, dispatch.py);
its worker is given a `SamplingWork`; it succeeds with its stored text and the texts' quality and
novelty figures. As for all queued work: a crashed worker fails it (asking again makes a new
request), a cancel is at once (its worker reads it at its next heartbeat and stops at its next
chunk), and a worker stopping gracefully hands it back (`requeue_sample`, not an attempt)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..db.models import Epoch, Job, Sample, WorkStatus
from . import work
from .dispatch import add_waiting
from .quotas import check_sample_quota, lock_user
from .work import LOST_SAMPLE as LOST_SAMPLE


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
    add_waiting(session, sample)
    return sample


fail_lost_sample = work.fail_lost


def claim_sample(session: Session, sample_id: int, worker: str = "", token: str | None = None) -> SamplingWork | None:
    """Mark the sample running (`work.claim`); None when there is nothing to do."""
    return work.claim(session, Sample, sample_id, worker, token, _sampling_work)


def _sampling_work(sample: Sample, lease: str) -> SamplingWork:
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
        lease=lease,
    )


def sample_heartbeat(
    session: Session, sample_id: int, progress: float | None, worker: str, lease: str | None = None
) -> str:
    """ "cancel" once the sample was cancelled (its worker stops at its next chunk), "lost" once the
    attempt holding `lease` no longer holds it, else "ok"."""
    return work.heartbeat(session, Sample, sample_id, progress, worker, lease)


class SampleFinished(work.Finished):
    """A succeeded or failed sample cannot be cancelled."""


def cancel_sample(session: Session, sample_id: int) -> tuple[Sample, bool]:
    """Cancel a queued or running sample at once (a running one's worker stops at its next chunk
    and stores nothing): `work.cancel_now`."""
    return work.cancel_now(session, Sample, sample_id, SampleFinished)


def requeue_sample(session: Session, sample_id: int, worker: str, lease: str | None = None) -> str | None:
    """Hand a running sample back to the queue (`work.requeue`); its next start is its start. The
    new dispatch token to send after commit, or None when it no longer runs on `worker`."""
    sample = work.requeue(session, Sample, sample_id, worker, lease)
    if sample is None:
        return None
    sample.started_at = sample.heartbeat_at = None
    return sample.dispatch_token


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
    one dict per text), or failed with the reason (`work.finish`). False when nothing changed."""
    size = stored_bytes if object_key else None
    results = {"object_key": object_key, "stored_bytes": size, "quality": quality, "novelty": novelty}
    return work.finish(session, Sample, sample_id, error, lease, **results)
