"""Request and response models of the neuron analyses and the temperature chart, next
to the other schemas and with its strictness rules."""

from pydantic import BaseModel, Field

from shared.actions.inputs import AnalysisCreate, NextCharQuery

from ...plumbing.answers import AnalysisOut, NeuronTableOut, TopCell
from .common import Page

__all__ = [
    "AnalysisCreate",
    "AnalysisList",
    "AnalysisOut",
    "AnalysisPath",
    "NeuronTableOut",
    "NextCharOut",
    "NextCharQuery",
    "TopCell",
]


class AnalysisPath(BaseModel):
    analysis_id: int = Field(json_schema_extra={"example": 1})


class AnalysisList(Page):
    items: list[AnalysisOut]


class NextCharOut(BaseModel):
    job_id: int
    epoch: int
    characters: list[str] = Field(description="most probable first (at temperature 1)")
    temperatures: list[float]
    probabilities: list[list[float]] = Field(description="one row per temperature, aligned with characters")
    prompt_chars: int = Field(description="characters of the prompt the model read (others are not in its vocabulary)")
