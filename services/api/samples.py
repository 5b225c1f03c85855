"""Samples: ask a job's model for text (queued for a sampling worker), read the request, download it."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared import lifecycle
from shared.db.models import Epoch, Job, Sample
from shared.engine.data.corpus import CorpusError, Vocabulary
from shared.engine.inference.sample import encode_seed
from shared.queue import send_sampling

from ..plumbing.context import get_db, settings
from ..plumbing.downloads import sample_download
from ..plumbing.errors import ApiError, field_error
from .auth import SECURITY, get_visible, require_user, visible
from .common import paginate, send_or_fail
from .jobs import send_dispatched
from .schemas import (
    ErrorBody,
    JobPath,
    NoQuery,
    PageQuery,
    SampleCreate,
    SampleList,
    SampleOut,
    SamplePath,
    json_body_on,
)

bp = APIBlueprint(
    "samples",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="samples")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)
bp.before_request(json_body_on("samples.create_sample"))


def _check_seed(job: Job, seed_text: str | None) -> None:
    """The sampler's own seed rule (shared.engine.inference.sample.encode_seed) on the model's vocabulary,
    which the job records when training starts: a seed with nothing left is a 422."""
    if seed_text is None or not job.vocabulary:
        return
    try:
        encode_seed(seed_text, Vocabulary.from_json(job.vocabulary), job.hyperparameters)
    except CorpusError as exc:
        raise ApiError(422, str(exc), [field_error("seed_text", str(exc))]) from exc


def _checkpoint_epoch(job: Job, epoch: int | None) -> Epoch:
    """The epoch to sample from: the best one (409 while the job has no checkpoint), or the one
    asked for (422 naming `epoch` when it has no checkpoint, with the epochs that have one)."""
    try:
        return lifecycle.stored_checkpoint(job, epoch)
    except lifecycle.NoCheckpoint as exc:
        if epoch is None:
            raise ApiError(409, "job has no checkpoint yet") from None
        raise ApiError(422, exc.message, [field_error("epoch", exc.message)]) from None


def sample_out(sample: Sample) -> dict:
    return SampleOut.model_validate(sample).model_dump(mode="json")


@bp.post(
    "/jobs/<int:job_id>/samples",
    responses={
        202: SampleOut,
        400: ErrorBody,
        409: ErrorBody,
        413: ErrorBody,
        415: ErrorBody,
        429: ErrorBody,
        503: ErrorBody,
    },
)
def create_sample(path: JobPath, body: SampleCreate, query: NoQuery):
    """Queue text generation from the job's best checkpoint so far (409 while it has none), or
    from `epoch`'s (422 when that epoch has no checkpoint).

    The result is one text when count x temperatures is 1, otherwise one zip of texts. Once
    done, the sample carries each text's quality and novelty figures.
    """
    job = get_visible(Job, path.job_id)
    epoch = _checkpoint_epoch(job, body.epoch)
    _check_seed(job, body.seed_text)
    db = get_db()
    try:
        sample = lifecycle.create_sample(
            db,
            g.user.id,
            job,
            epoch,
            length=body.length,
            temperatures=body.temperatures,
            count=body.count,
            seed_text=body.seed_text,
            random_seed=body.random_seed,
            precision=body.precision or settings().sample_precision,
            top_k=body.top_k,
            top_p=body.top_p,
        )
    except LookupError as exc:  # the job is being deleted
        raise ApiError(404, str(exc)) from None
    dispatches = lifecycle.take_dispatches(db)
    db.commit()
    for dispatch in dispatches:  # none: it waits for its owner's turn (fair queues)
        if dispatch.record_id == sample.id:
            send_or_fail(sample, send_sampling, "sample")
        else:
            send_dispatched(dispatch)  # an older sample of theirs whose send had failed
    return sample_out(sample), 202


@bp.get("/jobs/<int:job_id>/samples", responses={200: SampleList})
def list_samples(path: JobPath, query: PageQuery):
    """Samples requested from a job, newest first."""
    job = get_visible(Job, path.job_id)
    stmt = visible(select(Sample).where(Sample.job_id == job.id), Sample).order_by(Sample.id.desc())
    items, total = paginate(stmt, query.page, query.per_page)
    return SampleList(
        items=[SampleOut.model_validate(s) for s in items], page=query.page, per_page=query.per_page, total=total
    ).model_dump(mode="json")


@bp.get("/samples/<int:sample_id>", responses={200: SampleOut})
def get_sample(path: SamplePath, query: NoQuery):
    """One sample request and its status."""
    return sample_out(get_visible(Sample, path.sample_id))


@bp.post("/samples/<int:sample_id>/cancel", responses={200: SampleOut, 409: ErrorBody})
def cancel_sample(path: SamplePath, query: NoQuery):
    """Cancel a sample request: a queued one at once, a running one too (its worker stops within
    a chunk of text and stores nothing). Cancelling a cancelled sample is a no-op (200); a
    succeeded or failed one answers 409."""
    get_visible(Sample, path.sample_id)
    db = get_db()
    try:
        sample, changed = lifecycle.cancel_sample(db, path.sample_id)
    except lifecycle.SampleFinished as exc:
        raise ApiError(409, str(exc)) from exc
    dispatch = lifecycle.dispatch_after(db, Sample, sample.id) if changed else None
    db.commit()
    send_dispatched(dispatch)
    return sample_out(sample)


@bp.get(
    "/samples/<int:sample_id>/text",
    responses={
        200: {
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        409: ErrorBody,
        503: ErrorBody,
    },
)
def get_sample_text(path: SamplePath, query: NoQuery):
    """The generated text (text/plain), or a zip of texts when several were asked for."""
    return sample_download(get_visible(Sample, path.sample_id))
