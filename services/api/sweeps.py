"""Sweeps: create (one job per variant, through the jobs' own creation: quotas and fair queues),
list, read (its jobs and status counts), cancel (its jobs, through the lifecycle)."""

from flask import g, url_for
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared import lifecycle
from shared.db.models import Corpus, Job, Sweep
from shared.engine.config import Hyperparameters
from shared.engine.training.train import LN2
from shared.lifecycle import sweeps as sweep_lifecycle
from shared.queue import send_training
from shared.research.comparison import varying
from shared.settings import get_settings

from ..plumbing.context import get_db
from ..plumbing.errors import ApiError
from .auth import SECURITY, get_visible, require_user, visible
from .common import paginate, send_or_fail
from .jobs import _check_length, send_dispatched
from .schemas import ErrorBody, NoQuery, integral_floats_as_integers, json_body_on
from .sweep_schemas import SweepCreate, SweepList, SweepOut, SweepPath, SweepQuery, SweepSummary

bp = APIBlueprint(
    "sweeps",
    __name__,
    url_prefix="/api/v1/sweeps",
    abp_tags=[Tag(name="sweeps")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)
bp.before_request(json_body_on("sweeps.create_sweep"))


def _summary(sweep: Sweep) -> dict:
    jobs = list(sweep.jobs)
    counts = sweep_lifecycle.status_counts(jobs)
    return {
        "id": sweep.id,
        "name": sweep.name,
        "corpus_id": sweep.corpus_id,
        "status": sweep_lifecycle.sweep_status(counts),
        "counts": counts,
        "jobs_total": len(jobs),
        "job_ids": [j.id for j in jobs],
        "base": sweep.base,
        "grid": sweep.grid,
        "variants": sweep.variants,
        "budget": sweep.budget,
        "created_at": sweep.created_at,
    }


def sweep_out(sweep: Sweep) -> dict:
    jobs = list(sweep.jobs)
    # each job's values of what varies between the variants (read from the job: right even when a
    # job of the sweep was deleted)
    names = varying([{**sweep.base, **variant} for variant in sweep.variants])
    rows = [
        {
            "id": job.id,
            "status": job.status,
            "variant": {name: job.hyperparameters_json.get(name) for name in names},
            "epoch": job.epoch,
            "epochs": job.hyperparameters_json.get("epochs", 0),
            "progress": job.progress,
            "best_val_loss_bits": None if job.best_val_loss is None else job.best_val_loss / LN2,
            "error": job.error,
        }
        for job in jobs
    ]
    compare_url = url_for("compare.compare_runs", sweep=sweep.id)
    return SweepOut(**_summary(sweep), jobs=rows, compare_url=compare_url).model_dump(mode="json")


def _variants(body: SweepCreate) -> tuple[list[dict], list[Hyperparameters]]:
    """The sweep's variants (the grid expanded) and their validated hyperparameters; 422 naming
    each bad field, or a sweep over the budget or SWEEP_MAX_VARIANTS (a grid's size and keys are
    checked before it is expanded)."""
    most = get_settings().sweep_max_variants
    budget = body.budget.max_jobs if body.budget else None
    if body.grid is not None:
        try:
            sweep_lifecycle.check_grid(body.grid, most, "SWEEP_MAX_VARIANTS")
        except sweep_lifecycle.InvalidSweep as exc:
            detail = [{"loc": loc, "msg": msg, "type": "invalid_grid"} for loc, msg in exc.errors]
            raise ApiError(422, str(exc), detail) from exc
        count = sweep_lifecycle.grid_size(body.grid, most)
    else:
        count = len(body.variants or [])
    for limit, what in ((most, "SWEEP_MAX_VARIANTS"), (budget, "budget.max_jobs")):
        if limit is not None and count > limit:
            loc = ["budget", "max_jobs"] if what.startswith("budget") else ["grid" if body.grid else "variants"]
            msg = f"the sweep has {count} variants; {what} allows {limit}"
            raise ApiError(422, "too many variants", [{"loc": loc, "msg": msg, "type": "too_many_variants"}])
    variants = sweep_lifecycle.expand_grid(body.grid) if body.grid is not None else list(body.variants or [])
    base = integral_floats_as_integers(Hyperparameters, body.base)
    exact = [integral_floats_as_integers(Hyperparameters, v) for v in variants]
    max_epochs = body.budget.max_epochs if body.budget else None
    try:
        resolved = sweep_lifecycle.resolve_variants(base, exact, max_epochs, strict=True)
    except sweep_lifecycle.InvalidSweep as exc:
        detail, seen = [], set()
        for loc, msg in exc.errors:
            if body.grid is not None and loc[0] == "variants":
                loc = ["grid", loc[2]]
            if (tuple(loc), msg) not in seen:
                seen.add((tuple(loc), msg))
                detail.append({"loc": loc, "msg": msg, "type": "invalid_variant"})
        raise ApiError(422, f"invalid sweep: {exc}", detail) from exc
    return variants, resolved


@bp.post("", responses={202: SweepOut, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody})
def create_sweep(body: SweepCreate, query: NoQuery):
    """Queue a sweep: one training job per variant.

    `grid` crosses lists of values (`{"optimizer": ["rmsprop", "adam"], "seed": [0, 1]}`: four
    jobs); `variants` lists them. Every variant is validated as a job's hyperparameters and
    checked against the corpus; the jobs are created together within your quotas (429 and none
    created when they do not fit) and wait in the fair queue like any other job.
    """
    variants, resolved = _variants(body)  # before any read: a bad grid costs nothing
    corpus = get_visible(Corpus, body.corpus_id)
    for hp in resolved:
        _check_length(corpus, hp)
    db = get_db()
    budget = body.budget.model_dump(exclude_none=True) if body.budget else None
    sweep = sweep_lifecycle.create_sweep(
        db, g.user.id, corpus.id, body.base, variants, resolved, grid=body.grid, budget=budget, name=body.name
    )
    dispatches = lifecycle.take_dispatches(db)
    db.commit()
    ids = {j.id for j in sweep.jobs}
    for dispatch in dispatches:
        if dispatch.record_id in ids:
            send_or_fail(db.get_one(Job, dispatch.record_id), send_training, "job")
        else:
            send_dispatched(dispatch)
    db.refresh(sweep)
    return sweep_out(sweep), 202


@bp.get("", responses={200: SweepList})
def list_sweeps(query: SweepQuery):
    """Your sweeps, newest first, with their jobs' status counts."""
    stmt = visible(select(Sweep), Sweep).order_by(Sweep.id.desc())
    items, total = paginate(stmt, query.page, query.per_page)
    return SweepList(
        items=[SweepSummary(**_summary(s)) for s in items], page=query.page, per_page=query.per_page, total=total
    ).model_dump(mode="json")


@bp.get("/<int:sweep_id>", responses={200: SweepOut})
def get_sweep(path: SweepPath, query: NoQuery):
    """One sweep: its jobs (each with its variant), status counts and where to compare them."""
    return sweep_out(get_visible(Sweep, path.sweep_id))


@bp.post("/<int:sweep_id>/cancel", responses={200: SweepOut})
def cancel_sweep(path: SweepPath, query: NoQuery):
    """Cancel every job of the sweep that has not finished: queued ones at once, running ones at
    their next batch. Finished jobs are left as they are; cancelling again is a no-op."""
    sweep = get_visible(Sweep, path.sweep_id)
    db = get_db()
    outcome = sweep_lifecycle.cancel_sweep(db, sweep)
    db.commit()
    send_dispatched(outcome.dispatch)  # type: ignore[arg-type]
    db.refresh(sweep)
    return sweep_out(sweep), 200
