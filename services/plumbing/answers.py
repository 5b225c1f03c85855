"""Answer shapes the API and the pages share: every timestamp in UTC, and an analysis as the API
answers it (the pages list and show the same fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask import url_for
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.db.models import Analysis, WorkStatus, as_utc


def _utc(moment: datetime) -> datetime:
    return as_utc(moment) or moment


# Every timestamp in an answer: UTC, written with a Z, whatever the database handed back (SQLite
# gives naive datetimes, PostgreSQL its session's zone), so POST and GET agree.
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


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
    constant: dict[str, str] = Field(
        default_factory=dict,
        description="features that do not vary over the text, with the reason (no cell can correlate with them)",
    )


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


def analysis_out(analysis: Analysis) -> dict:
    """The API's answer for an analysis (its result's URL is the API's)."""
    succeeded = analysis.status == WorkStatus.succeeded
    return AnalysisOut(
        id=analysis.id,
        job_id=analysis.job_id,
        epoch=analysis.epoch,
        status=analysis.status,
        error=analysis.error,
        source="corpus" if analysis.text is None else "text",
        chars=analysis.chars,
        neurons=analysis.top if succeeded else None,
        result_url=url_for("analyses.get_analysis_result", analysis_id=analysis.id) if succeeded else None,
        created_at=analysis.created_at,
        started_at=analysis.started_at,
        finished_at=analysis.finished_at,
    ).model_dump(mode="json")
