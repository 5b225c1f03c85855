"""Request and response models of sweeps and run comparison (services/api/sweeps.py, compare.py)."""

from typing import Any

from pydantic import BaseModel, Field

from shared.actions.inputs import CompareQuery, SweepBudget, SweepCreate
from shared.db.models import WorkStatus

from ...plumbing.answers import UtcDatetime
from .common import Page, PageQuery

__all__ = [
    "CompareOut",
    "CompareQuery",
    "CompareRow",
    "Curve",
    "LiveLossOut",
    "SweepBudget",
    "SweepCreate",
    "SweepJob",
    "SweepList",
    "SweepOut",
    "SweepPath",
    "SweepQuery",
    "SweepSummary",
]


class SweepPath(BaseModel):
    sweep_id: int = Field(json_schema_extra={"example": 1})


class SweepQuery(PageQuery):
    pass


class SweepSummary(BaseModel):
    id: int
    name: str | None
    corpus_id: int
    status: str = Field(description="running (a job runs), queued (jobs wait, none runs) or finished")
    counts: dict[str, int] = Field(description="jobs per status")
    jobs_total: int
    job_ids: list[int]
    base: dict[str, Any]
    grid: dict[str, list[Any]] | None
    variants: list[dict[str, Any]]
    budget: dict[str, Any] | None
    created_at: UtcDatetime


class SweepJob(BaseModel):
    id: int
    status: WorkStatus
    variant: dict[str, Any] = Field(description="what this job changes from the base")
    epoch: int
    epochs: int
    progress: float
    best_val_loss_bits: float | None
    error: str | None


class SweepOut(SweepSummary):
    jobs: list[SweepJob]
    compare_url: str = Field(description="the API's comparison of the sweep's jobs")


class SweepList(Page):
    items: list[SweepSummary]


# ---- comparison -------------------------------------------------------------------------------


class Curve(BaseModel):
    id: int
    label: str
    val_bits: list[list[float]] = Field(description="[[epoch, validation bits/char], ...]")
    val_bits_smoothed: list[list[float]]
    train_bits: list[list[float]] = Field(description="[[epoch, training bits/char], ...]")
    live_bits: list[list[float]] = Field(
        description="[[position in epochs, training bits/char], ...]: the running mean within each epoch"
    )


class CompareRow(BaseModel):
    id: int
    label: str
    status: str
    varying: dict[str, Any] = Field(description="this job's values of the varying hyperparameters")
    epochs: int = Field(description="finished epochs")
    epochs_label: str = Field(
        "", description="`4 / 5`: the last epoch reached (a continued job counts its parent's) / planned"
    )
    best_epoch: int | None
    best_val_bits: float | None
    last_loss_bits: float | None
    seconds_per_epoch: float | None
    chars_per_second: float | None
    quality: dict[str, float] | None = Field(description="mean sample quality figures over the job's sample texts")
    samples: int = Field(description="sample texts the quality figures come from")
    verdicts: dict[str, int] = Field(
        default_factory=dict, description="sample texts per verdict (degenerate, text, python-shaped, parses)"
    )
    verdicts_line: str = Field("-", description="the verdicts in words, best first: `2 parses, 1 degenerate`")


class CompareOut(BaseModel):
    varying: list[str] = Field(description="hyperparameters whose values differ between the jobs")
    columns: list[str] = Field(
        default_factory=list,
        description="the varying hyperparameters a table shows in columns of their own (not epochs)",
    )
    smoothing: float
    curves: list[Curve]
    table: list[CompareRow] = Field(description="best validation bits/char first")


class LiveLossOut(BaseModel):
    job_id: int
    status: WorkStatus
    interval_seconds: float = Field(description="LIVE_LOSS_INTERVAL: points are at least this far apart")
    points: list[list[float]] = Field(description="[[position in epochs, training bits/char], ...]")
