"""The first bytes of each text of a sample's zip, read as a stream from the object's start
(stream-unzip: local headers, no seek, no central directory), under a byte budget: a page shows
the heads of a sample's texts having read at most `budget` bytes of it and held at most one head
per text, however large the zip."""

from __future__ import annotations

from collections.abc import Iterator

from stream_unzip import UnzipError, stream_unzip

from shared.storage.base import Readable

CHUNK = 64 * 1024


def _chunks(stream: Readable, budget: int) -> Iterator[bytes]:
    """The stream's bytes, `budget` of them at most."""
    left = budget
    while left > 0:
        data = stream.read(min(CHUNK, left))
        if not data:
            return
        left -= len(data)
        yield data


def zip_heads(stream: Readable, head_bytes: int, budget: int, wanted: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(name, the first `head_bytes` of its content) of each member in the zip's order (`wanted`:
    only that 0-based member's content, the others' empty), reading at most `budget` bytes. Stops
    at what it cannot read (a damaged or truncated zip) and when the budget runs out; a head
    already read is still given."""
    members = stream_unzip(_chunks(stream, budget))
    index = 0
    while True:
        try:
            name, _size, content = next(members)
        except (StopIteration, UnzipError, ValueError):
            return  # the last member, or the zip cut at the read budget: the members read so far stand
        head, keep = b"", wanted is None or wanted == index
        try:
            for chunk in content:  # read to its end: the next member starts after it
                if keep and len(head) < head_bytes:
                    head += chunk[: head_bytes - len(head)]
        except (UnzipError, ValueError):
            if head:
                yield name.decode("utf-8", errors="replace"), head
            return
        yield name.decode("utf-8", errors="replace"), head
        index += 1
