"""Sweeps: one job per variant of a base set of hyperparameters on one corpus, created together
(all or none) through `create_job`, so each is within its owner's quotas and waits its turn in
the fair queue like any other job (one user's sweep of 50 delays another user's job by at most
one). Cancelling a sweep cancels its jobs through `request_cancel`."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.orm import Session

from ..db.models import Job, Sweep, WorkStatus
from ..engine.config import Hyperparameters
from .dispatch import dispatch_next
from .jobs import CANCEL_REQUESTED, CANCELLED, AlreadyFinished, create_job, request_cancel


class InvalidSweep(ValueError):
    """A sweep that cannot be created; `errors` are (loc, message) pairs naming what is wrong."""

    def __init__(self, message: str, errors: list[tuple[list, str]]):
        super().__init__(message)
        self.errors = errors


def grid_size(grid: dict[str, list], most: int) -> int:
    """The number of variants the grid crosses (the product of its lists' lengths), counted
    without expanding anything and stopped at `most + 1` (past it, the exact number is moot)."""
    size = 1
    for values in grid.values():
        size *= len(values)
        if size > most:
            return most + 1
    return size


SHOWN_UNKNOWN = 5  # unknown grid keys named one by one at most


def check_grid(grid: dict[str, list], most: int, limit_name: str) -> None:
    """A grid's shape before it is expanded: at most one key per hyperparameter, each key a
    hyperparameter's name, and at most `most` (`limit_name`) combinations; InvalidSweep naming
    the unknown keys and the size. Cheap whatever the grid: no list is crossed with another."""
    known = Hyperparameters.model_fields
    errors: list[tuple[list, str]] = []
    if len(grid) > len(known):
        errors.append((["grid"], f"{len(grid)} keys: a grid varies at most the {len(known)} hyperparameters"))
    unknown = [name for name in grid if name not in known]
    errors += [
        (["grid", name], f"{name} is not a hyperparameter (known: {', '.join(known)})")
        for name in unknown[:SHOWN_UNKNOWN]
    ]
    size = grid_size(grid, most)
    if size > most:
        lengths = " x ".join(str(len(values)) for values in list(grid.values())[: len(known)])
        lengths += " x ..." if len(grid) > len(known) else ""
        errors.append((["grid"], f"the grid crosses {lengths} values: more variants than {limit_name} allows ({most})"))
    if errors:
        raise InvalidSweep(f"too many variants: {limit_name} allows {most}" if size > most else "invalid grid", errors)


def expand_grid(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, the first hyperparameter varying slowest
    (`{"a": [1, 2], "b": [3, 4]}`: a1 b3, a1 b4, a2 b3, a2 b4); check_grid it first."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]


def resolve_variants(
    base: dict, variants: list[dict], max_epochs: int | None = None, strict: bool = False
) -> list[Hyperparameters]:
    """Each variant's Hyperparameters (base, then the variant's values, epochs capped at
    `max_epochs`), validated by the engine's class (`strict`: JSON types as the API takes them);
    InvalidSweep names every bad field, at ["base", name] or ["variants", index, name]."""
    resolved, errors = [], []
    for index, variant in enumerate(variants):
        values = {**base, **variant}
        if max_epochs is not None:
            values["epochs"] = min(
                int(values.get("epochs", Hyperparameters.model_fields["epochs"].default)), max_epochs
            )
        try:
            resolved.append(Hyperparameters.model_validate(values, strict=strict))
        except ValidationError as exc:
            for err in exc.errors():
                field = err["loc"][0] if err["loc"] else "value"
                where = ["variants", index, field] if field in variant else ["base", field]
                errors.append((where, f"variant {index + 1} ({describe(variant)}): {err['msg']}"))
    if errors:
        raise InvalidSweep(f"{len({e[1].split(':')[0] for e in errors})} variant(s) are not valid", errors)
    return resolved


def describe(variant: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in variant.items()) or "the base"


def create_sweep(
    session: Session,
    owner_id: int,
    corpus_id: int,
    base: dict,
    variants: list[dict],
    hyperparameters: list[Hyperparameters],
    *,
    grid: dict | None = None,
    budget: dict | None = None,
    name: str | None = None,
) -> Sweep:
    """The sweep and one queued job per variant (flushed; QuotaExceeded when its owner's quotas
    do not hold them all: the caller rolls back). Send what `take_dispatches` returns after commit:
    at most one of these jobs is dispatched now, the rest wait their owner's turn."""
    sweep = Sweep(
        owner_id=owner_id, corpus_id=corpus_id, name=name, base=base, grid=grid, variants=variants, budget=budget
    )
    session.add(sweep)
    session.flush()
    for hp in hyperparameters:
        job = create_job(session, owner_id, corpus_id, hp)
        job.sweep_id = sweep.id
    session.flush()
    return sweep


@dataclass(frozen=True)
class SweepCancel:
    cancelled: list[int]  # queued jobs cancelled at once
    requested: list[int]  # running jobs asked to stop at their next batch
    dispatch: object | None  # the owner's next record to send after commit (a lifecycle Dispatch)


def cancel_sweep(session: Session, sweep: Sweep) -> SweepCancel:
    """Cancel every job of the sweep that is not finished (each through `request_cancel`), then
    dispatch the owner's next waiting job (one of another sweep or a single one), if any."""
    cancelled, requested = [], []
    for job_id in [j.id for j in sweep.jobs]:
        try:
            _job, outcome = request_cancel(session, job_id)
        except (AlreadyFinished, LookupError):
            continue
        if outcome == CANCELLED:
            cancelled.append(job_id)
        elif outcome == CANCEL_REQUESTED:
            requested.append(job_id)
    dispatch = dispatch_next(session, Job, sweep.owner_id) if cancelled else None
    return SweepCancel(cancelled, requested, dispatch)


STATUSES = [s.value for s in WorkStatus]


def status_counts(jobs: list[Job]) -> dict[str, int]:
    """Jobs per status (every status named, zeros included)."""
    counts = Counter(WorkStatus(j.status).value for j in jobs)
    return {status: counts.get(status, 0) for status in STATUSES}


def sweep_status(counts: dict[str, int]) -> str:
    """running while any job runs, queued while some wait and none runs, else finished."""
    if counts.get("running"):
        return "running"
    if counts.get("queued"):
        return "queued"
    return "finished"
