"""Request and response models of sweeps and run comparison (services/api/sweeps.py, compare.py)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.db.models import WorkStatus

from .schemas import CorpusName, Page, PageQuery, UtcDatetime

HYPERPARAMETERS = "any of the job hyperparameters (POST /api/v1/jobs), by the same names"


class SweepBudget(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    max_jobs: int | None = Field(
        None, ge=1, le=10_000, description="refuse the sweep (422) if it has more variants than this"
    )
    max_epochs: int | None = Field(None, ge=1, le=10_000, description="each job's epochs at most (lowered to it)")


class SweepCreate(BaseModel):
    """One job per variant: `base` updated by each combination of `grid` (every value list
    crossed with the others) or by each entry of `variants`; exactly one of the two."""

    model_config = ConfigDict(extra="forbid", strict=True)

    corpus_id: int = Field(ge=1, description="a corpus you uploaded", examples=[1])
    name: CorpusName | None = Field(None, description="a label, 1-128 printable characters")
    base: dict[str, Any] = Field(default_factory=dict, description=f"{HYPERPARAMETERS}; defaults: the paper's")
    grid: dict[str, list[Any]] | None = Field(
        None,
        description=f"hyperparameter name -> list of values ({HYPERPARAMETERS})",
        examples=[{"optimizer": ["rmsprop", "adam"], "seed": [0, 1]}],
    )
    variants: list[dict[str, Any]] | None = Field(
        None, min_length=1, description=f"explicit variants, each a set of {HYPERPARAMETERS}"
    )
    budget: SweepBudget | None = None

    @model_validator(mode="after")
    def _grid_or_variants(self):
        if (self.grid is None) == (self.variants is None):
            raise ValueError("give either grid or variants (exactly one)")
        if self.grid is not None:
            if not self.grid:
                raise ValueError("grid: at least one hyperparameter")
            empty = [name for name, values in self.grid.items() if not values]
            if empty:
                raise ValueError(f"grid: {empty[0]} has no values")
        return self


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


class CompareQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: str | None = Field(
        None,
        pattern=r"^\d+(,\d+)*$",
        max_length=1000,
        description="comma-separated job ids",
        json_schema_extra={"example": "1,2,3"},
    )
    sweep: int | None = Field(None, ge=1, description="a sweep: its jobs")
    smoothing: float = Field(
        0.0, ge=0.0, lt=1.0, description="exponential moving average weight in [0, 1), as TensorBoard's (0: none)"
    )

    @model_validator(mode="after")
    def _one_selection(self):
        if (self.jobs is None) == (self.sweep is None):
            raise ValueError("give either jobs or sweep (exactly one)")
        return self


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
    best_epoch: int | None
    best_val_bits: float | None
    last_loss_bits: float | None
    seconds_per_epoch: float | None
    chars_per_second: float | None
    quality: dict[str, float] | None = Field(description="mean sample quality figures over the job's sample texts")
    samples: int = Field(description="sample texts the quality figures come from")


class CompareOut(BaseModel):
    varying: list[str] = Field(description="hyperparameters whose values differ between the jobs")
    smoothing: float
    curves: list[Curve]
    table: list[CompareRow] = Field(description="best validation bits/char first")


class LiveLossOut(BaseModel):
    job_id: int
    status: WorkStatus
    interval_seconds: float = Field(description="LIVE_LOSS_INTERVAL: points are at least this far apart")
    points: list[list[float]] = Field(description="[[position in epochs, training bits/char], ...]")
