"""Uploading a corpus: streamed to object storage and, in the same pass, counted, hashed and checked
by the engine's corpus statistics (strict UTF-8, no binary data, at least 2 distinct characters
after cleaning), then recorded within the user's corpora and storage quotas. A refused upload keeps
nothing: its object is deleted."""

from __future__ import annotations

import logging
import os
import unicodedata
from typing import IO

from sqlalchemy.orm import Session

from ..db.models import Corpus
from ..engine.data.corpus import CorpusError
from ..engine.data.stats import CorpusStatsBuilder
from ..lifecycle.quotas import check_corpus_quota, corpus_charge, lock_user
from ..storage import ObjectStore
from ..storage.keys import new_corpus_key
from .errors import Invalid, TooLarge, field_error

log = logging.getLogger(__name__)


class UploadReader:
    """The upload as object storage reads it: every chunk also goes through the engine's corpus
    statistics (which count and hash it, and stop at NUL bytes or invalid UTF-8), and reading
    past `limit` bytes is TooLarge."""

    def __init__(self, stream: IO[bytes], stats: CorpusStatsBuilder, limit: int):
        self.stream, self.stats, self.limit = stream, stats, limit
        self.refused: CorpusError | TooLarge | None = None  # why reading stopped

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        try:
            if self.stats.bytes + len(chunk) > self.limit:
                raise TooLarge(f"the upload is over {self.limit:,} bytes")
            self.stats.feed(chunk)
        except (CorpusError, TooLarge) as exc:
            self.refused = exc
            raise
        return chunk


def default_name(filename: str | None) -> str:
    """A corpus's name from its file name: the base name, printable characters, at most 128."""
    base = os.path.basename((filename or "").replace("\\", "/"))
    base = unicodedata.normalize("NFC", base)
    return "".join(ch for ch in base if ch.isprintable()).strip()[:128] or "corpus"


def upload_corpus(
    session: Session, store: ObjectStore, user_id: int, *, name: str, stream: IO[bytes], max_bytes: int
) -> Corpus:
    """Store and record an upload (committed). Invalid text is Invalid (on the `file` field), more than
    `max_bytes` is TooLarge, past a quota is QuotaExceeded; each keeps nothing. No transaction stays
    open while the upload streams; the user's row is locked while the exact size is checked."""
    session.rollback()
    key = new_corpus_key()
    builder = CorpusStatsBuilder(name)
    reader = UploadReader(stream, builder, max_bytes)
    try:
        store.put_stream(key, reader)
        stats = builder.finish()
        check_corpus_quota(session, lock_user(session, user_id), adding=corpus_charge(builder.bytes, stats.clean_chars))
        corpus = Corpus(
            owner_id=user_id,
            name=name,
            object_key=key,
            bytes=builder.bytes,
            sha256=builder.sha256,
            raw_chars=stats.raw_chars,
            raw_unique=stats.raw_unique,
            clean_chars=stats.clean_chars,
            clean_unique=stats.clean_unique,
            vocabulary=stats.vocabulary,
        )
        session.add(corpus)
        session.commit()
    except BaseException as exc:
        _discard(store, key)
        error = reader.refused or exc  # the store may have wrapped the reader's exception
        if isinstance(error, CorpusError):
            raise Invalid(str(error), [field_error("file", str(error), "corpus_error")]) from exc
        if isinstance(error, TooLarge):
            raise error from None
        raise
    return corpus


def _discard(store: ObjectStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:
        log.warning("could not delete %s", key, exc_info=True)
