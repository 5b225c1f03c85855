"""The first bytes of each text of a sample's zip, read as a stream from the object's start (its
local headers: no seek, no central directory), under a byte budget: a page shows the heads of a
sample's texts having read at most `budget` bytes of it and held at most one head per text,
however large the zip. The sampling worker writes its zips to a file with ZipFile.writestr, so
every member's sizes are in its local header."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from shared.storage.base import Readable

LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # signature ... name length, extra length
LOCAL_SIGNATURE = b"PK\x03\x04"
STORED, DEFLATED = 0, 8
ENCRYPTED, SIZES_AFTER_DATA = 0x1, 0x8
CHUNK = 64 * 1024


class Budgeted:
    """A stream read at most `budget` bytes in all; `spent` counts them."""

    def __init__(self, stream: Readable, budget: int):
        self.stream, self.left, self.spent = stream, budget, 0

    def read(self, n: int) -> bytes:
        data = self.stream.read(max(0, min(n, self.left)))
        self.left -= len(data)
        self.spent += len(data)
        return data

    def skip(self, n: int) -> bool:
        """Read past `n` bytes; False when the stream or the budget ends first."""
        while n > 0:
            data = self.read(min(n, CHUNK))
            if not data:
                return False
            n -= len(data)
        return True


def zip_heads(stream: Readable, head_bytes: int, budget: int, wanted: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(name, the first `head_bytes` of its content) of each member in the zip's order (`wanted`:
    only that 0-based member's content, the others' empty), reading at most `budget` bytes. Stops
    at the central directory, at a member it cannot read as a stream (encrypted, sizes after the
    data, neither stored nor deflated) and when the budget runs out (a head already read is still
    given)."""
    source = Budgeted(stream, budget)
    index = 0
    while True:
        header = source.read(LOCAL_HEADER.size)
        if len(header) < LOCAL_HEADER.size:
            return
        signature, _version, flags, method, _time, _date, _crc, size, _raw_size, name_len, extra_len = (
            LOCAL_HEADER.unpack(header)
        )
        if signature != LOCAL_SIGNATURE or flags & (ENCRYPTED | SIZES_AFTER_DATA) or method not in (STORED, DEFLATED):
            return
        name = source.read(name_len).decode("utf-8", errors="replace")
        if not source.skip(extra_len):
            return
        head = b""
        if wanted is None or wanted == index:
            head, size = _head(source, method, size, head_bytes)
        yield name, head
        if not source.skip(size):
            return
        index += 1


def _head(source: Budgeted, method: int, size: int, head_bytes: int) -> tuple[bytes, int]:
    """The first `head_bytes` of a member's `size` bytes of data, and how many of them are left."""
    inflate = zlib.decompressobj(-zlib.MAX_WBITS) if method == DEFLATED else None
    head = b""
    while size > 0 and len(head) < head_bytes:
        data = source.read(min(size, CHUNK))
        if not data:
            break
        size -= len(data)
        try:
            head += inflate.decompress(data, head_bytes - len(head)) if inflate else data
        except zlib.error:
            break
    return head[:head_bytes], size
