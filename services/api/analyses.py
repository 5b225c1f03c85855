"""Neuron analyses (a job's model run over a text, its cells correlated with features of the text;
run on the sampling queue, the result in object storage) and the temperature chart's numbers (the
next-character distribution after a prompt, answered at once from a light numpy model)."""

from flask import g, url_for
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared import lifecycle
from shared.db.models import Analysis, Job, WorkStatus
from shared.engine.data.corpus import CorpusError
from shared.queue import send_analysis
from shared.storage import NotFound

from ..plumbing.context import get_celery, get_db, get_store, settings
from ..plumbing.downloads import analysis_download
from ..plumbing.errors import ApiError, field_error
from .analysis_schemas import (
    AnalysisCreate,
    AnalysisList,
    AnalysisOut,
    AnalysisPath,
    NextCharOut,
    NextCharQuery,
)
from .auth import SECURITY, get_visible, require_user, visible
from .checkpoints import checkpoint_files
from .common import paginate
from .nextchar import check_model_size, gate, light_sampler
from .schemas import ErrorBody, JobPath, NoQuery, PageQuery, json_body_on

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


def analysis_out(analysis: Analysis) -> dict:
    succeeded = analysis.status == WorkStatus.succeeded
    return AnalysisOut(
        id=analysis.id,
        job_id=analysis.job_id,
        epoch=analysis.epoch,
        status=analysis.status,
        error=analysis.error,
        source="corpus" if analysis.text is None else "text",
        chars=analysis.chars,
        neurons=analysis.top if succeeded else None,
        result_url=url_for("analyses.get_analysis_result", analysis_id=analysis.id) if succeeded else None,
        created_at=analysis.created_at,
        started_at=analysis.started_at,
        finished_at=analysis.finished_at,
    ).model_dump(mode="json")


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
    job = get_visible(Job, path.job_id)
    limit = settings().analysis_max_chars
    if body.text is not None and len(body.text) > limit:
        message = f"the text has {len(body.text):,} characters; at most {limit:,} (ANALYSIS_MAX_CHARS)"
        raise ApiError(422, message, [field_error("text", message, "string_too_long")])
    if body.text is not None and len(body.text) < 2:
        message = "the text needs at least 2 characters"
        raise ApiError(422, message, [field_error("text", message, "string_too_short")])
    if not job.epochs:
        raise ApiError(409, "job has no checkpoint yet")
    epoch, _keys = checkpoint_files(job, body.epoch)
    db = get_db()
    analysis = lifecycle.create_analysis(db, g.user.id, job, epoch, body.text)
    db.commit()
    try:
        send_analysis(get_celery(), analysis.id, analysis.dispatch_token)
    except Exception as exc:
        lifecycle.fail_unsent_analysis(analysis, str(exc))
        db.commit()
        raise ApiError(503, "the sampling queue is unavailable; analysis not queued") from exc
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
    get_visible(Analysis, path.analysis_id)
    db = get_db()
    try:
        analysis, _changed = lifecycle.cancel_analysis(db, path.analysis_id)
    except lifecycle.AnalysisFinished as exc:
        raise ApiError(409, str(exc)) from exc
    db.commit()
    return analysis_out(analysis)


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


def analysis_result(analysis: Analysis) -> bytes:
    """The stored result's bytes (for the pages, which embed it)."""
    if analysis.status != WorkStatus.succeeded or not analysis.object_key:
        raise ApiError(409, f"analysis {analysis.id} is {WorkStatus(analysis.status).value}, not succeeded")
    try:
        return get_store().get_bytes(analysis.object_key)
    except NotFound as exc:
        raise ApiError(404, f"the result of analysis {analysis.id} is missing from storage") from exc


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
    return next_char_data(job, query.prompt, query.temperature_list, query.top, query.epoch)


def next_char_data(job: Job, prompt: str, temperatures: list[float], top: int, epoch: int | None = None) -> dict:
    from shared.engine.inference.temperature import next_char_distribution

    if not job.epochs:
        raise ApiError(409, "job has no checkpoint yet")
    check_model_size(job.hyperparameters)
    row, _keys = checkpoint_files(job, epoch)
    with gate().slot(g.user.id):
        sampler = light_sampler(row.checkpoint_key)
        try:
            dist = next_char_distribution(sampler, prompt, temperatures, top=top)
        except CorpusError as exc:
            raise ApiError(422, str(exc), [field_error("prompt", str(exc))]) from exc
    return NextCharOut(job_id=job.id, epoch=row.epoch, **dist.to_dict()).model_dump(mode="json")
