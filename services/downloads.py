"""Streaming stored objects to the browser or the CLI (the API and the admin pages both serve
samples this way): chunk by chunk from object storage, never whole in memory."""

from flask import Response, stream_with_context

from shared.db.models import Sample, SampleStatus
from shared.storage import NotFound

from .context import get_store
from .errors import ApiError

CHUNK = 64 * 1024


def sample_download(sample: Sample) -> Response:
    """A finished sample: one text (text/plain) or a zip of texts."""
    if sample.status != SampleStatus.succeeded or not sample.object_key:
        raise ApiError(409, f"sample {sample.id} is {SampleStatus(sample.status).value}, not succeeded")
    try:
        stream = get_store().open(sample.object_key)
    except NotFound as exc:
        raise ApiError(404, f"the text of sample {sample.id} is missing from storage") from exc

    def chunks():
        try:
            while chunk := stream.read(CHUNK):
                yield chunk
        finally:
            stream.close()

    if sample.count * len(sample.temperatures) == 1:
        return Response(stream_with_context(chunks()), content_type="text/plain; charset=utf-8")
    return Response(
        stream_with_context(chunks()),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="sample-{sample.id}.zip"'},
    )
