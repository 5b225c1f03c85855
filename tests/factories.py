"""Builders of test records: the one place that knows which columns a row needs, so that a test
names only the values it is about. A builder returns the row unsaved; the caller adds it to its
own session (and commits or flushes as its test needs)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from shared.db.models import Corpus, Epoch, Sample

SMALL_VOCABULARY = "abcde"


def corpus_row(*, text: str | bytes | None = None, chars: int = 10, **fields: Any) -> Corpus:
    """A Corpus row. With `text` (the corpus's content, as stored or decoded) its size, hash and
    vocabulary are the text's; without, it describes `chars` characters of `vocabulary` (a few
    letters unless given) with a zero hash. Any column can be given in `fields` (`owner` or
    `owner_id` is needed); `clean_chars` and the unique counts default to the raw figures."""
    if text is not None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        decoded = data.decode("utf-8", errors="replace")
        figures: dict[str, Any] = {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "raw_chars": len(decoded),
            "vocabulary": "".join(sorted(set(decoded))),
        }
    else:
        figures = {"bytes": chars, "sha256": "0" * 64, "raw_chars": chars, "vocabulary": SMALL_VOCABULARY}
    row = {"name": "c.txt", "object_key": f"corpora/{uuid.uuid4().hex}.txt", **figures, **fields}
    unique = len(row["vocabulary"])
    row = {"clean_chars": row["raw_chars"], "raw_unique": unique, "clean_unique": unique, **row}
    return Corpus(**row)


def epoch_row(epoch: int = 1, **fields: Any) -> Epoch:
    """An Epoch row (a recorded epoch and its checkpoint): loss 1.0, validation loss 1.1, a second
    at 10 characters a second, its checkpoint under `jobs/<job_id or x>/epoch-NNNN` unless given.
    `job_id` is needed unless the row is appended to a job's `epochs`."""
    key = f"jobs/{fields.get('job_id', 'x')}/epoch-{epoch:04d}"
    row = {"loss": 1.0, "val_loss": 1.1, "seconds": 1.0, "chars_per_second": 10.0, "checkpoint_key": key}
    return Epoch(epoch=epoch, **{**row, **fields})


def sample_row(**fields: Any) -> Sample:
    """A Sample row: one text of 10 characters at temperature 0.5 from checkpoint `k`, unless given.
    `owner_id` and `job_id` are needed."""
    return Sample(**{"checkpoint_key": "k", "length": 10, "temperatures": [0.5], "count": 1, **fields})
