"""The embedded broker: kombu's filesystem transport, made safe for several processes at once.

kombu's own transport writes every message file and exchange table in place: a reader polling the
folder can open a message file that is still empty or half written and raise JSONDecodeError,
which stops a Celery worker ("Unrecoverable error"). Here:

- every file is written under a hidden temporary name in its folder and renamed into place, so a
  reader sees a whole file or none;
- a reader claims a message by renaming it into the processed folder (one reader wins; the same
  filesystem, so the rename is atomic), then decodes it. A file that does not decode is never an
  error for the worker: one changed within INCOMPLETE_GRACE seconds (an in-place writer may still
  be writing) is put back and read again later; an older one is moved to the quarantine folder and
  logged;
- an exchange table is changed under an exclusive lock of its own (read, change, rename into place)
  and read without one.

`shared.queue.make_celery` selects this transport (`broker_transport`) for `filesystem://` URLs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

log = logging.getLogger("charlstm.broker")

INCOMPLETE_GRACE = 5.0  # seconds a message file that does not decode may still be being written
TABLE_READ_TRIES = 5  # reads of an exchange table that does not decode, TABLE_RETRY_DELAY apart
TABLE_RETRY_DELAY = 0.02


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a hidden temporary file in the same folder and a rename."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _decode(data: bytes):
    """The JSON value in `data`; ValueError (JSONDecodeError, UnicodeDecodeError) if it is not one."""
    return loads(data.decode("utf-8"))


class Channel(filesystem.Channel):
    """Atomic writes, claims by rename, and undecodable messages skipped (see the module docstring)."""

    # ---- messages ----------------------------------------------------------------------------

    def _put(self, queue, message, **kwargs):  # type: ignore[override] # kombu's filesystem signature
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = Path(self.data_folder_out) / name
        try:
            write_atomically(path, dumps(message).encode("utf-8"))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {str(path)!r} to directory") from exc

    def _get(self, queue, timeout=None):
        suffix = f"{queue}.msg"
        inbox, claimed_dir = Path(self.data_folder_in), Path(self.processed_folder)
        claimed_dir.mkdir(parents=True, exist_ok=True)  # a missing folder would fail every claim
        for name in sorted(os.listdir(inbox)):
            if name.startswith(".") or name.partition(".")[2] != suffix:
                continue
            claimed = claimed_dir / name
            try:
                os.rename(inbox / name, claimed)  # another reader was first, or it is gone: the next one
            except OSError:
                continue
            try:
                data = claimed.read_bytes()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {str(claimed)!r} from queue.") from exc
            try:
                payload = _decode(data)
            except ValueError as exc:
                self._set_aside(claimed, inbox / name, len(data), exc)
                continue
            if not self.store_processed:
                with contextlib.suppress(OSError):
                    claimed.unlink()
            return payload
        raise Empty()

    def _set_aside(self, claimed: Path, inbox_path: Path, size: int, error: ValueError) -> None:
        """An undecodable message: back to the queue while it may still be being written, else to
        the quarantine folder (or deleted when none is configured); never an exception."""
        with contextlib.suppress(OSError):
            if time.time() - claimed.stat().st_mtime < INCOMPLETE_GRACE:
                os.rename(claimed, inbox_path)
                return
        quarantine = self.quarantine_folder
        where = "deleted"
        with contextlib.suppress(OSError):
            if quarantine is not None:
                quarantine.mkdir(parents=True, exist_ok=True)
                os.rename(claimed, quarantine / claimed.name)
                where = f"moved to {quarantine}"
            else:
                claimed.unlink()
        log.error("skipped a malformed broker message %s (%d bytes, %s): %s", claimed.name, size, error, where)

    @property
    def processed_folder(self):
        """Claimed messages go here (kombu: the system temp dir unless store_processed, which may be
        another filesystem, where a move is a copy that two readers can both make)."""
        return self.transport_options.get("processed_folder") or os.path.join(self.data_folder_in, ".claimed")

    @property
    def quarantine_folder(self) -> Path | None:
        folder = self.transport_options.get("quarantine_folder")
        return Path(folder) if folder else None

    # ---- exchange tables ----------------------------------------------------------------------

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        for attempt in range(TABLE_READ_TRIES):
            try:
                data = file.read_bytes()
            except FileNotFoundError:
                return []
            except OSError as exc:
                raise ChannelError(f"Cannot open {file}") from exc
            try:
                return [filesystem.exchange_queue_t(*entry) for entry in _decode(data)]
            except (ValueError, TypeError) as exc:
                if attempt == TABLE_READ_TRIES - 1:  # a publish fails (and is retried) rather than going nowhere
                    raise ChannelError(f"Cannot read the exchange table {file}: {exc}") from exc
                time.sleep(TABLE_RETRY_DELAY)
        return []  # pragma: no cover - the loop returns or raises

    @contextlib.contextmanager
    def _changing_table(self, exchange) -> Iterator[list]:
        """The exchange's table, under its lock; what the block leaves in the list is written back."""
        file = self._exchange_file(exchange)
        try:
            self.control_folder.mkdir(parents=True, exist_ok=True)
            with open(file.with_name(f".{file.name}.lock"), "a+b") as lock_file:
                filesystem.lock(lock_file, filesystem.LOCK_EX)
                try:
                    try:
                        before = [filesystem.exchange_queue_t(*entry) for entry in _decode(file.read_bytes())]
                    except FileNotFoundError:
                        before = []
                    except (ValueError, TypeError) as exc:
                        log.error("the exchange table %s did not decode (%s); starting it again", file, exc)
                        before = []
                    table = list(before)
                    yield table
                    if table != before:
                        write_atomically(file, dumps(table).encode("utf-8"))
                finally:
                    filesystem.unlock(lock_file)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._changing_table(exchange) as table:
            if entry not in table:
                table.insert(0, entry)

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._changing_table(exchange) as table:
            if entry in table:
                table.remove(entry)


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the channel above (same URL, `filesystem://`)."""

    Channel = Channel

    @property
    def default_connection_params(self) -> dict:
        """A folder, not a host: no default hostname (kombu warns "No hostname was supplied" on
        every connection when it falls back to one)."""
        return {}
