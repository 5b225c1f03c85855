"""The user pages of sweeps and run comparison (issue 12): `/sweeps` (yours, and a form that
launches one through the API's own code path; `?preset=study-full` fills it with the paper
questions study of shared/study.py at that scale), `/compare?sweep=ID` or `?jobs=1,2,3` (the
validation curves overlaid, optionally smoothed, and the comparison table), both following
running jobs: the page polls `/compare/live` and swaps in a fresh chart and table."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from shared import study
from shared.db.models import Corpus, Job, JobStatus, Sweep
from shared.lifecycle import sweeps as sweep_lifecycle

from ..api.auth import visible
from ..api.compare import comparison, selected_jobs
from ..api.schemas import NoQuery
from ..api.sweep_schemas import CompareQuery, SweepCreate, SweepPath
from ..api.sweeps import cancel_sweep, create_sweep
from ..context import get_db
from ..errors import ApiError
from .blueprint import FETCHED_ENDPOINTS, pages_bp
from .overlay import color, overlay_chart_svg

FETCHED_ENDPOINTS.update({"pages.compare_live", "pages.compare_chart", "pages.compare_table"})
CHART_SIZE = (900, 380)
SHOWN_QUALITY = (("parse_rate", "parses"), ("balanced_lines", "balanced"), ("bits_per_char", "sample bits/char"))
EXAMPLE_GRID = '{"optimizer": ["rmsprop", "adam"], "seed": [0, 1]}'
EXAMPLE_BASE = '{"layers": 2, "units": 128, "epochs": 10}'
PRESETS = {f"study-{name}": name for name in study.SCALES}  # ?preset= -> the study's scale


def _query() -> CompareQuery:
    try:
        return CompareQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(400, "; ".join(e["msg"] for e in exc.errors())) from exc


def _compare() -> tuple[CompareQuery, dict, list[Job]]:
    query = _query()
    ids = [int(part) for part in query.jobs.split(",")] if query.jobs else None
    jobs = selected_jobs(ids, query.sweep)
    return query, comparison(jobs, query.smoothing), jobs


def _version(result: dict) -> str:
    """Changes whenever an epoch or a live point lands, or a status changes."""
    marks = [
        (c["id"], len(c["val_bits"]), len(c["live_bits"]), c["live_bits"][-1][0] if c["live_bits"] else 0)
        for c in result["curves"]
    ]
    return json.dumps([marks, [r["status"] for r in result["table"]]])


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
    return any(JobStatus(j.status).active for j in jobs)


@pages_bp.get("/compare")
def compare_page():
    query, result, jobs = _compare()
    sweep = get_db().get(Sweep, query.sweep) if query.sweep else None
    counts = sweep_lifecycle.status_counts(jobs)
    return render_template(
        "pages/compare.html",
        query=query,
        sweep=sweep,
        counts=counts,
        chart=_chart(query, result),
        version=_version(result),
        live=_active(jobs),
        args=request.args.to_dict(),
        **_table_context(result),
    )


@pages_bp.get("/compare/live")
def compare_live():
    _query_, result, jobs = _compare()
    return jsonify(version=_version(result), live=_active(jobs))


@pages_bp.get("/compare/chart.svg")
def compare_chart():
    query, result, _jobs = _compare()
    return Response(_chart(query, result), mimetype="image/svg+xml")


@pages_bp.get("/compare/table")
def compare_table():
    _query_, result, _jobs = _compare()
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
    """The form filled with the study's sweep (shared/study.py): its runs as a list of variants,
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
    """The API's POST /api/v1/sweeps (services.api.sweeps.create_sweep) with the form's fields:
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
        out, _status = create_sweep(body=body, query=NoQuery())
    except ApiError as exc:
        details = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in exc.detail or [])
        flash(f"No sweep: {exc.error}" + (f" ({details})" if details else "") + ".", "error")
        return back
    flash(f"Sweep {out['id']}: {out['jobs_total']} jobs queued.", "success")
    return redirect(url_for("pages.compare_page", sweep=out["id"]))


@pages_bp.post("/sweeps/<int:sweep_id>/cancel")
def cancel_sweep_page(sweep_id: int):
    out, _status = cancel_sweep(path=SweepPath(sweep_id=sweep_id), query=NoQuery())
    flash(f"Sweep {sweep_id}: unfinished jobs cancelled ({out['counts']['running']} stopping).", "success")
    return redirect(url_for("pages.compare_page", sweep=sweep_id))
