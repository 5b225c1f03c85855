"""The user pages: the landing page, sign-in, one's corpora, jobs (live progress and loss curves,
as on the admin job page, whose presenters and script they reuse), samples (a preview of the
first lines, a download) and a form to request a sample through the API's own code path."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import (
    Response,
    current_app,
    flash,
    g,
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
from shared.db.models import Corpus, Job, Sample, WorkStatus
from shared.storage import NotFound

from ...api.auth import get_visible, visible, visible_children
from ...api.checkpoints import checkpoint_download
from ...api.samples import create_sample
from ...api.schemas import TAG_PATTERN, JobPath, NoQuery, SampleCreate
from ...plumbing.context import get_db, get_store, settings
from ...plumbing.downloads import sample_download
from ...plumbing.errors import ApiError
from ..admin.charts import loss_chart_svg
from ..admin.presenters import (
    chart_points,
    corpus_row,
    job_detail,
    job_labels,
    job_summary,
    live_points,
    sample_row,
)
from ..admin.security import end_session, start_session
from .auth import safe_next
from .blueprint import pages_bp
from .docs import DOCS_ENDPOINT
from .sample_views import sample_texts_view
from .zip_heads import zip_heads

# the admin presenters' keys that only the admin pages show: the worker's hostname, storage keys
ADMIN_ONLY_KEYS = ("worker", "checkpoint_key", "object_key")
PER_PAGE = 50
SAMPLES_SHOWN = 100
CHART_SIZE = (720, 340)
PREVIEW_LINES = 20
PREVIEW_BYTES = 8 * 1024
PREVIEW_ZIP_BYTES = 1024 * 1024  # bytes of a zip read at most to preview its first text
DEFAULT_LENGTH = 2000
DEFAULT_TEMPERATURE = 0.75


def _now() -> datetime:
    return datetime.now(UTC)


def _poll_ms() -> int:
    return int(current_app.config.get("ADMIN_POLL_MS", 2000))


# ---- landing page, sign-in ----------------------------------------------------------------------


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


@pages_bp.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"), url_for("pages.jobs"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(target)
        return render_template("pages/login.html", next=target, error=None)
    from shared.auth import BadToken, check_token

    token = request.form.get("token", "").strip()
    if not token:
        return render_template("pages/login.html", next=target, error="Enter your API token."), 400
    try:
        row = check_token(get_db(), token)
    except BadToken as bad:
        current_app.logger.warning("sign-in refused from %s: %s", request.remote_addr, bad.message)
        error = f"This {bad.message}." if bad.expired else "Unknown token."
        return render_template("pages/login.html", next=target, error=error), 401
    start_session(row.user, row)
    flash(f"Signed in as {row.user.name}.", "success")
    return redirect(target)


@pages_bp.post("/logout")
def logout():
    end_session()
    flash("Signed out.", "success")
    return redirect(url_for("pages.login"))


# ---- jobs -----------------------------------------------------------------------------------------


def _for_user(row: dict) -> dict:
    """An admin presenter's row without ADMIN_ONLY_KEYS (what the user pages send and show)."""
    return {k: v for k, v in row.items() if k not in ADMIN_ONLY_KEYS}


def _user_summary(job: Job, now: datetime) -> dict:
    data = _for_user(job_summary(job, now))
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
    """The list pages' ?tag= and ?status= (issue 12); a value that is no tag or status is ignored."""
    tag = request.args.get("tag", "").strip()
    status = request.args.get("status", "").strip()
    return {
        "tag": tag if re.fullmatch(TAG_PATTERN, tag) else "",
        "status": status if status in {s.value for s in WorkStatus} else "",
    }


def _labels(record: Job | Corpus) -> dict:
    """Name, notes and tags (issue 12); a job page's are the presenters' job_labels."""
    return {"name": record.name, "notes": record.notes, "tags": record.tags}


def _load_job(job_id: int) -> tuple[Job, list[Sample]]:
    job: Job = get_visible(Job, job_id)
    db = get_db()
    stmt = visible(select(Sample).where(Sample.job_id == job_id), Sample).order_by(Sample.id.desc())
    return job, list(db.scalars(stmt.limit(SAMPLES_SHOWN)))


def _user_detail(job: Job, samples: list[Sample]) -> dict:
    """The admin job page's data with this site's links (the page script reads the same keys)."""
    data = _for_user(job_detail(job, samples, _now()))
    data["epochs"] = [_for_user(row) for row in data["epochs"]]
    data["samples"] = [_for_user(row) for row in data["samples"]]
    data["url"] = url_for("pages.job_page", job_id=job.id)
    data["chart_url"] = url_for("pages.job_chart", job_id=job.id)
    for row in data["epochs"]:
        row["checkpoint_url"] = url_for("pages.checkpoint", job_id=job.id, epoch=row["epoch"])
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
    width, height = CHART_SIZE
    return render_template(
        "pages/job.html",
        job=_user_detail(job, samples),
        labels=_user_labels(job),
        chart=loss_chart_svg(chart_points(job), width, height, live=live_points(job)),
        poll_url=url_for("pages.job_live", job_id=job_id),
        poll_ms=_poll_ms(),
        can_sample=lifecycle.best_epoch(job) is not None,
        best_epoch=getattr(lifecycle.best_epoch(job), "epoch", None),
        checkpoint_epochs=[e.epoch for e in job.epochs if e.checkpoint_key],
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
    width, height = CHART_SIZE
    return Response(loss_chart_svg(chart_points(job), width, height, live=live_points(job)), mimetype="image/svg+xml")


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
    """The API's POST /jobs/{id}/samples (services.api.samples.create_sample: its checks, the
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
        out, _status = create_sample(path=JobPath(job_id=job_id), body=body, query=NoQuery())
    except ApiError as exc:
        if exc.status == 404:
            raise
        flash(f"No sample: {exc.error}.", "error")
        return back
    flash(f"Sample {out['id']} queued.", "success")
    return redirect(url_for("pages.sample_page", sample_id=out["id"]))


# ---- samples, corpora -------------------------------------------------------------------------


def _preview(sample: Sample) -> tuple[str | None, str | None]:
    """(first lines of the (first) text, its name in a zip) of a finished sample."""
    if sample.status != WorkStatus.succeeded or not sample.object_key:
        return None, None
    try:
        stream = get_store().open(sample.object_key)
    except NotFound:
        return None, None
    name = None
    try:
        if sample.count * len(sample.temperatures) == 1:
            head = stream.read(PREVIEW_BYTES)
        else:
            first = next(zip_heads(stream, PREVIEW_BYTES, PREVIEW_ZIP_BYTES, wanted=0), None)
            if first is None:
                return None, None
            name, head = first
    except OSError:  # a preview is a courtesy: a store that fails here leaves the page without one
        return None, None
    finally:
        stream.close()
    text = head.decode("utf-8", errors="ignore")
    return "\n".join(text.splitlines()[:PREVIEW_LINES]), name


def _sample_state(sample: Sample) -> dict:
    row = _for_user(sample_row(sample))
    return {"id": sample.id, "status": row["status"], "progress_label": row["progress_label"], "error": row["error"]}


@pages_bp.get("/samples/<int:sample_id>")
def sample_page(sample_id: int):
    sample = get_visible(Sample, sample_id)
    row = _for_user(sample_row(sample))
    preview, preview_name = _preview(sample)
    return render_template(
        "pages/sample.html",
        sample=row,
        job_id=sample.job_id,
        seed_text=sample.seed_text,
        preview=preview,
        preview_name=preview_name,
        preview_lines=PREVIEW_LINES,
        download_url=url_for("pages.sample_text", sample_id=sample.id) if row["status"] == "succeeded" else None,
        download_name=f"sample-{sample.id}." + ("txt" if sample.count * len(sample.temperatures) == 1 else "zip"),
        live=row["status"] in ("queued", "running"),
        poll_url=url_for("pages.sample_live", sample_id=sample.id),
        poll_ms=_poll_ms(),
        view=sample_texts_view(sample),
        compare_url=url_for("pages.compare_samples", job_id=sample.job_id),
    )


@pages_bp.get("/samples/<int:sample_id>/live")
def sample_live(sample_id: int):
    return jsonify(_sample_state(get_visible(Sample, sample_id)))


@pages_bp.get("/samples/<int:sample_id>/text")
def sample_text(sample_id: int):
    return sample_download(get_visible(Sample, sample_id))


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
    rows = [_for_user(corpus_row(c, n)) | _labels(c) for c, n in db.execute(stmt).all()]
    return render_template("pages/corpora.html", corpora=rows, filters=filters)
