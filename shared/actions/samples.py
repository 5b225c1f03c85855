"""Samples: ask a job's model for text (queued for a sampling worker), cancel a request, follow
its text as it is written."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from celery import Celery
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Epoch, Job, Sample, User, WorkStatus
from shared.engine.data.corpus import CorpusError, Vocabulary
from shared.engine.inference.sample import encode_seed
from shared.storage import NotFound as ObjectMissing
from shared.storage import ObjectStore

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


# ---- the text as it is written ----------------------------------------------------------------------

POLL_SECONDS = 0.2  # how often a running sample's new text is looked for
KEEPALIVE_SECONDS = 5.0  # a "wait" event at least this often while nothing new comes


@dataclass(frozen=True)
class TextEvent:
    """One event of a followed text: "text" (`text`, the characters from the previous event's
    `offset` to this one's), "wait" (nothing new yet: a keep-alive) or "end" (the sample ended
    with `status`, `error` its reason when it failed; `offset` the text's full length when it
    succeeded)."""

    kind: str
    offset: int
    text: str = ""
    status: str | None = None
    error: str | None = None


def follow_text(
    session: Session,
    user: User,
    sample_id: int,
    text_index: int,
    offset: int,
    *,
    sessions: Callable[[], Session],
    store: ObjectStore,
    seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[TextEvent]:
    """The events of text `text_index` (0-based, the download's order) of a sample the user may
    see, from character `offset` on, for `seconds` at most (the caller's client then resumes from
    the last offset). The access and the text's index are checked at once (NotFound, Invalid);
    then, while the sample runs, its new characters as its worker writes them (the pieces, read
    each POLL_SECONDS in a short session of `sessions`); once it has ended, the rest from its
    stored text (the authority) and an "end" event."""
    sample = get_visible(session, user, Sample, sample_id)
    texts = (sample.count or 1) * len(sample.temperatures)
    if not 0 <= text_index < texts:
        message = f"sample {sample_id} has {texts} text(s): text must be 0 to {texts - 1}"
        raise Invalid(message, [field_error("text", message)])
    return _events(sample_id, text_index, max(0, offset), sessions, store, time.monotonic() + seconds, sleep)


def _events(
    sample_id: int,
    text_index: int,
    offset: int,
    sessions: Callable[[], Session],
    store: ObjectStore,
    deadline: float,
    sleep: Callable[[float], None],
) -> Iterator[TextEvent]:
    quiet_since = time.monotonic()
    while True:
        with sessions() as session:  # one short transaction per look: no session stays open between
            sample = session.get(Sample, sample_id)
            if sample is None:
                yield TextEvent("end", offset, status="deleted", error=f"sample {sample_id} was deleted")
                return
            status = WorkStatus(sample.status)
            if status.finished:
                yield from _ending(sample, text_index, offset, store)
                return
            new = lifecycle.read_pieces(session, sample_id, text_index, offset) if status == WorkStatus.running else ""
        if new:
            offset += len(new)
            quiet_since = time.monotonic()
            yield TextEvent("text", offset, text=new)
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield TextEvent("wait", offset, status=status.value)
        if time.monotonic() >= deadline:
            return
        sleep(POLL_SECONDS)


def _ending(sample: Sample, text_index: int, offset: int, store: ObjectStore) -> Iterator[TextEvent]:
    """The rest of an ended sample's text from its stored text, then its "end"."""
    status = WorkStatus(sample.status).value
    if sample.status != WorkStatus.succeeded:
        reason = sample.error or ("cancelled" if sample.status == WorkStatus.cancelled else None)
        yield TextEvent("end", offset, status=status, error=reason)
        return
    try:
        text = stored_text(store, sample, text_index)
    except ObjectMissing:
        yield TextEvent("end", offset, status=status, error=f"the text of sample {sample.id} is missing from storage")
        return
    if len(text) > offset:
        yield TextEvent("text", len(text), text=text[offset:])
    yield TextEvent("end", max(offset, len(text)), status=status)


def stored_text(store: ObjectStore, sample: Sample, text_index: int) -> str:
    """Text `text_index` of a succeeded sample as stored: its one text, or that member of its zip."""
    data = store.get_bytes(sample.object_key or "")
    if (sample.count or 1) * len(sample.temperatures) == 1:
        return data.decode("utf-8")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(archive.infolist()[text_index]).decode("utf-8")
