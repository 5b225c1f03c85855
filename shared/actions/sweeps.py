"""Sweeps: create one (one job per variant, through the jobs' own creation: quotas and fair
queues), cancel one (its unfinished jobs, through the lifecycle)."""

from __future__ import annotations

from celery import Celery
from sqlalchemy.orm import Session

from shared.db.models import Corpus, Sweep, User
from shared.engine.config import Hyperparameters
from shared.lifecycle import sweeps as sweep_lifecycle

from .access import get_visible
from .errors import Invalid
from .inputs import SweepCreate, integral_floats_as_integers
from .jobs import check_length
from .send import commit_and_send


def _count(request: SweepCreate, max_variants: int) -> int:
    """The sweep's variants, counted without expanding a grid (its size and keys checked first)."""
    if request.grid is None:
        return len(request.variants or [])
    try:
        sweep_lifecycle.check_grid(request.grid, max_variants, "SWEEP_MAX_VARIANTS")
    except sweep_lifecycle.InvalidSweep as exc:
        raise Invalid(str(exc), [{"loc": loc, "msg": msg, "type": "invalid_grid"} for loc, msg in exc.errors]) from exc
    return sweep_lifecycle.grid_size(request.grid, max_variants)


def sweep_variants(request: SweepCreate, max_variants: int) -> tuple[list[dict], list[Hyperparameters]]:
    """The sweep's variants (the grid expanded) and their validated hyperparameters; Invalid
    naming each bad field, or a sweep over its budget or `max_variants` (SWEEP_MAX_VARIANTS)."""
    budget = request.budget.max_jobs if request.budget else None
    count = _count(request, max_variants)
    for limit, what in ((max_variants, "SWEEP_MAX_VARIANTS"), (budget, "budget.max_jobs")):
        if limit is not None and count > limit:
            loc = ["budget", "max_jobs"] if what.startswith("budget") else ["grid" if request.grid else "variants"]
            msg = f"the sweep has {count} variants; {what} allows {limit}"
            raise Invalid("too many variants", [{"loc": loc, "msg": msg, "type": "too_many_variants"}])
    grid = request.grid
    variants = sweep_lifecycle.expand_grid(grid) if grid is not None else list(request.variants or [])
    base = integral_floats_as_integers(Hyperparameters, request.base)
    exact = [integral_floats_as_integers(Hyperparameters, v) for v in variants]
    max_epochs = request.budget.max_epochs if request.budget else None
    try:
        resolved = sweep_lifecycle.resolve_variants(base, exact, max_epochs, strict=True)
    except sweep_lifecycle.InvalidSweep as exc:
        detail, seen = [], set()
        for loc, msg in exc.errors:
            if grid is not None and loc[0] == "variants":
                loc = ["grid", loc[2]]
            if (tuple(loc), msg) not in seen:
                seen.add((tuple(loc), msg))
                detail.append({"loc": loc, "msg": msg, "type": "invalid_variant"})
        raise Invalid(f"invalid sweep: {exc}", detail) from exc
    return variants, resolved


def create_sweep(session: Session, celery: Celery, user: User, request: SweepCreate, max_variants: int) -> Sweep:
    """Queue one training job per variant, all within the user's quotas or none (QuotaExceeded);
    every variant is checked against the corpus."""
    variants, resolved = sweep_variants(request, max_variants)  # before any read: a bad grid costs nothing
    corpus = get_visible(session, user, Corpus, request.corpus_id)
    for hyperparameters in resolved:
        check_length(corpus, hyperparameters)
    budget = request.budget.model_dump(exclude_none=True) if request.budget else None
    sweep = sweep_lifecycle.create_sweep(
        session,
        user.id,
        corpus.id,
        request.base,
        variants,
        resolved,
        grid=request.grid,
        budget=budget,
        name=request.name,
    )
    commit_and_send(session, celery, new=list(sweep.jobs))
    session.refresh(sweep)
    return sweep


def cancel_sweep(session: Session, celery: Celery, user: User, sweep_id: int) -> Sweep:
    """Cancel every unfinished job of the sweep: queued ones at once, running ones at their next
    batch. Finished jobs are left as they are; cancelling again changes nothing."""
    sweep = get_visible(session, user, Sweep, sweep_id)
    outcome = sweep_lifecycle.cancel_sweep(session, sweep)
    commit_and_send(session, celery, dispatched=[outcome.dispatch])  # type: ignore[list-item]
    session.refresh(sweep)
    return sweep
