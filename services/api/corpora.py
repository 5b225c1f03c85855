"""Corpora: upload a text (streamed to object storage, counted, hashed and checked in the same
pass, within the user's corpora and storage quotas), list them, read one."""

import os
import unicodedata

from flask import current_app, g, request
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from shared.db.models import Corpus
from shared.engine.data.corpus import CorpusError, CorpusStatsBuilder
from shared.lifecycle.quotas import check_corpus_quota, corpus_charge, lock_user
from shared.storage.keys import new_corpus_key

from ..plumbing.context import get_db, get_store, settings
from ..plumbing.errors import ApiError, field_error
from .auth import SECURITY, get_visible, require_user, visible
from .common import paginate
from .schemas import CorpusForm, CorpusList, CorpusOut, CorpusPath, CorpusQuery, ErrorBody, NoQuery

bp = APIBlueprint(
    "corpora",
    __name__,
    url_prefix="/api/v1/corpora",
    abp_tags=[Tag(name="corpora")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)

FORM_SLACK = 64 * 1024  # multipart boundaries and the name field, on top of the file itself


@bp.before_request
def _upload_limit() -> None:
    """An upload's size limit, and the user's quotas checked before the form is parsed: a user at
    a limit, or whose body is larger than the storage left, is refused before anything is stored."""
    if request.endpoint == "corpora.upload_corpus":
        request.max_content_length = settings().max_upload_bytes + FORM_SLACK
        check_corpus_quota(get_db(), g.user, adding=max(0, (request.content_length or 0) - FORM_SLACK))


class UploadReader:
    """The upload as object storage reads it: every chunk also goes through the engine's corpus
    statistics (which count and hash it, and stop at NUL bytes or invalid UTF-8), and reading
    past `limit` bytes is a 413."""

    def __init__(self, stream, stats: CorpusStatsBuilder, limit: int):
        self.stream, self.stats, self.limit = stream, stats, limit
        self.refused: CorpusError | RequestEntityTooLarge | None = None  # why reading stopped

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        try:
            if self.stats.bytes + len(chunk) > self.limit:
                raise RequestEntityTooLarge()
            self.stats.feed(chunk)
        except (CorpusError, RequestEntityTooLarge) as exc:
            self.refused = exc
            raise
        return chunk


def _default_name(filename: str | None) -> str:
    base = os.path.basename((filename or "").replace("\\", "/"))
    base = unicodedata.normalize("NFC", base)
    return "".join(ch for ch in base if ch.isprintable()).strip()[:128] or "corpus"


@bp.post("", responses={201: CorpusOut, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody})
def upload_corpus(form: CorpusForm, query: NoQuery):
    """Upload a corpus: multipart `file` (UTF-8 text) and an optional `name`.

    The file is streamed to object storage and, in the same pass, decoded strictly and cleaned for
    its statistics. Invalid UTF-8, binary data, an empty file or fewer than 2 distinct characters
    after cleaning answer 422 and store nothing. Past the user's corpora or storage quota (the
    corpus counts its bytes and its novelty index's estimate) it is 429 and nothing is kept: a user
    already at a limit, or whose body is larger than what is left, is refused before the upload is
    stored, and the exact size is checked again, the user's row locked, before it is recorded.
    """
    db, user_id = get_db(), g.user.id
    db.rollback()  # no transaction stays open while the upload streams
    store = get_store()
    name = form.name or _default_name(form.file.filename)
    key = new_corpus_key()
    builder = CorpusStatsBuilder(name)
    reader = UploadReader(form.file.stream, builder, settings().max_upload_bytes)
    try:
        store.put_stream(key, reader)
        stats = builder.finish()
        check_corpus_quota(db, lock_user(db, user_id), adding=corpus_charge(builder.bytes, stats.clean_chars))
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
        db.add(corpus)
        db.commit()
    except BaseException as exc:
        _discard(store, key)
        error = reader.refused or exc  # the store may have wrapped the reader's exception
        if isinstance(error, CorpusError):
            raise ApiError(422, str(error), [field_error("file", str(error), "corpus_error")]) from exc
        if isinstance(error, RequestEntityTooLarge):
            raise RequestEntityTooLarge() from None
        raise
    return CorpusOut.model_validate(corpus).model_dump(mode="json"), 201


def _discard(store, key: str) -> None:
    try:
        store.delete(key)
    except Exception:
        current_app.logger.warning("could not delete %s", key, exc_info=True)


@bp.get("", responses={200: CorpusList})
def list_corpora(query: CorpusQuery):
    """Your corpora, newest first; `?tag=` filters. Corpora being deleted are left out."""
    stmt = visible(select(Corpus), Corpus).where(Corpus.deleting_at.is_(None)).order_by(Corpus.id.desc())
    if query.tag is not None:
        stmt = stmt.where(Corpus.tags_text.contains(f",{query.tag},", autoescape=True))
    items, total = paginate(stmt, query.page, query.per_page)
    return CorpusList(
        items=[CorpusOut.model_validate(c) for c in items], page=query.page, per_page=query.per_page, total=total
    ).model_dump(mode="json")


@bp.get("/<int:corpus_id>", responses={200: CorpusOut})
def get_corpus(path: CorpusPath, query: NoQuery):
    """One corpus."""
    return CorpusOut.model_validate(get_visible(Corpus, path.corpus_id)).model_dump(mode="json")
