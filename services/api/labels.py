"""Names, notes and tags of corpora and jobs (issue 12): set on create, changed with PATCH. A
job's retention policy is set on create only."""

from flask import request
from flask_openapi3 import APIBlueprint, Tag

from shared.db.models import Corpus, Job

from ..plumbing.context import get_db
from .auth import SECURITY, get_visible, require_user
from .jobs import job_out
from .label_fields import apply_labels
from .schemas import CorpusOut, CorpusPath, ErrorBody, JobOut, JobPath, Labels, NoQuery, require_json_object

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
    job = get_visible(Job, path.job_id)
    apply_labels(job, body)
    get_db().commit()
    return job_out(job)


@bp.patch("/corpora/<int:corpus_id>", responses={200: CorpusOut, **PATCH_RESPONSES})
def patch_corpus(path: CorpusPath, body: Labels, query: NoQuery):
    """Change a corpus's name, notes or tags (the fields sent; null clears notes)."""
    corpus = get_visible(Corpus, path.corpus_id)
    apply_labels(corpus, body)
    get_db().commit()
    return CorpusOut.model_validate(corpus).model_dump(mode="json")
