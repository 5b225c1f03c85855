"""Neuron analyses: queue one (a job's model run over a text, on the sampling queue), cancel one,
read a finished one's result."""

from __future__ import annotations

from celery import Celery
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Analysis, Job, User, WorkStatus
from shared.storage import NotFound as ObjectMissing
from shared.storage import ObjectStore

from .access import get_visible
from .checkpoints import checkpoint_files
from .errors import Conflict, Invalid, NotFound, field_error
from .inputs import AnalysisCreate
from .send import commit_and_send


def check_text(text: str | None, max_chars: int) -> None:
    """Invalid unless the text (None: the corpus's tail) has 2 to `max_chars` characters."""
    if text is not None and len(text) > max_chars:
        message = f"the text has {len(text):,} characters; at most {max_chars:,} (ANALYSIS_MAX_CHARS)"
        raise Invalid(message, [field_error("text", message, "string_too_long")])
    if text is not None and len(text) < 2:
        message = "the text needs at least 2 characters"
        raise Invalid(message, [field_error("text", message, "string_too_short")])


def create_analysis(
    session: Session,
    celery: Celery,
    store: ObjectStore,
    user: User,
    job_id: int,
    request: AnalysisCreate,
    max_chars: int,
) -> Analysis:
    """Queue a neuron analysis of the job's best checkpoint (or `request.epoch`'s) over the text,
    within the user's quota of queued and running analyses."""
    job = get_visible(session, user, Job, job_id)
    check_text(request.text, max_chars)
    if not job.epochs:
        raise Conflict("job has no checkpoint yet")
    epoch, _keys = checkpoint_files(store, job, request.epoch)
    analysis = lifecycle.create_analysis(session, user.id, job, epoch, request.text)
    commit_and_send(session, celery, new=[analysis])
    return analysis


def cancel_analysis(session: Session, user: User, analysis_id: int) -> Analysis:
    """Cancel an analysis: a queued one at once, a running one too (its worker finishes its pass
    and stores nothing). A cancelled one is left as it is; a finished one is a Conflict."""
    get_visible(session, user, Analysis, analysis_id)
    try:
        analysis, _changed = lifecycle.cancel_analysis(session, analysis_id)
    except lifecycle.AnalysisFinished as exc:
        raise Conflict(str(exc)) from exc
    session.commit()
    return analysis


def analysis_result(store: ObjectStore, analysis: Analysis) -> bytes:
    """The stored result's bytes: Conflict until it succeeded, NotFound when storage lost it."""
    if analysis.status != WorkStatus.succeeded or not analysis.object_key:
        raise Conflict(f"analysis {analysis.id} is {WorkStatus(analysis.status).value}, not succeeded")
    try:
        return store.get_bytes(analysis.object_key)
    except ObjectMissing as exc:
        raise NotFound(f"the result of analysis {analysis.id} is missing from storage") from exc
