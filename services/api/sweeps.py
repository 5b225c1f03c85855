"""Sweeps: create (one job per variant, through the jobs' own creation: quotas and fair queues),
list, read (its jobs and status counts), cancel (its jobs, through the lifecycle)."""

from flask import g, url_for
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared.actions import sweeps
from shared.actions.inputs import NoQuery
from shared.db.models import Sweep
from shared.engine.units import LN2
from shared.lifecycle import sweeps as sweep_lifecycle
from shared.research.comparison import varying
from shared.settings import get_settings

from ..plumbing.context import get_celery, get_db
from .auth import SECURITY, get_visible, require_user, visible
from .common import paginate
from .hooks import json_body_on
from .schemas.common import ErrorBody
from .schemas.sweeps import SweepCreate, SweepList, SweepOut, SweepPath, SweepQuery, SweepSummary

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


@bp.post("", responses={202: SweepOut, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody})
def create_sweep(body: SweepCreate, query: NoQuery):
    """Queue a sweep: one training job per variant.

    `grid` crosses lists of values (`{"optimizer": ["rmsprop", "adam"], "seed": [0, 1]}`: four
    jobs); `variants` lists them. Every variant is validated as a job's hyperparameters and
    checked against the corpus; the jobs are created together within your quotas (429 and none
    created when they do not fit) and wait in the fair queue like any other job.
    """
    sweep = sweeps.create_sweep(get_db(), get_celery(), g.user, body, get_settings().sweep_max_variants)
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
    return sweep_out(sweeps.cancel_sweep(get_db(), get_celery(), g.user, path.sweep_id)), 200
