"""Names, notes and tags of corpora and jobs: set on create, changed with PATCH. A
job's retention policy is set on create only."""

from flask import g, request
from flask_openapi3 import APIBlueprint, Tag

from shared.actions.inputs import NoQuery
from shared.actions.labels import relabel
from shared.db.models import Corpus, Job

from ..plumbing.context import get_db
from .auth import SECURITY, require_user
from .hooks import require_json_object
from .jobs import job_out
from .schemas.common import ErrorBody
from .schemas.corpora import CorpusOut, CorpusPath
from .schemas.jobs import JobOut, JobPath
from .schemas.labels import Labels

bp = APIBlueprint(
    "labels",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="labels")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)


@bp.before_request
def _json_body() -> None:
    if request.method == "PATCH":
        require_json_object()


PATCH_RESPONSES: dict = {400: ErrorBody, 413: ErrorBody, 415: ErrorBody}


@bp.patch("/jobs/<int:job_id>", responses={200: JobOut, **PATCH_RESPONSES})
def patch_job(path: JobPath, body: Labels, query: NoQuery):
    """Change a job's name, notes or tags (the fields sent; null clears one)."""
    return job_out(relabel(get_db(), g.user, Job, path.job_id, body))


@bp.patch("/corpora/<int:corpus_id>", responses={200: CorpusOut, **PATCH_RESPONSES})
def patch_corpus(path: CorpusPath, body: Labels, query: NoQuery):
    """Change a corpus's name, notes or tags (the fields sent; null clears notes)."""
    corpus = relabel(get_db(), g.user, Corpus, path.corpus_id, body)
    return CorpusOut.model_validate(corpus).model_dump(mode="json")
