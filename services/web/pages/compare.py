"""The user pages of sweeps and run comparison: `/sweeps` (yours, and a form that
launches one through the API's own code path; `?preset=study-full` fills it with the paper
questions study of shared/research/study.py at that scale), `/compare?sweep=ID` or `?jobs=1,2,3` (the
validation curves overlaid, optionally smoothed, and the comparison table), both following
running jobs: the page polls `/compare/live` and swaps in a fresh chart and table."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import func, select

from shared.actions import ActionError, compare
from shared.actions.inputs import CompareQuery, SweepCreate
from shared.actions.sweeps import cancel_sweep, create_sweep
from shared.db.models import BatchLoss, Corpus, Epoch, Job, Sample, Sweep, WorkStatus
from shared.lifecycle import sweeps as sweep_lifecycle
from shared.research import study
from shared.settings import get_settings

from ...plumbing.access import current_user, visible
from ...plumbing.context import get_celery, get_db
from ...plumbing.errors import ApiError
from ..overlay import color, overlay_chart_svg
from .blueprint import FETCHED_ENDPOINTS, pages_bp

FETCHED_ENDPOINTS.update({"pages.compare_live", "pages.compare_chart", "pages.compare_table"})
CHART_SIZE = (900, 380)
SHOWN_QUALITY = (
    ("parse_rate", "parses"),
    ("balanced_lines", "balanced"),
    ("bits_per_char", "model confidence (bits/char)"),
)
EXAMPLE_GRID = '{"optimizer": ["rmsprop", "adam"], "seed": [0, 1]}'
EXAMPLE_BASE = '{"layers": 2, "units": 128, "epochs": 10}'
PRESETS = {f"study-{name}": name for name in study.SCALES}  # ?preset= -> the study's scale


def selected_jobs(job_ids: list[int] | None, sweep_id: int | None, epochs: bool = True) -> list[Job]:
    """shared.actions.compare.selected_jobs for the signed-in user."""
    return compare.selected_jobs(get_db(), current_user(), job_ids, sweep_id, epochs)


def comparison(jobs: list[Job], smoothing: float) -> dict:
    """shared.actions.compare.comparison in the request's session."""
    return compare.comparison(get_db(), jobs, smoothing)


def _query() -> CompareQuery:
    try:
        return CompareQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(400, "; ".join(e["msg"] for e in exc.errors())) from exc


class SharedResults:
    """The comparisons last computed, by (jobs, smoothing, version): the page's polled chart and
    table (fetched together when the version moves) share one computation, and a caller asking
    for one being computed waits for it rather than computing it again. Callers check the jobs'
    visibility before asking: the key only names what was computed."""

    def __init__(self, size: int):
        self.size, self.computed = size, 0
        self._items: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, compute: Callable[[], dict]) -> dict:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            one = self._computing.setdefault(key, threading.Lock())
        with one:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                value = compute()
                with self._lock:
                    self.computed += 1
                    self._items[key] = value
                    while len(self._items) > self.size:
                        self._items.popitem(last=False)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            return value


SHARED = SharedResults(8)  # a comparison of MAX_JOBS runs with live curves is a few MB


def _selection() -> tuple[CompareQuery, list[Job], str]:
    """The query, its jobs (each yours, without their epochs) and their version: a few grouped
    counts, read without computing the comparison."""
    query = _query()
    ids = [int(part) for part in query.jobs.split(",")] if query.jobs else None
    jobs = selected_jobs(ids, query.sweep, epochs=False)
    return query, jobs, _version(jobs)


def _compare() -> tuple[CompareQuery, dict, list[Job], str]:
    """The query, its comparison (shared by every request of the same jobs at the same version),
    its jobs and their version."""
    query, jobs, version = _selection()
    ids = [j.id for j in jobs]
    key = (tuple(ids), query.smoothing, version)
    result = SHARED.get(key, lambda: comparison(selected_jobs(ids, None), query.smoothing))
    return query, result, jobs, version


def _version(jobs: list[Job]) -> str:
    """Changes whenever an epoch, a live point or a finished sample lands, or a status changes."""
    ids = [j.id for j in jobs]
    db = get_db()
    marks: dict[int, list] = {j.id: [str(getattr(j.status, "value", j.status)), 0, 0, 0] for j in jobs}
    reads = (
        (1, select(Epoch.job_id, func.count()).where(Epoch.job_id.in_(ids)).group_by(Epoch.job_id)),
        (
            2,
            select(BatchLoss.job_id, func.max(BatchLoss.id))
            .where(BatchLoss.job_id.in_(ids))
            .group_by(BatchLoss.job_id),
        ),
        (
            3,
            select(Sample.job_id, func.max(Sample.id))
            .where(Sample.job_id.in_(ids), Sample.status == WorkStatus.succeeded)
            .group_by(Sample.job_id),
        ),
    )
    for place, stmt in reads:
        for job_id, value in db.execute(stmt):
            marks[job_id][place] = value
    return json.dumps([[job_id, *mark] for job_id, mark in marks.items()])


def _chart(query: CompareQuery, result: dict) -> str:
    width, height = CHART_SIZE
    return overlay_chart_svg(result["curves"], width, height, smoothed=query.smoothing > 0)


def _table_context(result: dict) -> dict:
    colors = {c["id"]: color(i) for i, c in enumerate(result["curves"])}
    keys = {k for r in result["table"] for k in (r["quality"] or {})}
    return {
        "result": result,
        "colors": colors,
        "quality_columns": [(k, label) for k, label in SHOWN_QUALITY if k in keys],
    }


def _active(jobs: list[Job]) -> bool:
    return any(WorkStatus(j.status).active for j in jobs)


@pages_bp.get("/compare")
def compare_page():
    query, result, jobs, version = _compare()
    sweep = get_db().get(Sweep, query.sweep) if query.sweep else None
    counts = sweep_lifecycle.status_counts(jobs)
    return render_template(
        "pages/compare.html",
        query=query,
        sweep=sweep,
        counts=counts,
        chart=_chart(query, result),
        version=version,
        live=_active(jobs),
        args=request.args.to_dict(),
        **_table_context(result),
    )


@pages_bp.get("/compare/live")
def compare_live():
    _query_, jobs, version = _selection()
    return jsonify(version=version, live=_active(jobs))


@pages_bp.get("/compare/chart.svg")
def compare_chart():
    query, result, _jobs, _version_ = _compare()
    return Response(_chart(query, result), mimetype="image/svg+xml")


@pages_bp.get("/compare/table")
def compare_table():
    _query_, result, _jobs, _version_ = _compare()
    return render_template("pages/compare_table.html", **_table_context(result))


# ---- sweeps -------------------------------------------------------------------------------------


@pages_bp.get("/sweeps")
def sweeps():
    db = get_db()
    rows = []
    for sweep in db.scalars(visible(select(Sweep), Sweep).order_by(Sweep.id.desc()).limit(100)):
        counts = sweep_lifecycle.status_counts(list(sweep.jobs))
        rows.append({"sweep": sweep, "counts": counts, "status": sweep_lifecycle.sweep_status(counts)})
    corpora = list(db.scalars(visible(select(Corpus), Corpus).order_by(Corpus.id.desc()).limit(200)))
    form = {
        "base": request.args.get("base", EXAMPLE_BASE),
        "grid": request.args.get("grid", EXAMPLE_GRID),
        "name": request.args.get("name", ""),
    }
    preset = request.args.get("preset", "")
    if preset in PRESETS:
        form = _study_form(PRESETS[preset])
    presets = [{"key": key, "scale": name, "note": study.SCALES[name].note} for key, name in PRESETS.items()]
    return render_template("pages/sweeps.html", sweeps=rows, corpora=corpora, form=form, presets=presets, preset=preset)


def _study_form(scale_name: str) -> dict:
    """The form filled with the study's sweep (shared/research/study.py): its runs as a list of variants,
    one a line, each with every hyperparameter (the base is empty)."""
    variants = study.sweep_variants(study.SCALES[scale_name])
    lines = ",\n".join(" " + json.dumps(v, sort_keys=True) for v in variants)
    return {"base": "{}", "grid": f"[\n{lines}\n]", "name": study.sweep_name(scale_name)}


def _json_field(name: str) -> object:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: not valid JSON ({exc})") from exc


@pages_bp.post("/sweeps")
def launch_sweep():
    """The API's POST /api/v1/sweeps (shared.actions.sweeps.create_sweep) with the form's fields:
    the corpus, the base hyperparameters and a grid (or a list of variants), as JSON."""
    form: dict[str, Any] = {k: request.form.get(k, "") for k in ("base", "grid", "name")}
    back = redirect(url_for("pages.sweeps", **form))
    try:
        raw: dict = {"corpus_id": int(request.form.get("corpus_id", "0") or 0), "base": _json_field("base") or {}}
        selection = _json_field("grid")
        raw["variants" if isinstance(selection, list) else "grid"] = selection
        if form["name"].strip():
            raw["name"] = form["name"].strip()
        body = SweepCreate.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            flash(f"{'.'.join(str(p) for p in err['loc']) or 'form'}: {err['msg']}", "error")
        return back
    except ValueError as exc:
        flash(str(exc), "error")
        return back
    try:
        sweep = create_sweep(get_db(), get_celery(), current_user(), body, get_settings().sweep_max_variants)
    except ActionError as exc:
        details = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in exc.detail or [])
        flash(f"No sweep: {exc.message}" + (f" ({details})" if details else "") + ".", "error")
        return back
    flash(f"Sweep {sweep.id}: {len(sweep.jobs)} jobs queued.", "success")
    return redirect(url_for("pages.compare_page", sweep=sweep.id))


@pages_bp.post("/sweeps/<int:sweep_id>/cancel")
def cancel_sweep_page(sweep_id: int):
    sweep = cancel_sweep(get_db(), get_celery(), current_user(), sweep_id)
    running = sum(1 for job in sweep.jobs if job.status == WorkStatus.running)
    flash(f"Sweep {sweep_id}: unfinished jobs cancelled ({running} stopping).", "success")
    return redirect(url_for("pages.compare_page", sweep=sweep_id))
