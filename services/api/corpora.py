"""Corpora: upload a text (streamed to object storage), list them, read one."""

import hashlib
import os
import unicodedata
from uuid import uuid4

from flask import current_app, g, request
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from shared.db.models import Corpus
from shared.engine.corpus import CorpusError, CorpusStats, corpus_stats, decode_bytes

from .auth import SECURITY, get_visible, require_user, visible
from .context import get_db, get_object_store, paginate
from .errors import ApiError, field_error
from .schemas import CorpusForm, CorpusList, CorpusOut, CorpusPath, ErrorBody, NoQuery, PageQuery

bp = APIBlueprint(
    "corpora", __name__, url_prefix="/api/v1/corpora", abp_tags=[Tag(name="corpora")],
    abp_security=SECURITY, abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)

FORM_SLACK = 64 * 1024  # multipart boundaries and the name field, on top of the file itself


@bp.before_request
def _upload_limit() -> None:
    if request.endpoint == "corpora.upload_corpus":
        request.max_content_length = current_app.config["SETTINGS"].max_upload_bytes + FORM_SLACK


class HashingReader:
    """Wraps an upload stream: SHA-256 and byte count as it is read; 413 past `limit` bytes."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit = stream, limit
        self.sha256, self.bytes = hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.bytes += len(chunk)
        if self.too_large:
            raise RequestEntityTooLarge()
        self.sha256.update(chunk)
        return chunk

    @property
    def too_large(self) -> bool:
        return self.bytes > self.limit


def _default_name(filename: str | None) -> str:
    base = os.path.basename((filename or "").replace("\\", "/"))
    base = unicodedata.normalize("NFC", base)
    return "".join(ch for ch in base if ch.isprintable()).strip()[:128] or "corpus"


def _read_back(file, store, key: str) -> bytes:
    stream = file.stream
    if stream.seekable():  # Werkzeug spools uploads to a local temporary file
        stream.seek(0)
        return stream.read()
    return store.get_bytes(key)


def _usable(stats: CorpusStats) -> CorpusStats:
    """The checks `prepare` makes before training, made at upload time."""
    if stats.clean_chars == 0:
        raise CorpusError("corpus is empty after cleaning")
    if stats.clean_unique < 2:
        raise CorpusError(
            f"corpus has only {stats.clean_unique} distinct character after cleaning; at least 2 are needed"
        )
    return stats


@bp.post("", responses={201: CorpusOut, 413: ErrorBody, 503: ErrorBody})
def upload_corpus(form: CorpusForm, query: NoQuery):
    """Upload a corpus: multipart `file` (UTF-8 text) and an optional `name`.

    The file is streamed to object storage, then decoded strictly and cleaned for its statistics.
    Invalid UTF-8, binary data, an empty file or fewer than 2 distinct characters after cleaning
    answer 422 and store nothing.
    """
    store = get_object_store()
    name = form.name or _default_name(form.file.filename)
    key = f"corpora/{uuid4().hex}.txt"  # never built from user input
    reader = HashingReader(form.file.stream, current_app.config["SETTINGS"].max_upload_bytes)
    try:
        store.put_stream(key, reader)
        data = _read_back(form.file, store, key)
        stats = _usable(corpus_stats(decode_bytes(data, name, errors="strict"), raw_bytes=reader.bytes))
        corpus = Corpus(
            owner_id=g.user.id, name=name, object_key=key,
            bytes=reader.bytes, sha256=reader.sha256.hexdigest(), raw_chars=stats.raw_chars,
            raw_unique=stats.raw_unique, clean_chars=stats.clean_chars, clean_unique=stats.clean_unique,
            vocabulary=stats.vocabulary,
        )
        db = get_db()
        db.add(corpus)
        db.commit()
    except CorpusError as exc:
        _discard(store, key)
        raise ApiError(422, str(exc), [field_error("file", str(exc), "corpus_error")]) from exc
    except BaseException:
        _discard(store, key)
        if reader.too_large:  # whatever the store made of the reader's exception
            raise RequestEntityTooLarge() from None
        raise
    return CorpusOut.model_validate(corpus).model_dump(mode="json"), 201


def _discard(store, key: str) -> None:
    try:
        store.delete(key)
    except Exception:  # noqa: BLE001 - never hide the original error
        current_app.logger.warning("could not delete %s", key, exc_info=True)


@bp.get("", responses={200: CorpusList})
def list_corpora(query: PageQuery):
    """Your corpora, newest first."""
    stmt = visible(select(Corpus), Corpus).order_by(Corpus.id.desc())
    items, total = paginate(stmt, query.page, query.per_page)
    return CorpusList(
        items=[CorpusOut.model_validate(c) for c in items], page=query.page, per_page=query.per_page, total=total
    ).model_dump(mode="json")


@bp.get("/<int:corpus_id>", responses={200: CorpusOut})
def get_corpus(path: CorpusPath, query: NoQuery):
    """One corpus."""
    return CorpusOut.model_validate(get_visible(Corpus, path.corpus_id)).model_dump(mode="json")
