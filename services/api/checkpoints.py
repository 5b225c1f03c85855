"""Checkpoints: one epoch's checkpoint folder (model.keras, checkpoint.json) as a zip, streamed
from object storage chunk by chunk (never whole in memory), like the samples' downloads."""

import io
import zipfile
from collections.abc import Iterator

from flask import Response, stream_with_context
from flask_openapi3 import APIBlueprint, Tag
from pydantic import Field

from shared import lifecycle
from shared.db.models import Epoch, Job
from shared.storage import NotFound

from ..plumbing.context import get_store
from ..plumbing.downloads import attachment, read_chunks
from ..plumbing.errors import ApiError
from .auth import MAX_ID, SECURITY, get_visible, require_user
from .schemas import ErrorBody, JobPath, NoQuery

bp = APIBlueprint(
    "checkpoints",
    __name__,
    url_prefix="/api/v1/jobs",
    abp_tags=[Tag(name="jobs")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)


class CheckpointQuery(NoQuery):
    epoch: int | None = Field(
        None, ge=1, le=MAX_ID, description="the epoch (default: the best one, which samples are made from)"
    )


class _Sink(io.RawIOBase):
    """A write-only, unseekable file whose bytes are taken out as they come (zipfile then
    writes data descriptors instead of seeking back)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def checkpoint_files(job: Job, epoch: int | None) -> tuple[Epoch, list[str]]:
    """(the epoch's row, its stored object keys): the best epoch when `epoch` is None; ApiError
    404 when there is no such checkpoint."""
    try:
        row = lifecycle.stored_checkpoint(job, epoch)
    except lifecycle.NoCheckpoint as exc:
        raise ApiError(404, exc.message) from None
    keys = get_store().list(row.checkpoint_key.rstrip("/") + "/")
    if not keys:
        raise ApiError(404, f"the checkpoint of epoch {row.epoch} of job {job.id} is missing from storage")
    return row, keys


def checkpoint_download(job: Job, epoch: int | None = None) -> Response:
    """The epoch's (default: the best) checkpoint folder as `job-<id>-epoch-NNNN.zip` (one folder
    of that name inside)."""
    row, keys = checkpoint_files(job, epoch)
    prefix = row.checkpoint_key.rstrip("/")
    folder = f"job-{job.id}-epoch-{row.epoch:04d}"
    store = get_store()

    def chunks() -> Iterator[bytes]:
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for key in keys:
                name = f"{folder}/{key[len(prefix) + 1 :]}"
                try:
                    stream = store.open(key)
                except NotFound:
                    continue  # deleted meanwhile: the zip has what is left
                with archive.open(name, "w", force_zip64=True) as member:
                    for data in read_chunks(stream):
                        member.write(data)
                        if part := sink.take():
                            yield part
                yield sink.take()
        yield sink.take()

    return Response(
        stream_with_context(chunks()),
        mimetype="application/zip",
        headers=attachment(f"{folder}.zip"),
    )


@bp.get(
    "/<int:job_id>/checkpoint",
    responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
)
def get_checkpoint(path: JobPath, query: CheckpointQuery):
    """A checkpoint folder (model.keras, checkpoint.json) as a zip, for `charlstm sample` or Keras:
    the best epoch's (lowest validation loss, the one samples use), or `epoch`'s."""
    return checkpoint_download(get_visible(Job, path.job_id), query.epoch)
