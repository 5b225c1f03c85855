"""Corpora: upload a text (streamed to object storage, counted, hashed and checked in the same
pass, within the user's corpora and storage quotas), list them, read one."""

from flask import g, request
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from shared.actions import corpora as corpus_actions
from shared.actions.errors import TooLarge
from shared.actions.inputs import NoQuery
from shared.db.models import Corpus
from shared.lifecycle.quotas import check_corpus_quota

from ..plumbing.context import get_db, get_store, settings
from .auth import SECURITY, get_visible, require_user, visible
from .common import paginate
from .schemas.common import ErrorBody
from .schemas.corpora import CorpusForm, CorpusList, CorpusOut, CorpusPath, CorpusQuery

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
    try:
        corpus = corpus_actions.upload_corpus(
            get_db(),
            get_store(),
            g.user.id,
            name=form.name or corpus_actions.default_name(form.file.filename),
            stream=form.file.stream,
            max_bytes=settings().max_upload_bytes,
        )
    except TooLarge:
        raise RequestEntityTooLarge() from None
    return CorpusOut.model_validate(corpus).model_dump(mode="json"), 201


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
