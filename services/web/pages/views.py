"""The user pages: the landing page, one's corpora, jobs (live progress and loss curves, the job
page of services/web/job_page.py that the admin pages render too) and a form to request a sample
through the API's own code path. A sample's page is sample_views.py's."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import (
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from shared import lifecycle
from shared.actions import ActionError
from shared.actions.errors import NotFound as RecordNotFound
from shared.actions.inputs import TAG_PATTERN, SampleCreate
from shared.actions.samples import create_sample
from shared.db.models import Corpus, Job, Sample, WorkStatus

from ...plumbing.access import current_user, get_visible, visible, visible_children
from ...plumbing.checkpoint_zip import checkpoint_download
from ...plumbing.context import get_celery, get_db, settings
from ..job_page import SAMPLES_SHOWN, job_chart_svg, render_job_page
from ..presenters import corpus_row, for_user, job_detail, job_labels, job_summary
from .blueprint import pages_bp
from .docs import DOCS_ENDPOINT

PER_PAGE = 50
DEFAULT_LENGTH = 2000
DEFAULT_TEMPERATURE = 0.75


def _now() -> datetime:
    return datetime.now(UTC)


# ---- landing page ----------------------------------------------------------------------


@pages_bp.get("/")
def index():
    return redirect(url_for("pages.welcome"))


@pages_bp.get("/welcome")
def welcome():
    return render_template(
        "pages/welcome.html",
        docs_url=url_for(DOCS_ENDPOINT),
        openapi_url=f"{current_app.doc_prefix}{current_app.doc_url}",  # type: ignore[attr-defined]
        base_url=request.host_url.rstrip("/"),
    )


# ---- jobs -----------------------------------------------------------------------------------------


def _user_summary(job: Job, now: datetime) -> dict:
    data = for_user(job_summary(job, now))
    data["url"] = url_for("pages.job_page", job_id=job.id)
    return data


@pages_bp.get("/jobs")
def jobs():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    stmt = visible(select(Job), Job).options(joinedload(Job.owner), joinedload(Job.corpus)).order_by(Job.id.desc())
    filters = _filters()
    stmt = stmt.where(Job.deleting_at.is_(None))
    if filters["tag"]:
        stmt = stmt.where(Job.tags_text.contains(f",{filters['tag']},", autoescape=True))
    if filters["status"]:
        stmt = stmt.where(Job.status == filters["status"])
    rows = list(get_db().scalars(stmt.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    now = _now()
    return render_template(
        "pages/jobs.html",
        jobs=[_user_summary(job, now) | _labels(job) for job in rows[:PER_PAGE]],
        page=page,
        has_more=len(rows) > PER_PAGE,
        filters=filters,
        statuses=[s.value for s in WorkStatus],
    )


def _filters() -> dict:
    """The list pages' ?tag= and ?status=; a value that is no tag or status is ignored."""
    tag = request.args.get("tag", "").strip()
    status = request.args.get("status", "").strip()
    return {
        "tag": tag if re.fullmatch(TAG_PATTERN, tag) else "",
        "status": status if status in {s.value for s in WorkStatus} else "",
    }


def _labels(record: Job | Corpus) -> dict:
    """Name, notes and tags; a job page's are the presenters' job_labels."""
    return {"name": record.name, "notes": record.notes, "tags": record.tags}


def _load_job(job_id: int) -> tuple[Job, list[Sample]]:
    job: Job = get_visible(Job, job_id)
    db = get_db()
    stmt = visible(select(Sample).where(Sample.job_id == job_id), Sample).order_by(Sample.id.desc())
    return job, list(db.scalars(stmt.limit(SAMPLES_SHOWN)))


def _user_detail(job: Job, samples: list[Sample]) -> dict:
    """The admin job page's data with this site's links (the page script reads the same keys)."""
    data = for_user(job_detail(job, samples, _now()))
    data["epochs"] = [for_user(row) for row in data["epochs"]]
    data["samples"] = [for_user(row) for row in data["samples"]]
    data["url"] = url_for("pages.job_page", job_id=job.id)
    data["chart_url"] = url_for("pages.job_chart", job_id=job.id)
    for row in data["epochs"]:  # a zip only of what is in storage
        stored = row["checkpoint_stored"]
        row["checkpoint_url"] = url_for("pages.checkpoint", job_id=job.id, epoch=row["epoch"]) if stored else None
    for row in data["samples"]:
        row["download_url"] = (
            url_for("pages.sample_text", sample_id=row["id"]) if row["status"] == "succeeded" else None
        )
    return data


def _user_labels(job: Job) -> dict:
    """The job pages' shared facts, its children those the user may see (visible_children)."""
    labels = job_labels(job, "pages.job_page")
    shown = {c.id for c in visible_children(job)}
    labels["children"] = [c for c in labels["children"] if c["id"] in shown]
    return labels


@pages_bp.get("/jobs/<int:job_id>")
def job_page(job_id: int):
    job, samples = _load_job(job_id)
    return render_job_page(
        job,
        _user_detail(job, samples),
        _user_labels(job),
        url_for("pages.job_live", job_id=job_id),
        can_sample=lifecycle.best_epoch(job) is not None,
        best_epoch=getattr(lifecycle.best_epoch(job), "epoch", None),
        checkpoint_epochs=[e.epoch for e in lifecycle.stored_checkpoints(job)],
        default_precision=settings().sample_precision,
        default_length=DEFAULT_LENGTH,
        default_temperature=DEFAULT_TEMPERATURE,
    )


@pages_bp.get("/jobs/<int:job_id>/live")
def job_live(job_id: int):
    job, samples = _load_job(job_id)
    return jsonify(_user_detail(job, samples))


@pages_bp.get("/jobs/<int:job_id>/chart.svg")
def job_chart(job_id: int):
    job, _ = _load_job(job_id)
    return Response(job_chart_svg(job), mimetype="image/svg+xml")


@pages_bp.get("/jobs/<int:job_id>/checkpoints/<int:epoch>.zip")
def checkpoint(job_id: int, epoch: int):
    """The API's GET /jobs/{id}/checkpoints/{epoch} (a zip streamed from storage) with the session."""
    return checkpoint_download(get_visible(Job, job_id), epoch)


def _form_body() -> SampleCreate:
    """The form's fields as the API's SampleCreate (the same validation as a JSON request)."""
    raw: dict[str, object] = {}
    for name, convert in (("length", int), ("temperature", float), ("top_k", int), ("top_p", float), ("epoch", int)):
        value = request.form.get(name, "").strip()
        if value:
            try:
                raw[name] = convert(value)
            except ValueError:
                raw[name] = value  # SampleCreate names the field and says what it wants
    precision = request.form.get("precision", "").strip()
    if precision:
        raw["precision"] = precision
    seed = request.form.get("seed_text", "")
    if seed.strip():
        raw["seed_text"] = seed
    return SampleCreate.model_validate(raw)


@pages_bp.post("/jobs/<int:job_id>/samples")
def request_sample(job_id: int):
    """The API's POST /jobs/{id}/samples (shared.actions.samples.create_sample: its checks, the
    lifecycle and the queue) with the form's fields."""
    back = redirect(url_for("pages.job_page", job_id=job_id))
    try:
        body = _form_body()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"][:1]) or "form"
            flash(f"{field}: {err['msg']}", "error")
        return back
    try:
        sample = create_sample(
            get_db(), get_celery(), current_user(), job_id, body, default_precision=settings().sample_precision
        )
    except RecordNotFound:
        raise
    except ActionError as exc:
        flash(f"No sample: {exc.message}.", "error")
        return back
    flash(f"Sample {sample.id} queued.", "success")
    return redirect(url_for("pages.sample_page", sample_id=sample.id))


# ---- corpora ------------------------------------------------------------------------------------


@pages_bp.get("/corpora")
def corpora():
    db = get_db()
    job_counts = visible(select(Job.corpus_id, func.count().label("n")), Job).group_by(Job.corpus_id).subquery()
    stmt = (
        visible(select(Corpus, func.coalesce(job_counts.c.n, 0)), Corpus)
        .outerjoin(job_counts, job_counts.c.corpus_id == Corpus.id)
        .options(joinedload(Corpus.owner))
        .order_by(Corpus.id.desc())
        .where(Corpus.deleting_at.is_(None))
    )
    filters = _filters()
    if filters["tag"]:
        stmt = stmt.where(Corpus.tags_text.contains(f",{filters['tag']},", autoescape=True))
    rows = [for_user(corpus_row(c, n)) | _labels(c) for c, n in db.execute(stmt).all()]
    return render_template("pages/corpora.html", corpora=rows, filters=filters)
