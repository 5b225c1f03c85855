"""A running sample's text as it is written: the sampling task hands each text's new characters
to `TextPublisher.write` as the batch produces them (no database call there: the batch thread
steps every stream); a daemon thread appends what was written since through the lifecycle
(`append_pieces`, only while this attempt holds its lease) at once and then at most every WRITE_INTERVAL seconds,
and `flush()` writes the rest at once. The text stream of the API and the pages reads the pieces.
Best effort: a failed write is logged and its text kept for the next; once the attempt no longer
holds the sample (cancelled, lost, handed back) nothing more is written."""

from __future__ import annotations

import contextvars
import logging
import threading
import time

from shared import lifecycle
from shared.db.retry import run_in_session

log = logging.getLogger(__name__)

# seconds between two writes of a sample's pieces (the first is written at once): each write is a
# transaction, and a worker stepping 16 streams writes 16 of them per interval
WRITE_INTERVAL = 1.0
IDLE_SECONDS = 5.0  # the writer thread ends after this long with nothing written (a later write restarts it)


class TextPublisher:
    def __init__(
        self, sample_id: int, lease: str, texts: int, interval: float = WRITE_INTERVAL, db_url: str | None = None
    ):
        self.sample_id, self.lease, self.texts = sample_id, lease, texts
        self.interval, self.db_url = max(interval, 0.01), db_url
        self.offsets = [0] * texts  # characters of each text handed to a write so far
        self.held = True  # False once the attempt no longer holds the sample: nothing more is written
        self._pending: list[tuple[int, int, str]] = []
        self._lock = threading.Lock()  # guards _pending, offsets and the thread
        self._flushing = threading.Lock()  # one write at a time, in order
        self._thread: threading.Thread | None = None
        self._closed = False

    def write(self, text_index: int, piece: str) -> None:
        """Queue the next characters of text `text_index` (written within WRITE_INTERVAL)."""
        if not piece or not self.held:
            return
        with self._lock:
            offset = self.offsets[text_index]
            self.offsets[text_index] = offset + len(piece)
            if self._pending and self._pending[-1][0] == text_index:
                index, start, text = self._pending[-1]
                self._pending[-1] = (index, start, text + piece)
            else:
                self._pending.append((text_index, offset, piece))
            if not self._closed and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=contextvars.copy_context().run,
                    args=(self._run,),
                    name=f"text-stream-{self.sample_id}",
                    daemon=True,
                )  # the creator's log ids (shared.logs.log_context) go with it
                self._thread.start()

    def flush(self) -> bool:
        """Write what is pending now; False when the attempt no longer holds the sample."""
        with self._flushing:
            with self._lock:
                pieces, self._pending = self._pending, []
            if not pieces or not self.held:
                return self.held
            try:
                self.held = run_in_session(
                    lambda s: lifecycle.append_pieces(s, self.sample_id, self.lease, pieces),
                    "writing the sample's text as it comes",
                    self.db_url,
                    seconds=max(self.interval, 1.0),
                )
            except Exception as exc:  # noqa: BLE001  the text is kept for the next write
                log.warning("sample %s: text not written as it came: %s", self.sample_id, exc)
                with self._lock:
                    self._pending = _merged(pieces + self._pending)
            return self.held

    def close(self) -> None:
        """Write the rest and stop the writer thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, self.interval * 5))
        self.flush()

    def __enter__(self) -> TextPublisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        idle_since = time.monotonic()
        while not self._closed and self.held:
            with self._lock:
                if not self._pending:
                    if time.monotonic() - idle_since > IDLE_SECONDS:
                        self._thread = None
                        return
                    pending = False
                else:
                    pending = True
            if pending:  # the first pieces at once, then at most every interval
                idle_since = time.monotonic()
                self.flush()
            time.sleep(self.interval)


def _merged(pieces: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Consecutive pieces of one text joined into one."""
    out: list[tuple[int, int, str]] = []
    for index, offset, text in pieces:
        if out and out[-1][0] == index and out[-1][1] + len(out[-1][2]) == offset:
            out[-1] = (index, out[-1][1], out[-1][2] + text)
        else:
            out.append((index, offset, text))
    return out
