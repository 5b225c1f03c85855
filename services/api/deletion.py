"""Delete a corpus, a job or a sample with its objects (issue 12; shared/deletion.py runs the
steps: mark, objects, rows, so that a crash leaves a state a second delete finishes)."""

from contextlib import contextmanager

from flask_openapi3 import APIBlueprint, Tag

from shared import deletion
from shared.db.models import Corpus, Job, Sample
from shared.lifecycle.deletion import Refused

from ..plumbing.context import get_db, get_store
from ..plumbing.errors import ApiError
from .auth import SECURITY, get_visible, require_user
from .schemas import CorpusPath, DeleteCorpusQuery, Deleted, DeleteJobQuery, ErrorBody, JobPath, NoQuery, SamplePath

bp = APIBlueprint(
    "deletion",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="deletion")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)


@contextmanager
def _step():
    """One committed step of a delete in the request's session."""
    db = get_db()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


def _run(fn, *args, **kwargs):
    try:
        outcome = fn(_step, get_store(), *args, **kwargs)
    except Refused as exc:
        raise ApiError(409, str(exc)) from exc
    except LookupError as exc:
        raise ApiError(404, str(exc)) from exc
    if outcome == deletion.PENDING:
        return {"status": "deleting"}, 202
    return {"status": outcome}, 200


@bp.delete("/jobs/<int:job_id>", responses={200: Deleted, 202: Deleted})
def delete_job(path: JobPath, query: DeleteJobQuery):
    """Delete a job: its checkpoints and samples leave storage, then its rows.

    409 while it is queued or running, unless `?cancel=true`: a queued job is cancelled and
    deleted at once (200), a running one is asked to stop and deleted when it has (202). 409 while
    a job continued or forked from it exists. Deleting a job whose delete was interrupted finishes it.
    """
    get_visible(Job, path.job_id)
    return _run(deletion.delete_job, path.job_id, cancel=query.cancel)


@bp.delete("/corpora/<int:corpus_id>", responses={200: Deleted, 202: Deleted})
def delete_corpus(path: CorpusPath, query: DeleteCorpusQuery):
    """Delete a corpus: 409 while jobs use it, unless `?with_jobs=true` (they are cancelled and
    deleted first; 202 until the running ones have stopped)."""
    get_visible(Corpus, path.corpus_id)
    return _run(deletion.delete_corpus, path.corpus_id, with_jobs=query.with_jobs)


@bp.delete("/samples/<int:sample_id>", responses={200: Deleted})
def delete_sample(path: SamplePath, query: NoQuery):
    """Delete a sample and its text (a queued one is cancelled first; 409 while one runs)."""
    get_visible(Sample, path.sample_id)
    return _run(deletion.delete_sample, path.sample_id)
