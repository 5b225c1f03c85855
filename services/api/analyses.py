"""Neuron analyses (a job's model run over a text, its cells correlated with features of the text;
run on the sampling queue, the result in object storage) and the temperature chart's numbers (the
next-character distribution after a prompt, answered at once from a light numpy model)."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared.actions import analyses
from shared.actions.inputs import NoQuery
from shared.db.models import Analysis, Job

from ..plumbing.answers import analysis_out
from ..plumbing.context import get_celery, get_db, get_store, settings
from ..plumbing.downloads import analysis_download
from ..plumbing.nextchar import next_char_data
from .auth import SECURITY, get_visible, require_user, visible
from .common import paginate
from .hooks import json_body_on
from .schemas.analyses import AnalysisCreate, AnalysisList, AnalysisOut, AnalysisPath, NextCharOut, NextCharQuery
from .schemas.common import ErrorBody, PageQuery
from .schemas.jobs import JobPath

bp = APIBlueprint(
    "analyses",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="analyses")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)
bp.before_request(json_body_on("analyses.create_analysis"))


@bp.post(
    "/jobs/<int:job_id>/analyses",
    responses={
        202: AnalysisOut,
        400: ErrorBody,
        409: ErrorBody,
        413: ErrorBody,
        415: ErrorBody,
        429: ErrorBody,
        503: ErrorBody,
    },
)
def create_analysis(path: JobPath, body: AnalysisCreate, query: NoQuery):
    """Queue a neuron analysis of the job's model (the best checkpoint, or `epoch`'s) over `text`
    (default: the tail of its corpus): every cell's activation per character, correlated with
    features of the text (bracket depth, strings, comments, docstrings, indentation, column, line
    starts, words after keywords). Runs on the sampling queue; poll GET /analyses/{id}. 429 past
    the user's queued + running analyses quota."""
    analysis = analyses.create_analysis(
        get_db(), get_celery(), get_store(), g.user, path.job_id, body, max_chars=settings().analysis_max_chars
    )
    return analysis_out(analysis), 202


@bp.get("/jobs/<int:job_id>/analyses", responses={200: AnalysisList})
def list_analyses(path: JobPath, query: PageQuery):
    """Analyses of a job's model, newest first."""
    job = get_visible(Job, path.job_id)
    stmt = visible(select(Analysis).where(Analysis.job_id == job.id), Analysis).order_by(Analysis.id.desc())
    items, total = paginate(stmt, query.page, query.per_page)
    return {"items": [analysis_out(a) for a in items], "page": query.page, "per_page": query.per_page, "total": total}


@bp.get("/analyses/<int:analysis_id>", responses={200: AnalysisOut})
def get_analysis(path: AnalysisPath, query: NoQuery):
    """An analysis's status and, once succeeded, the top cells per feature with their correlation
    and the link to its full result."""
    return analysis_out(get_visible(Analysis, path.analysis_id))


@bp.post("/analyses/<int:analysis_id>/cancel", responses={200: AnalysisOut, 409: ErrorBody})
def cancel_analysis(path: AnalysisPath, query: NoQuery):
    """Cancel an analysis: a queued one at once, a running one too (its worker finishes its pass
    and stores nothing). Cancelling a cancelled analysis is a no-op (200); a succeeded or failed
    one answers 409."""
    return analysis_out(analyses.cancel_analysis(get_db(), g.user, path.analysis_id))


@bp.get(
    "/analyses/<int:analysis_id>/result",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, 409: ErrorBody},
)
def get_analysis_result(path: AnalysisPath, query: NoQuery):
    """The full result (JSON): `text` (the characters the model read), `features`, `layers`,
    `units`, `top`, `correlations` ([feature][layer][unit], 4 decimals) and `cells` (for each top
    cell: layer, unit and `values`, its activation per character through tanh as integers
    -100..100; `scale` is 100)."""
    return analysis_download(get_visible(Analysis, path.analysis_id))


@bp.get(
    "/jobs/<int:job_id>/next-char",
    responses={200: NextCharOut, 409: ErrorBody, 429: ErrorBody, 503: ErrorBody},
)
def next_char(path: JobPath, query: NextCharQuery):
    """The model's next-character distribution after `prompt` at each temperature (the paper's
    figure 3): softmax(logits / T), the likeliest characters first. Answered at once from the
    checkpoint's weights (no queue), within bounds: 422 for a model over NEXT_CHAR_MAX_PARAMETERS
    (use a sampling job), 429 past NEXT_CHAR_PER_USER requests of the user at once, 503 with
    Retry-After while NEXT_CHAR_THREADS requests are computing."""
    job = get_visible(Job, path.job_id)
    data = next_char_data(job, query.prompt, query.temperature_list, query.top, query.epoch)
    return NextCharOut(**data).model_dump(mode="json")
