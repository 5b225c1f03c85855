"""Delete a corpus, a job or a sample with its objects (shared/actions/delete.py runs the steps:
mark, objects, rows, so that a crash leaves a state a second delete finishes)."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag

from shared.actions.delete import PENDING, delete
from shared.actions.inputs import NoQuery
from shared.db.models import Corpus, Job, Sample

from ..plumbing.context import get_db, get_store
from .auth import SECURITY, require_user
from .schemas.common import ErrorBody
from .schemas.corpora import CorpusPath
from .schemas.jobs import JobPath
from .schemas.removals import DeleteCorpusQuery, Deleted, DeleteJobQuery
from .schemas.samples import SamplePath

bp = APIBlueprint(
    "deletion",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="deletion")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)


def _answer(outcome: str):
    return ({"status": "deleting"}, 202) if outcome == PENDING else ({"status": outcome}, 200)


@bp.delete("/jobs/<int:job_id>", responses={200: Deleted, 202: Deleted})
def delete_job(path: JobPath, query: DeleteJobQuery):
    """Delete a job: its checkpoints and samples leave storage, then its rows.

    409 while it is queued or running, unless `?cancel=true`: a queued job is cancelled and
    deleted at once (200), a running one is asked to stop and deleted when it has (202). 409 while
    a job continued or forked from it exists. Deleting a job whose delete was interrupted finishes it.
    """
    return _answer(delete(get_db(), get_store(), g.user, Job, path.job_id, cancel=query.cancel))


@bp.delete("/corpora/<int:corpus_id>", responses={200: Deleted, 202: Deleted})
def delete_corpus(path: CorpusPath, query: DeleteCorpusQuery):
    """Delete a corpus: 409 while jobs use it, unless `?with_jobs=true` (they are cancelled and
    deleted first; 202 until the running ones have stopped)."""
    return _answer(delete(get_db(), get_store(), g.user, Corpus, path.corpus_id, with_jobs=query.with_jobs))


@bp.delete("/samples/<int:sample_id>", responses={200: Deleted})
def delete_sample(path: SamplePath, query: NoQuery):
    """Delete a sample and its text (a queued one is cancelled first; 409 while one runs)."""
    return _answer(delete(get_db(), get_store(), g.user, Sample, path.sample_id))
