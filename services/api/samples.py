"""Samples: ask a job's model for text (queued for a sampling worker), read the request, download it."""

from flask import Response, g, stream_with_context
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared.db.models import Epoch, Job, Sample, SampleStatus
from shared.engine.corpus import clean
from shared.storage import NotFound
from workers import celery_app as queue

from .auth import SECURITY, get_visible, require_user, visible
from .context import enqueue_or_fail, get_db, get_object_store, paginate
from .errors import ApiError, field_error
from .schemas import (
    ErrorBody, JobPath, NoQuery, PageQuery, SampleCreate, SampleList, SampleOut, SamplePath, json_body_on,
)

CHUNK = 64 * 1024

bp = APIBlueprint(
    "samples", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="samples")],
    abp_security=SECURITY, abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)
bp.before_request(json_body_on("samples.create_sample"))


def best_epoch(job: Job) -> Epoch | None:
    """The checkpoint to sample from: lowest validation loss, else the latest."""
    with_val = [e for e in job.epochs if e.val_loss is not None]
    if with_val:
        return min(with_val, key=lambda e: (e.val_loss, -e.epoch))
    return job.epochs[-1] if job.epochs else None


def _check_seed(job: Job, seed_text: str | None) -> None:
    """The sampler drops the seed's characters outside the model's vocabulary; none left is a 422."""
    if seed_text is None:
        return
    vocabulary = job.corpus.vocabulary + "\t"  # a superset of the model's: tabs may add "\t"
    if job.hyperparameters.get("lowercase"):
        vocabulary = vocabulary.lower()
    if not set(clean(seed_text)) & set(vocabulary):
        msg = "the seed text has no character of the model's vocabulary (after cleaning)"
        raise ApiError(422, msg, [field_error("seed_text", msg)])


def sample_out(sample: Sample) -> dict:
    return SampleOut.model_validate(sample).model_dump(mode="json")


@bp.post(
    "/jobs/<int:job_id>/samples",
    responses={202: SampleOut, 400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody},
)
def create_sample(path: JobPath, body: SampleCreate, query: NoQuery):
    """Queue text generation from the job's best checkpoint so far (409 while it has none).

    The result is one text when count x temperatures is 1, otherwise one zip of texts.
    """
    job = get_visible(Job, path.job_id)
    epoch = best_epoch(job)
    if epoch is None:
        raise ApiError(409, "job has no checkpoint yet")
    _check_seed(job, body.seed_text)
    db = get_db()
    sample = Sample(
        owner_id=g.user.id, job_id=job.id, checkpoint_key=epoch.checkpoint_key, length=body.length,
        temperatures=body.temperatures, count=body.count, seed_text=body.seed_text,
        random_seed=body.random_seed, status=SampleStatus.queued,
    )
    db.add(sample)
    db.commit()
    enqueue_or_fail(sample, queue.enqueue_sampling, SampleStatus.failed, "sample")
    return sample_out(sample), 202


@bp.get("/jobs/<int:job_id>/samples", responses={200: SampleList})
def list_samples(path: JobPath, query: PageQuery):
    """Samples requested from a job, newest first."""
    job = get_visible(Job, path.job_id)
    stmt = visible(select(Sample).where(Sample.job_id == job.id), Sample).order_by(Sample.id.desc())
    items, total = paginate(stmt, query.page, query.per_page)
    return SampleList(items=[SampleOut.model_validate(s) for s in items], page=query.page,
                      per_page=query.per_page, total=total).model_dump(mode="json")


@bp.get("/samples/<int:sample_id>", responses={200: SampleOut})
def get_sample(path: SamplePath, query: NoQuery):
    """One sample request and its status."""
    return sample_out(get_visible(Sample, path.sample_id))


@bp.get(
    "/samples/<int:sample_id>/text",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}},
                          "application/zip": {"schema": {"type": "string", "format": "binary"}}}},
        409: ErrorBody,
        503: ErrorBody,
    },
)
def get_sample_text(path: SamplePath, query: NoQuery):
    """The generated text (text/plain), or a zip of texts when several were asked for."""
    return sample_response(get_visible(Sample, path.sample_id))


def sample_response(sample: Sample) -> Response:
    """Stream a finished sample from object storage (also used by the admin pages)."""
    if sample.status != SampleStatus.succeeded or not sample.object_key:
        raise ApiError(409, f"sample {sample.id} is {sample.status.value}, not succeeded")
    single = sample.count * len(sample.temperatures) == 1
    try:
        stream = get_object_store().open(sample.object_key)
    except NotFound as exc:
        raise ApiError(404, f"the text of sample {sample.id} is missing from storage") from exc

    def chunks():
        try:
            while chunk := stream.read(CHUNK):
                yield chunk
        finally:
            stream.close()

    if single:
        return Response(stream_with_context(chunks()), content_type="text/plain; charset=utf-8")
    return Response(
        stream_with_context(chunks()), mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="sample-{sample.id}.zip"'},
    )
