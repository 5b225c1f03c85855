"""`charlstm sample JOB --follow`: the sample's first text printed as it is written, read from
the service's text stream (GET /api/v1/samples/{id}/stream, Server-Sent Events). A response that
ends before the sample does (the server bounds each one), a dropped connection or a 5xx is
resumed from the last offset received; the stream's `end` event says how the sample ended."""

from __future__ import annotations

import codecs
import json
import sys
import time
from collections.abc import Iterator
from typing import TextIO

import requests

from .http import ApiClient, ClientError

RETRIES = 30  # consecutive failed connections before giving up
RETRY_SECONDS = 1.0


def follow_sample(client: ApiClient, sample_id: int, text: int = 0, out: TextIO | None = None) -> dict:
    """Print text `text` of the sample on `out` (stdout) as it comes; return the sample as the API
    answers once it has ended."""
    out = out or sys.stdout
    offset, failures = 0, 0
    while True:
        try:
            with client.request(
                "GET", f"samples/{sample_id}/stream", params={"offset": offset, "text": text}, stream=True
            ) as response:
                failures = 0
                for event, event_id, data in events(response):
                    if event == "text":
                        out.write(data["text"])
                        out.flush()
                        offset = int(event_id) if event_id else offset + len(data["text"])
                    elif event == "end":
                        out.write("\n")
                        out.flush()
                        return client.get(f"samples/{sample_id}")
        except (ClientError, requests.RequestException) as exc:
            status = getattr(exc, "status", None)
            if (status is not None and status < 500) or failures + 1 >= RETRIES:
                raise
            failures += 1
            print(f"\nthe text stream broke off ({exc}); resuming at character {offset}", file=sys.stderr)
            time.sleep(RETRY_SECONDS)


def events(response: requests.Response) -> Iterator[tuple[str, str | None, dict]]:
    """(event, id, data as JSON) of each named event of an SSE response, as they arrive
    (comments, `retry:` and events without a name are skipped)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    for chunk in response.iter_content(chunk_size=None):
        buffer += decoder.decode(chunk)
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.splitlines():
                if line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value
            if "event" in fields and "data" in fields:
                yield fields["event"], fields.get("id"), json.loads(fields["data"])
