"""Samples: ask a job's model for text (queued for a sampling worker), cancel a request."""

from __future__ import annotations

from celery import Celery
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Epoch, Job, Sample, User
from shared.engine.data.corpus import CorpusError, Vocabulary
from shared.engine.inference.sample import encode_seed

from .access import get_visible
from .errors import Conflict, Invalid, NotFound, field_error
from .inputs import SampleCreate
from .send import commit_and_send


def check_seed(job: Job, seed_text: str | None) -> None:
    """The sampler's own seed rule (shared.engine.inference.sample.encode_seed) on the model's
    vocabulary, which the job records when training starts: a seed with nothing left is Invalid."""
    if seed_text is None or not job.vocabulary:
        return
    try:
        encode_seed(seed_text, Vocabulary.from_json(job.vocabulary), job.hyperparameters)
    except CorpusError as exc:
        raise Invalid(str(exc), [field_error("seed_text", str(exc))]) from exc


def checkpoint_epoch(job: Job, epoch: int | None) -> Epoch:
    """The epoch to sample from: the best one (Conflict while the job has no checkpoint), or the
    one asked for (Invalid naming `epoch` when it has no checkpoint, with the epochs that have one)."""
    try:
        return lifecycle.stored_checkpoint(job, epoch)
    except lifecycle.NoCheckpoint as exc:
        if epoch is None:
            raise Conflict("job has no checkpoint yet") from None
        raise Invalid(exc.message, [field_error("epoch", exc.message)]) from None


def create_sample(
    session: Session, celery: Celery, user: User, job_id: int, request: SampleCreate, default_precision: str
) -> Sample:
    """Queue text generation from the job's best checkpoint so far, or from `request.epoch`'s,
    within the user's quotas; its message waits for its owner's turn (fair queues)."""
    job = get_visible(session, user, Job, job_id)
    epoch = checkpoint_epoch(job, request.epoch)
    check_seed(job, request.seed_text)
    try:
        sample = lifecycle.create_sample(
            session,
            user.id,
            job,
            epoch,
            length=request.length,
            temperatures=request.temperatures,
            count=request.count,
            seed_text=request.seed_text,
            random_seed=request.random_seed,
            precision=request.precision or default_precision,
            top_k=request.top_k,
            top_p=request.top_p,
        )
    except LookupError as exc:  # the job is being deleted
        raise NotFound(str(exc)) from None
    commit_and_send(session, celery, new=[sample])
    return sample


def cancel_sample(session: Session, celery: Celery, user: User, sample_id: int) -> Sample:
    """Cancel a sample request: a queued one at once, a running one too (its worker stops within a
    chunk of text and stores nothing). A cancelled one is left as it is; a finished one is a Conflict."""
    get_visible(session, user, Sample, sample_id)
    try:
        sample, changed = lifecycle.cancel_sample(session, sample_id)
    except lifecycle.SampleFinished as exc:
        raise Conflict(str(exc)) from exc
    dispatch = lifecycle.dispatch_after(session, Sample, sample.id) if changed else None
    commit_and_send(session, celery, dispatched=[dispatch])
    return sample
