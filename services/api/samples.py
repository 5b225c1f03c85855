"""Samples: ask a job's model for text (queued for a sampling worker), read the request, download it."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared.actions import samples
from shared.actions.inputs import NoQuery, SampleCreate
from shared.db.models import Job, Sample

from ..plumbing.context import get_celery, get_db, settings
from ..plumbing.downloads import sample_download
from ..plumbing.text_events import resume_offset, text_stream
from .auth import SECURITY, get_visible, require_user, visible
from .common import paginate
from .hooks import json_body_on
from .schemas.common import ErrorBody, PageQuery
from .schemas.jobs import JobPath
from .schemas.samples import SampleList, SampleOut, SamplePath, StreamQuery

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
    sample = samples.create_sample(
        get_db(), get_celery(), g.user, path.job_id, body, default_precision=settings().sample_precision
    )
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
    return sample_out(samples.cancel_sample(get_db(), get_celery(), g.user, path.sample_id))


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


@bp.get(
    "/samples/<int:sample_id>/stream",
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}, 503: ErrorBody},
)
def stream_sample_text(path: SamplePath, query: StreamQuery):
    """The text as it is written, as Server-Sent Events, from the sample's first chunk on.

    `text` events carry `{"text": ...}`, their id the character offset reached: reconnect with
    `Last-Event-ID` (an EventSource does) or `?offset=` to resume. While queued, keep-alive comments;
    once the sample has ended, the rest from its stored text (the authority), then an `end` event
    `{"status", "error", "offset"}` (the reason for a failed or cancelled one). A response lasts
    SAMPLE_STREAM_SECONDS at most, then ends (with `retry:`) for the client to resume; 503 when this
    server already streams SAMPLE_STREAMS texts.
    """
    return text_stream(g.user, path.sample_id, query.text, resume_offset(query.offset))
