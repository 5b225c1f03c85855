"""Training jobs: create one (queued for a training worker), continue or fork a finished one (a
new job from its latest checkpoint, linked to it), cancel one."""

from __future__ import annotations

from typing import Any

from celery import Celery
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Corpus, Job, User
from shared.engine.config import Hyperparameters
from shared.engine.data.batching import min_corpus_chars

from .access import get_visible
from .errors import Conflict, Invalid, field_error
from .labels import apply_labels
from .send import commit_and_send


def check_length(corpus: Corpus, hyperparameters: Hyperparameters) -> None:
    """Invalid (naming the fields that set the need) unless the corpus holds at least one batch
    after cleaning."""
    need = min_corpus_chars(hyperparameters)
    if corpus.clean_chars >= need:
        return
    fields = ["batch_size", "seq_len"] if hyperparameters.stateful else ["seq_len"]
    msg = (
        f"corpus {corpus.id} has {corpus.clean_chars} characters after cleaning; "
        f"{' and '.join(f'{f} {getattr(hyperparameters, f)}' for f in fields)} need at least {need}"
    )
    raise Invalid("corpus too short for these hyperparameters", [field_error(f, msg) for f in fields])


def create_job(
    session: Session, celery: Celery, user: User, corpus_id: int, hyperparameters: Hyperparameters, labels: Any = None
) -> Job:
    """Queue a training job on one of the user's corpora, within their quotas; its message waits
    for its owner's turn (fair queues)."""
    corpus = get_visible(session, user, Corpus, corpus_id)
    check_length(corpus, hyperparameters)
    job = lifecycle.create_job(session, user.id, corpus.id, hyperparameters)
    if labels is not None:
        apply_labels(job, labels)
    commit_and_send(session, celery, new=[job])
    return job


def create_child(
    session: Session, celery: Celery, user: User, parent_id: int, more_epochs: int | None, changes: dict
) -> Job:
    """Continue (no `changes`) or fork a finished, cancelled or failed job for `more_epochs` more
    epochs (None: the epochs the parent had left, at least 1). Conflict while it is queued or
    running; Invalid for a change a fork may not make."""
    parent = get_visible(session, user, Job, parent_id)
    more = more_epochs or max(1, parent.hyperparameters.epochs - parent.epoch)
    try:
        child = lifecycle.lineage.create_child_job(session, parent, user.id, more, changes)
    except lifecycle.lineage.NotContinuable as exc:
        raise Conflict(str(exc)) from exc
    except ValueError as exc:
        raise Invalid(str(exc), [field_error(k, str(exc)) for k in changes] or None) from exc
    check_length(parent.corpus, child.hyperparameters)
    commit_and_send(session, celery, new=[child])
    return child


def cancel_job(session: Session, celery: Celery, user: User, job_id: int) -> Job:
    """Cancel a job: a queued one at once, a running one at its next batch (it stays running until
    its worker stops). A cancelled one is left as it is; a succeeded or failed one is a Conflict."""
    return cancel_job_outcome(session, celery, user, job_id)[0]


def cancel_job_outcome(session: Session, celery: Celery, user: User, job_id: int) -> tuple[Job, str]:
    """`cancel_job`, with what it did: lifecycle.CANCELLED, CANCEL_REQUESTED or UNCHANGED. The owner's
    next job is dispatched after a queued one is cancelled (fair queues)."""
    get_visible(session, user, Job, job_id)
    try:
        job, outcome = lifecycle.request_cancel(session, job_id)
    except lifecycle.AlreadyFinished as exc:
        raise Conflict(str(exc)) from exc
    dispatch = lifecycle.dispatch_after(session, Job, job.id) if outcome == lifecycle.CANCELLED else None
    commit_and_send(session, celery, dispatched=[dispatch])
    return job, outcome
