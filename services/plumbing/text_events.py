"""A sample's text as it is written, as Server-Sent Events (the API's
GET /api/v1/samples/{id}/stream and the sample page's own route answer with `text_stream`): the
events of shared.actions.samples.follow_text, each `text` event's id the character offset reached,
so that an EventSource that reconnects (Last-Event-ID) or a client passing `?offset=` resumes
where it stopped. A response lasts SAMPLE_STREAM_SECONDS at most and ends with `retry:` (the
client reconnects); one process serves SAMPLE_STREAMS of them at once (each holds one of the
server's SERVE_THREADS), 503 beyond."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

from flask import Response, current_app, request

from shared.actions import samples
from shared.actions.samples import TextEvent
from shared.db.models import User
from shared.db.session import web_sessionmaker

from .context import get_db, get_store, settings
from .errors import ApiError

SLOTS = "charlstm.text_streams"
RETRY_MS = 1000  # the client's reconnection delay once a response ends without the sample's end
BUSY = {"Retry-After": "2"}


def resume_offset(offset: int | None) -> int:
    """Where to start: `?offset=`, else the Last-Event-ID an EventSource sends when it reconnects, else 0."""
    if offset is not None:
        return max(0, offset)
    last = request.headers.get("Last-Event-ID", "").strip()
    return int(last) if last.isdigit() else 0


def text_stream(user: User, sample_id: int, text_index: int, offset: int) -> Response:
    """The text/event-stream answer (ApiError 503 when this process already serves its
    SAMPLE_STREAMS streams; the action's NotFound and Invalid as they are)."""
    s = settings()
    slots = current_app.extensions.setdefault(SLOTS, threading.BoundedSemaphore(s.sample_streams))
    if not slots.acquire(blocking=False):
        raise ApiError(503, f"this server already streams {s.sample_streams} texts; try again", headers=BUSY)
    try:
        events = samples.follow_text(
            get_db(),
            user,
            sample_id,
            text_index,
            offset,
            sessions=web_sessionmaker(current_app.config["DATABASE_URL"], s.dependency_timeout, s.statement_timeout),
            store=get_store(),
            seconds=s.sample_stream_seconds,
        )
    except BaseException:
        slots.release()
        raise
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(_body(events, slots), mimetype="text/event-stream", headers=headers)


def _body(events: Iterator[TextEvent], slots: threading.BoundedSemaphore) -> Iterator[str]:
    try:
        yield f"retry: {RETRY_MS}\n\n"
        for event in events:
            yield sse(event)
            if event.kind == "end":
                return
        yield ": the client resumes from its last id\n\n"
    finally:
        slots.release()


def sse(event: TextEvent) -> str:
    """One event as the wire carries it: its data a JSON object (text may hold any character,
    line ends included, which SSE's own data lines would not keep)."""
    if event.kind == "text":
        return f"id: {event.offset}\nevent: text\ndata: {json.dumps({'text': event.text})}\n\n"
    if event.kind == "end":
        data = {"status": event.status, "error": event.error, "offset": event.offset}
        return f"event: end\ndata: {json.dumps(data)}\n\n"
    return f": {event.status or 'waiting'}\n\n"
