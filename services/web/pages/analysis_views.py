"""The user pages of the neuron analyses and temperature chart: a job's analyses with a
form to request one (the API's own code path), an analysis's page (the neuron table and the
coloured text with its cell picker, drawn by services/web/report.py's view) and the temperature chart
with a prompt box (its numbers from the API's next-char code, read with the page's session)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import flash, jsonify, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from shared import lifecycle
from shared.actions import ActionError
from shared.actions.analyses import analysis_result, create_analysis
from shared.actions.inputs import AnalysisCreate, NextCharQuery
from shared.db.models import Analysis, Job, WorkStatus

from ...plumbing.access import current_user, get_visible, visible
from ...plumbing.answers import analysis_out
from ...plumbing.context import get_celery, get_db, get_store, settings
from ...plumbing.downloads import analysis_download
from ...plumbing.errors import ApiError
from ...plumbing.nextchar import next_char_data
from ..report import DEFAULT_PROMPT, DEFAULT_TEMPERATURES, view
from .blueprint import pages_bp
from .lists import analysis_rows

ANALYSES_SHOWN = 50
CHART_TOP = 40


@pages_bp.get("/jobs/<int:job_id>/analyses")
def job_analyses(job_id: int):
    job: Job = get_visible(Job, job_id)
    stmt = visible(select(Analysis).where(Analysis.job_id == job.id), Analysis).order_by(Analysis.id.desc())
    stored = lifecycle.stored_checkpoints(job)
    rows = analysis_rows(list(get_db().scalars(stmt.limit(ANALYSES_SHOWN))), datetime.now(UTC))
    return render_template(
        "pages/analyses.html",
        job=job,
        analyses=rows,
        epochs=[e.epoch for e in stored],  # only checkpoints still in storage
        can_analyze=bool(stored),
    )


@pages_bp.post("/jobs/<int:job_id>/analyses")
def request_analysis(job_id: int):
    """The API's POST /jobs/{id}/analyses with the form's fields."""
    back = redirect(url_for("pages.job_analyses", job_id=job_id))
    raw: dict[str, object] = {}
    text = request.form.get("text", "")
    if text.strip():
        raw["text"] = text.replace("\r\n", "\n")
    epoch = request.form.get("epoch", "").strip()
    if epoch:
        raw["epoch"] = int(epoch) if epoch.isdigit() else epoch
    try:
        body = AnalysisCreate.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            flash(f"{'.'.join(str(p) for p in err['loc'][:1]) or 'form'}: {err['msg']}", "error")
        return back
    try:
        analysis = create_analysis(
            get_db(), get_celery(), get_store(), current_user(), job_id, body, settings().analysis_max_chars
        )
    except ActionError as exc:
        if exc.message == f"job {job_id} not found":
            raise
        flash(f"No analysis: {exc.message}.", "error")
        return back
    flash(f"Analysis {analysis.id} queued.", "success")
    return redirect(url_for("pages.analysis_page", analysis_id=analysis.id))


@pages_bp.get("/analyses/<int:analysis_id>")
def analysis_page(analysis_id: int):
    analysis: Analysis = get_visible(Analysis, analysis_id)
    body = None
    if analysis.status == WorkStatus.succeeded:
        result = json.loads(analysis_result(get_store(), analysis))
        body = view(result, *_chart_of(analysis.job, analysis.epoch))
    return render_template(
        "pages/analysis.html",
        analysis=analysis_out(analysis),
        live=not WorkStatus(analysis.status).finished,
        body=body,
        result_url=url_for("pages.analysis_result_json", analysis_id=analysis.id),
    )


def _chart_of(job: Job, epoch: int | None) -> tuple[dict | None, str | None]:
    """The temperature chart's first numbers for the analysed checkpoint (None when the job's model
    cannot answer now: the chart's script then asks the server itself) and where it asks again."""
    stored = [e.epoch for e in lifecycle.stored_checkpoints(job)]
    if not stored:
        return None, None
    if epoch not in stored:  # retention pruned the analysed checkpoint: the chart shows the best kept one
        epoch = None
    try:
        distribution = next_char_data(job, DEFAULT_PROMPT, list(DEFAULT_TEMPERATURES), CHART_TOP, epoch)
    except ApiError:
        distribution = None
    return distribution, url_for("pages.job_next_char", job_id=job.id, epoch=epoch)


@pages_bp.get("/analyses/<int:analysis_id>/result.json")
def analysis_result_json(analysis_id: int):
    """The stored result (the activations download) with the page's session."""
    return analysis_download(get_visible(Analysis, analysis_id))


@pages_bp.get("/jobs/<int:job_id>/temperature")
def temperature_page(job_id: int):
    job: Job = get_visible(Job, job_id)
    distribution = None
    error = None
    if job.epochs:
        try:
            distribution = next_char_data(job, DEFAULT_PROMPT, list(DEFAULT_TEMPERATURES), CHART_TOP)
        except ApiError as exc:
            error = exc.error
    body = view(None, distribution, url_for("pages.job_next_char", job_id=job.id), DEFAULT_PROMPT)
    return render_template("pages/temperature.html", job=job, body=body if job.epochs else None, error=error)


@pages_bp.get("/jobs/<int:job_id>/next-char")
def job_next_char(job_id: int):
    """The API's GET /jobs/{id}/next-char with the page's session (the chart's script reads it)."""
    job: Job = get_visible(Job, job_id)
    try:
        query = NextCharQuery.model_validate({"top": CHART_TOP, **request.args.to_dict()})
    except ValidationError as exc:
        return jsonify(error="; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())), 422
    try:
        return jsonify(next_char_data(job, query.prompt, query.temperature_list, query.top, query.epoch))
    except ApiError as exc:  # its headers too (a busy chart's Retry-After)
        return jsonify(error=exc.error), exc.status, exc.headers or {}
