"""Streaming stored objects to the browser or the CLI (the API and the pages serve samples,
analyses and checkpoints this way): chunk by chunk from object storage, never whole in memory.
`stream_object` is the one owner of a single object's download (its content type, its attachment
name, 404 when the object is missing); `read_chunks` of reading a stored stream in chunks."""

from collections.abc import Iterator

from flask import Response, stream_with_context

from shared.db.models import Analysis, Sample, WorkStatus
from shared.storage import NotFound, ObjectReader

from .context import get_store
from .errors import ApiError

CHUNK = 64 * 1024


def read_chunks(stream: ObjectReader) -> Iterator[bytes]:
    """The stream's bytes, CHUNK at a time; the stream is closed at the end (or when the reader
    stops early)."""
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


def stream_object(key: str, content_type: str, missing: str, filename: str | None = None) -> Response:
    """The stored object `key` as the response body, streamed; an attachment named `filename`
    when given. ApiError 404 with `missing` when the object is not in storage."""
    try:
        stream = get_store().open(key)
    except NotFound as exc:
        raise ApiError(404, missing) from exc
    headers = attachment(filename) if filename else None
    return Response(stream_with_context(read_chunks(stream)), content_type=content_type, headers=headers)


def attachment(filename: str) -> dict[str, str]:
    """The header that makes a download save as `filename`."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def sample_download(sample: Sample) -> Response:
    """A finished sample: one text (text/plain, shown in a browser, saved as `sample-ID.txt`)
    or a zip of texts (`sample-ID.zip`)."""
    if sample.status != WorkStatus.succeeded or not sample.object_key:
        raise ApiError(409, f"sample {sample.id} is {WorkStatus(sample.status).value}, not succeeded")
    missing = f"the text of sample {sample.id} is missing from storage"
    if sample.count * len(sample.temperatures) == 1:
        response = stream_object(sample.object_key, "text/plain; charset=utf-8", missing)
        response.headers["Content-Disposition"] = f'inline; filename="sample-{sample.id}.txt"'
        return response
    return stream_object(sample.object_key, "application/zip", missing, filename=f"sample-{sample.id}.zip")


def analysis_download(analysis: Analysis) -> Response:
    """A finished analysis's result (JSON)."""
    if analysis.status != WorkStatus.succeeded or not analysis.object_key:
        raise ApiError(409, f"analysis {analysis.id} is {WorkStatus(analysis.status).value}, not succeeded")
    missing = f"the result of analysis {analysis.id} is missing from storage"
    return stream_object(analysis.object_key, "application/json", missing)
