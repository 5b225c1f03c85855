"""Request and response models of the neuron analyses and the temperature chart (issue 11), next
to services/api/schemas.py and with its strictness rules."""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.db.models import WorkStatus

from .auth import MAX_ID
from .schemas import NoQuery, Page, UtcDatetime, _text, integral_floats_as_integers

PROMPT_MAX_CHARS = 2_000
MAX_TEMPERATURES = 8


class AnalysisCreate(BaseModel):
    """Which text and which checkpoint to analyse; both optional."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: Annotated[str | None, AfterValidator(_text)] = Field(
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


class AnalysisPath(BaseModel):
    analysis_id: int = Field(json_schema_extra={"example": 1})


class TopCell(BaseModel):
    layer: int = Field(description="0 for the first LSTM layer")
    unit: int
    correlation: float = Field(description="Pearson correlation of the cell state with the feature, -1..1")


class NeuronTableOut(BaseModel):
    features: list[str] = Field(
        description="bracket_depth, in_string, in_comment, in_docstring, indentation, column, line_start, after_keyword"
    )
    layers: int
    units: int
    top: dict[str, list[TopCell]] = Field(description="per feature, the most correlated cells, strongest first")


class AnalysisOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    epoch: int = Field(description="the checkpoint's epoch")
    status: WorkStatus
    error: str | None
    source: str = Field(description='"text" (the request\'s) or "corpus" (the tail of the job\'s corpus)')
    chars: int | None = Field(description="characters the model read, once finished")
    neurons: NeuronTableOut | None = Field(description="the discovered cells, once succeeded")
    result_url: str | None = Field(
        description="the full result (JSON: the text, the top cells' activations per character as integers "
        "-100..100, the correlation table [feature][layer][unit]), once succeeded"
    )
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class AnalysisList(Page):
    items: list[AnalysisOut]


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
    prompt: Annotated[str, AfterValidator(_text)] = Field(
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


class NextCharOut(BaseModel):
    job_id: int
    epoch: int
    characters: list[str] = Field(description="most probable first (at temperature 1)")
    temperatures: list[float]
    probabilities: list[list[float]] = Field(description="one row per temperature, aligned with characters")
    prompt_chars: int = Field(description="characters of the prompt the model read (others are not in its vocabulary)")
