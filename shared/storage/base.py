"""The object store interface shared by the local directory and S3 backends.

Keys look like relative paths: `corpora/<uuid>.txt`, `jobs/7/epoch-0003/model.keras`. Only
`[A-Za-z0-9._/-]` is allowed, no empty, `.` or `..` segments, no leading or trailing `/`.
A "directory" (`put_dir`/`get_dir`) is every key under `prefix + "/"`.
"""

from __future__ import annotations

import builtins
import functools
import io
import logging
import os
import re
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
_KEY_RE = re.compile(r"[A-Za-z0-9._/-]+")
T = TypeVar("T")


class Readable(Protocol):
    """What put_stream reads from: a binary stream (a file, a request body, a wrapping reader)."""

    def read(self, size: int = -1, /) -> bytes: ...


class StorageError(Exception):
    """The store failed or rejected the request."""


class NotFound(StorageError):
    """No object (or no directory) under that key."""


class TransientStorageError(StorageError):
    """A connection-level failure worth retrying."""


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise StorageError(f"invalid object key {key!r}: only letters, digits and . _ / - are allowed")
    if any(part in ("", ".", "..") for part in key.split("/")) or ".." in key:
        raise StorageError(f"invalid object key {key!r}: empty or '.' path segment, or '..'")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key optionally followed by `/`."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


MAX_BACKOFF = 60.0  # seconds: the longest wait between two attempts


def with_retries(fn: Callable[[], T], attempts: int, delay: float, what: str) -> T:
    """Call fn, retrying TransientStorageError with exponential backoff (delay, 2*delay, ...,
    at most MAX_BACKOFF)."""
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return fn()
        except TransientStorageError as exc:
            if attempt >= attempts:
                raise
            wait = min(MAX_BACKOFF, delay * 2 ** (attempt - 1))
            log.warning("%s failed (attempt %d/%d): %s; retrying in %.1fs", what, attempt, attempts, exc, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


class ObjectReader:
    """A readable binary stream over one object; iterating yields chunks of `chunk_size` bytes."""

    def __init__(self, raw, chunk_size: int = 64 * 1024, errors: Callable[[Exception], Exception] | None = None):
        self._raw = raw
        self.chunk_size = chunk_size
        self._errors = errors

    def read(self, n: int = -1) -> bytes:
        try:
            return self._raw.read() if n is None or n < 0 else self._raw.read(n)
        except Exception as exc:  # map backend errors (connection resets) to StorageError
            if self._errors is None:
                raise
            raise self._errors(exc) from exc

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(self.chunk_size):
            yield chunk

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ObjectStore(ABC):
    """Abstract store. Subclasses implement the abstract methods; the rest is built on them."""

    retries: int = 4
    retry_delay: float = 0.5

    # --- primitives -------------------------------------------------------------------------
    @abstractmethod
    def put_stream(self, key: str, fileobj: Readable) -> int:
        """Store everything read from fileobj (in chunks) under key; return the byte count."""

    @abstractmethod
    def open(self, key: str) -> ObjectReader:
        """A binary stream of the object; raises NotFound."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int:
        """Object size in bytes; raises NotFound."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with prefix (a plain string prefix, as in S3)."""

    @abstractmethod
    def list_modified(self, prefix: str = "") -> dict[str, datetime]:
        """Keys starting with prefix, each with when it was last written (aware UTC)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""

    @abstractmethod
    def check(self) -> None:
        """Raise StorageError when the store cannot be reached or written."""

    # --- conveniences -----------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> int:
        return self.put_stream(key, io.BytesIO(data))

    def put_file(self, key: str, path: str | os.PathLike) -> int:
        with open(path, "rb") as f:
            return self.put_stream(key, f)

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def get_file(self, key: str, path: str | os.PathLike) -> int:
        """Download key to path (atomically: a temp file beside it, then rename); return bytes."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, self.open(key) as src:
                shutil.copyfileobj(src, out, CHUNK_SIZE)
                size = out.tell()
            os.replace(tmp, path)
            return size
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under prefix; return how many."""
        keys = self.list(validate_prefix(prefix))
        for key in keys:
            self.delete(key)
        return len(keys)

    def retrying(self, fn: Callable[[], T], what: str) -> T:
        """fn() with this store's retries and backoff on connection errors."""
        return with_retries(fn, self.retries, self.retry_delay, what)

    def put_dir(self, prefix: str, folder: str | os.PathLike) -> builtins.list[str]:
        """Upload every file under folder to `prefix/<relative path>`; return the keys.

        Each file is retried with exponential backoff on connection errors.
        """
        validate_key(prefix)
        folder = Path(folder)
        if not folder.is_dir():
            raise StorageError(f"not a directory: {folder}")
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            validate_key(key)
            self.retrying(functools.partial(self.put_file, key, path), f"upload {key}")
            keys.append(key)
        return keys

    def get_dir(self, prefix: str, folder: str | os.PathLike) -> builtins.list[Path]:
        """Download every key under `prefix/` into folder; raises NotFound when there is none."""
        validate_key(prefix)
        folder = Path(folder)
        keys = self.retrying(lambda: self.list(prefix + "/"), f"list {prefix}/")
        if not keys:
            raise NotFound(f"no objects under {prefix}/")
        paths = []
        for key in keys:
            validate_key(key)  # a key written by someone else must not escape the folder
            path = folder.joinpath(*key[len(prefix) + 1 :].split("/"))
            self.retrying(functools.partial(self.get_file, key, path), f"download {key}")
            paths.append(path)
        return paths
