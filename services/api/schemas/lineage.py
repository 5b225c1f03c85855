"""Lineage: the continue and fork requests, and a job's parent and children."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.actions.inputs import (
    integral_floats_as_integers,
)
from shared.engine.config import Hyperparameters

from ...plumbing.errors import ApiError, field_error


class JobContinue(BaseModel):
    """Train `epochs` more epochs from the job's latest checkpoint, as a new job linked to it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int = Field(ge=1, le=10_000, description="epochs to train after the parent's last one")

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        return integral_floats_as_integers(cls, data)


def _refuse_architecture(data: Any) -> Any:
    from shared.engine.config import FORKABLE

    if isinstance(data, dict):
        fixed = sorted(k for k in data if k in Hyperparameters.model_fields and k not in FORKABLE)
        if fixed:
            msg = "changes the network or its data; a fork may change only " + ", ".join(sorted(FORKABLE))
            raise ApiError(
                422, "architectural changes cannot be forked", [field_error(k, msg, "architectural") for k in fixed]
            )
    return data


class JobFork(BaseModel):
    """A new job from the job's latest checkpoint with non-architectural changes; a different
    optimizer starts with a fresh optimizer state. Architectural fields (layers, units, seq_len,
    mode, step, validation_split, lowercase, tabs, seed) answer 422."""

    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="epochs to train after the parent's last one (default: the parent's left, at least 1)",
    )
    learning_rate: float | None = Field(None, gt=0.0, le=10.0)
    optimizer: Literal["rmsprop", "adam"] | None = None
    clipnorm: float | None = Field(None, gt=0.0, le=1e6)
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    batch_size: int | None = Field(None, ge=1, le=4096)
    patience: int | None = Field(None, ge=0, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _before(cls, data: Any) -> Any:
        return integral_floats_as_integers(cls, _refuse_architecture(data))

    def changes(self) -> dict:
        return self.model_dump(exclude_none=True, exclude={"epochs"})


class Lineage(BaseModel):
    parent_id: int | None = Field(description="the job this one continues or forks")
    parent_epoch: int | None = Field(description="the parent's epoch it started from")
    children: list[int] = Field(description="jobs continued or forked from this one")
