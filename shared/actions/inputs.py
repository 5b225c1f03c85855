"""The requests the actions take, validated alike for the API's JSON and the pages' forms: a
sample, an analysis, a sweep, the temperature chart's and the comparison's queries, and the field
rules they share (names, text, tags; integral floats as integers). The API's schemas
(services/api/schemas) document them and build on the same rules."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .access import MAX_ID

# ---- field rules --------------------------------------------------------------------------


def integral_floats_as_integers(model: type[BaseModel], data: Any) -> Any:
    """For a strict model's `mode="before"` validator: a float without a fractional part (75761.0)
    given for an integer field becomes that integer, as JSON Schema's `integer` allows; anything
    else (2.5, "2", true, inf) is left for the strict validation to refuse."""
    if not isinstance(data, dict):
        return data
    converted = dict(data)
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = converted.get(key)
        if type(value) is float and value.is_integer() and field.annotation in (int, int | None):
            converted[key] = int(value)
    return converted


def plain_text(value: str | None) -> str | None:
    """Tab and newlines are text; other control characters (and lone surrogates, which cannot be
    stored) are not."""
    if value is not None and any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters (other than tab and newlines) are not allowed")
    return value


def _label(value: str) -> str:
    if not value.isprintable() or "/" in value or "\\" in value:
        raise ValueError("a name is printable text: no control or invisible characters, no / or \\")
    return value


CorpusName = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_label)]
TAG_PATTERN = r"^[a-z0-9][a-z0-9_.:-]{0,31}$"


class NoQuery(BaseModel):
    """The query of an endpoint that takes none: any parameter is unknown (422)."""

    model_config = ConfigDict(extra="forbid")


# ---- samples ------------------------------------------------------------------------------

Temperature = Annotated[float, Field(ge=0, le=10)]
Precision = Literal["float32", "int8"]


class SampleCreate(BaseModel):
    """Generate `count` texts per temperature from the job's best checkpoint (or `epoch`'s)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    length: int = Field(50_000, ge=1, le=1_000_000, description="characters per text")
    temperature: Temperature | Annotated[list[Temperature], Field(min_length=1, max_length=8)] = Field(
        0.75, description="one temperature or a list of 1-8 (each 0-10; 0 is greedy: the likeliest character)"
    )
    seed_text: Annotated[str | None, AfterValidator(plain_text)] = Field(
        None, max_length=10_000, description="text to warm the model up on (no control characters but tab and newlines)"
    )
    count: int = Field(1, ge=1, le=32, description="texts per temperature")
    random_seed: int | None = Field(None, ge=0, le=2**63 - 1)
    top_k: int | None = Field(None, ge=1, le=1_000_000, description="draw among the k likeliest characters only")
    top_p: float | None = Field(
        None, gt=0, le=1, description="draw within the likeliest characters whose probabilities add up to p (nucleus)"
    )
    precision: Precision | None = Field(
        None,
        description="the weights to sample with: int8 (the fast path) or float32 (the exact one); "
        "default: the service's SAMPLE_PRECISION (int8 unless set)",
    )
    epoch: int | None = Field(
        None, ge=1, le=2**31 - 1, description="the checkpoint epoch to sample from (default: the best epoch)"
    )

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        return integral_floats_as_integers(cls, data)

    @property
    def temperatures(self) -> list[float]:
        return self.temperature if isinstance(self.temperature, list) else [self.temperature]


# ---- analyses and the temperature chart ---------------------------------------------------

PROMPT_MAX_CHARS = 2_000
MAX_TEMPERATURES = 8


class AnalysisCreate(BaseModel):
    """Which text and which checkpoint to analyse; both optional."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: Annotated[str | None, AfterValidator(plain_text)] = Field(
        None,
        description="the text to run the model over (at most ANALYSIS_MAX_CHARS characters, 20,000 by default; "
        "no control characters but tab and newlines); default: the tail of the job's corpus, "
        "the end of the part training held out for validation",
    )
    epoch: int | None = Field(None, ge=1, le=MAX_ID, description="the checkpoint's epoch (default: the best one)")

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        return integral_floats_as_integers(cls, data)


def _temperatures(value: str) -> str:
    parts = [p for p in value.split(",") if p.strip()]
    if not 1 <= len(parts) <= MAX_TEMPERATURES:
        raise ValueError(f"give 1 to {MAX_TEMPERATURES} temperatures, separated by commas")
    for part in parts:
        try:
            number = float(part)
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a number") from None
        if not 0 < number <= 10:
            raise ValueError("each temperature must be > 0 and <= 10")
    return value


class NextCharQuery(NoQuery):
    prompt: Annotated[str, AfterValidator(plain_text)] = Field(
        min_length=1, max_length=PROMPT_MAX_CHARS, description="the text the model reads first"
    )
    temperatures: Annotated[str, AfterValidator(_temperatures)] = Field(
        "0.2,0.5,1.0,1.5", description="1-8 temperatures separated by commas, each > 0 and <= 10"
    )
    top: int = Field(20, ge=1, le=1000, description="the likeliest characters listed (at temperature 1)")
    epoch: int | None = Field(None, ge=1, le=MAX_ID, description="the checkpoint's epoch (default: the best one)")

    @property
    def temperature_list(self) -> list[float]:
        return [float(p) for p in self.temperatures.split(",") if p.strip()]


# ---- sweeps and comparison ----------------------------------------------------------------

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

    @property
    def job_ids(self) -> list[int] | None:
        return [int(part) for part in self.jobs.split(",")] if self.jobs else None
