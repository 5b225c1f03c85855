"""Objects as files under one directory (the embedded default and tests).

Writes are atomic: a temp file in the target's directory, then os.replace. Temp names contain
`~`, which keys cannot, so listings never show them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from .base import CHUNK_SIZE, NotFound, ObjectReader, ObjectStore, Readable, StorageError, validate_key, validate_prefix

_TMP_PREFIX = ".~tmp-"


class LocalStore(ObjectStore):
    def __init__(self, root: str | os.PathLike, retries: int = 4, retry_delay: float = 0.5):
        self.root = Path(root).resolve()
        self.retries = retries
        self.retry_delay = retry_delay

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put_stream(self, key: str, fileobj: Readable) -> int:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        except OSError as exc:
            raise StorageError(f"cannot write {key}: {exc}") from exc
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := fileobj.read(CHUNK_SIZE):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            return size
        except OSError as exc:
            raise StorageError(f"cannot write {key}: {exc}") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)

    def put_file(self, key: str, path: str | os.PathLike) -> int:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; only opening errors are mapped
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        with f:
            return self.put_stream(key, f)

    def open(self, key: str) -> ObjectReader:
        path = self._path(key)
        try:
            return ObjectReader(open(path, "rb"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(key)
        return path.stat().st_size

    def list(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        base = self.root.joinpath(*prefix.rpartition("/")[0].split("/")) if "/" in prefix else self.root
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def list_modified(self, prefix: str = "") -> dict[str, datetime]:
        modified = {}
        for key in self.list(prefix):
            with contextlib.suppress(FileNotFoundError):  # deleted since the listing
                modified[key] = datetime.fromtimestamp(self._path(key).stat().st_mtime, UTC)
        return modified

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except IsADirectoryError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=_TMP_PREFIX):
                pass
        except OSError as exc:
            raise StorageError(f"object directory {self.root} is not writable: {exc}") from exc
