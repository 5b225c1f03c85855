"""A checkpoint folder (model.keras, checkpoint.json) as a zip, streamed from object storage chunk
by chunk (never whole in memory), like the samples' downloads: the API's and the pages' download."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from flask import Response, stream_with_context

from shared.actions.checkpoints import checkpoint_files
from shared.db.models import Job
from shared.storage import NotFound

from .context import get_store
from .downloads import attachment, read_chunks


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


def checkpoint_download(job: Job, epoch: int | None = None) -> Response:
    """The epoch's (default: the best) checkpoint folder as `job-<id>-epoch-NNNN.zip` (one folder
    of that name inside)."""
    row, keys = checkpoint_files(get_store(), job, epoch)
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
