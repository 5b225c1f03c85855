"""The admin routes (sign-in and sign-out are services/web/signin.py's). Every page has its data
from services/web/presenters.py, so the JSON endpoints that the polling script reads carry exactly
what the pages render."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from shared import lifecycle
from shared.actions.errors import Conflict, NotFound
from shared.actions.jobs import cancel_job_outcome
from shared.db.models import Corpus, Job, Sample, WorkStatus

from ...plumbing.context import get_celery, get_db
from ...plumbing.context import settings as app_settings
from ...plumbing.downloads import sample_download
from ..job_page import CHART_SIZE, SAMPLES_SHOWN, job_chart_svg, poll_ms, render_job_page
from ..presenters import corpus_row, job_detail, job_labels, job_summary
from .blueprint import admin_bp
from .broker import broker_label
from .fleet import workers_page
from .paging import paging
from .users import users_page

PER_PAGE = 50


def _now() -> datetime:
    return datetime.now(UTC)


# ---- jobs -------------------------------------------------------------------------------------


def _job_filters() -> tuple[str | None, int | None]:
    status = request.args.get("status") or None
    if status is not None and status not in WorkStatus.__members__:
        abort(400, f"Unknown status {status!r}; one of: {', '.join(WorkStatus.__members__)}.")
    return status, request.args.get("corpus", type=int)


def _jobs_listing() -> dict:
    status, corpus = _job_filters()
    pages = paging(PER_PAGE)
    db = get_db()
    stmt = select(Job).options(joinedload(Job.owner), joinedload(Job.corpus)).order_by(Job.id.desc())
    count_stmt = select(Job.status, func.count()).group_by(Job.status)
    if corpus is not None:
        stmt = stmt.where(Job.corpus_id == corpus)
        count_stmt = count_stmt.where(Job.corpus_id == corpus)
    if status is not None:
        stmt = stmt.where(Job.status == WorkStatus(status))
    rows = list(db.scalars(stmt.limit(pages.per_page + 1).offset(pages.offset)))
    now = _now()
    counts = {WorkStatus(s).value: n for s, n in db.execute(count_stmt)}
    return {
        "jobs": [job_summary(job, now) for job in rows[: pages.per_page]],
        "status": status,
        "corpus": corpus,
        "page": pages.page,
        "per_page": pages.per_page,
        "has_more": len(rows) > pages.per_page,
        "counts": {s: counts.get(s, 0) for s in WorkStatus.__members__},
        "total": sum(counts.values()),
        "now": now.isoformat().replace("+00:00", "Z"),
    }


@admin_bp.get("/jobs")  # the address people type; its links are built to the first, /admin/
@admin_bp.get("/")
def jobs():
    data = _jobs_listing()
    args = {k: v for k, v in (("status", data["status"]), ("corpus", data["corpus"])) if v is not None}
    args |= paging(PER_PAGE).args()
    return render_template(
        "admin/jobs.html",
        **data,
        statuses=list(WorkStatus.__members__),
        filter_args=args,
        poll_url=url_for("admin.api_jobs", **args, page=data["page"]),
        poll_ms=poll_ms(),
    )


@admin_bp.get("/api/jobs")
def api_jobs():
    return jsonify(_jobs_listing())


def _load_job(job_id: int) -> tuple[Job, list[Sample]]:
    db = get_db()
    job = db.get(Job, job_id, options=[selectinload(Job.epochs), joinedload(Job.owner), joinedload(Job.corpus)])
    if job is None:
        abort(404, f"Job {job_id} does not exist.")
    samples = list(
        db.scalars(select(Sample).where(Sample.job_id == job_id).order_by(Sample.id.desc()).limit(SAMPLES_SHOWN))
    )
    return job, samples


@admin_bp.get("/jobs/<int:job_id>")
def job_page(job_id: int):
    job, samples = _load_job(job_id)
    detail = job_detail(job, samples, _now())
    return render_job_page(job, detail, job_labels(job, "admin.job_page"), url_for("admin.api_job", job_id=job_id))


@admin_bp.get("/api/jobs/<int:job_id>")
def api_job(job_id: int):
    job, samples = _load_job(job_id)
    return jsonify(job_detail(job, samples, _now()))


@admin_bp.get("/jobs/<int:job_id>/chart.svg")
def job_chart(job_id: int):
    job, _ = _load_job(job_id)
    width = min(max(request.args.get("width", CHART_SIZE[0], type=int) or CHART_SIZE[0], 200), 2000)
    height = min(max(request.args.get("height", CHART_SIZE[1], type=int) or CHART_SIZE[1], 150), 1200)
    svg = job_chart_svg(job, width, height, title=f"Job {job.id}: loss per epoch")
    return Response(svg, mimetype="image/svg+xml")


@admin_bp.post("/jobs/<int:job_id>/cancel")
def job_cancel(job_id: int):
    """The API's cancel (shared.actions.jobs.cancel_job), with the outcome as a message."""
    try:
        job, outcome = cancel_job_outcome(get_db(), get_celery(), g.admin_user, job_id)
    except NotFound:
        abort(404, f"Job {job_id} does not exist.")
    except Conflict:
        finished = get_db().get(Job, job_id)
        status = WorkStatus(finished.status).value if finished is not None else "gone"
        flash(f"Job {job_id} is already {status}; nothing to cancel.", "warning")
        return redirect(url_for("admin.job_page", job_id=job_id))
    messages = {
        lifecycle.CANCELLED: (f"Job {job_id} cancelled (it had not started).", "success"),
        lifecycle.CANCEL_REQUESTED: (
            f"Cancellation of job {job_id} requested: its worker stops after the current batch.",
            "success",
        ),
        lifecycle.UNCHANGED: (
            f"Cancellation of job {job_id} was already requested."
            if job.cancel_requested and job.status == WorkStatus.running
            else f"Job {job_id} is already {WorkStatus(job.status).value}; nothing to cancel.",
            "warning",
        ),
    }
    flash(*messages[outcome])
    current_app.logger.info("admin %s cancelled job %s (%s)", g.admin_user.name, job_id, job.status)
    return redirect(url_for("admin.job_page", job_id=job_id))


# ---- workers, corpora, users -------------------------------------------------------------------


WORKERS_REFRESH_SECONDS = 5  # the workers page reloads itself (a meta refresh: no script, any CSP)


@admin_bp.get("/workers")
def workers():
    """The worker registry (no broadcast to the workers) and the queue depths: the database's
    records and the broker's messages, the broker given ADMIN_BROKER_TIMEOUT seconds at most."""
    settings = app_settings()
    timeout = float(current_app.config.get("ADMIN_BROKER_TIMEOUT", 1.0))
    db = get_db()
    fleet = lifecycle.registry.fleet(db, lost_after_seconds=settings.heartbeat_timeout)
    depths = lifecycle.registry.queue_depths(db, get_celery(), broker_timeout=timeout)
    return render_template(
        "admin/workers.html",
        broker=broker_label(get_celery()),
        lost_after=settings.heartbeat_timeout,
        refresh_seconds=WORKERS_REFRESH_SECONDS,
        **workers_page(fleet, depths, _now()),
    )


@admin_bp.get("/corpora")
def corpora():
    db = get_db()
    pages = paging(PER_PAGE)
    total = int(db.scalar(select(func.count(Corpus.id))) or 0)
    job_counts = select(Job.corpus_id, func.count().label("n")).group_by(Job.corpus_id).subquery()
    rows = db.execute(
        select(Corpus, func.coalesce(job_counts.c.n, 0))
        .outerjoin(job_counts, job_counts.c.corpus_id == Corpus.id)
        .options(joinedload(Corpus.owner))
        .order_by(Corpus.id.desc())
        .limit(pages.per_page)
        .offset(pages.offset)
    ).all()
    return render_template(
        "admin/corpora.html",
        corpora=[corpus_row(c, n) for c, n in rows],
        page=pages.page,
        pages=pages.pages(total),
        total=total,
        has_more=pages.offset + len(rows) < total,
        page_args=pages.args(),
    )


@admin_bp.get("/users")
def users():
    """Every user's stored bytes against their storage quota, their corpora and their work."""
    pages = paging(PER_PAGE)
    data = users_page(get_db(), pages, app_settings())
    return render_template("admin/users.html", **data, page_args=pages.args())


@admin_bp.get("/samples/<int:sample_id>/text")
def sample_text(sample_id: int):
    """Download a sample with the admin session (the API wants a Bearer token)."""
    sample = get_db().get(Sample, sample_id)
    if sample is None:
        abort(404)
    return sample_download(sample)
