"""Hyperparameters of one training run: one validated object, used by the engine, the CLI and the API.

Defaults are the paper's (3 x 512 LSTM, dropout 0.5, RMSprop lr 0.0015, clipnorm 5, 150 epochs).
The stateless baseline is the Keras example's windowing: length 40, step 3, one next character.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

STATEFUL_SEQ_LEN = 100
STATELESS_SEQ_LEN = 40


class Hyperparameters(BaseModel):
    """Everything that defines a training run. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["stateful", "stateless"] = Field(
        "stateful", description="stateful many-to-many (the paper) or the stateless windowed baseline"
    )
    layers: int = Field(3, ge=1, le=4, description="stacked LSTM layers")
    units: int = Field(512, ge=1, le=4096, description="units per LSTM layer")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout after each LSTM layer")
    seq_len: int | None = Field(
        None,
        ge=2,
        le=10_000,
        description="characters per training sequence (default 100 stateful, 40 stateless)",
    )
    step: int = Field(3, ge=1, le=10_000, description="stride between windows (stateless only)")
    batch_size: int = Field(128, ge=1, le=4096, description="sequences per batch")
    epochs: int = Field(150, ge=1, le=10_000, description="maximum number of epochs")
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    learning_rate: float = Field(0.0015, gt=0.0, le=10.0, description="the learning rate (cosine: its peak)")
    schedule: Literal["constant", "cosine"] = Field(
        "constant",
        description="learning rate over the run: constant (the paper), or a linear warm-up then cosine decay "
        "to a tenth over the planned epochs' batches",
    )
    warmup_steps: int = Field(0, ge=0, le=10_000_000, description="cosine: batches of linear warm-up from 0")
    clipnorm: float = Field(5.0, gt=0.0, le=1e6, description="gradient norm clipping")
    validation_split: float = Field(
        0.05, ge=0.0, lt=1.0, description="fraction held out for validation (the tail of every row)"
    )
    patience: int = Field(
        5, ge=0, le=10_000, description="epochs without validation improvement before stopping; 0 disables"
    )
    lowercase: bool = Field(False, description="lowercase the corpus")
    tabs: bool = Field(False, description="leading runs of 4 spaces become tabs (undone on samples)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="random seed for weights, dropout and order")
    devices: int = Field(
        1, ge=1, le=64, description="devices to train on (data-parallel: the batch's rows split across them)"
    )
    budget_seconds: int | None = Field(
        None,
        ge=10,
        le=30 * 24 * 3600,
        description="train for this many seconds with the budgeted recipe: it chooses every field of the recipe "
        "left at the paper's default from the corpus size and this machine's measured speed, and stops at the "
        "budget (docs/recipe.md)",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_seq_len(cls, data):
        if isinstance(data, dict) and data.get("seq_len") is None:
            mode = data.get("mode", "stateful")
            data = {**data, "seq_len": STATELESS_SEQ_LEN if mode == "stateless" else STATEFUL_SEQ_LEN}
        return data

    @model_validator(mode="after")
    def _budget_is_stateful(self):
        if self.budget_seconds is not None and self.mode != "stateful":
            raise ValueError("the budgeted recipe trains statefully: budget_seconds needs mode stateful")
        return self

    @property
    def stateful(self) -> bool:
        return self.mode == "stateful"


# what a continued or forked run may change: the rest defines the network (its weights' shapes)
# or the data it was trained on
FORKABLE = frozenset(
    {"epochs", "patience", "learning_rate", "optimizer", "clipnorm", "dropout", "batch_size", "devices", "schedule",
     "warmup_steps", "budget_seconds"}
)  # fmt: skip


def fork_hyperparameters(base: Hyperparameters, changes: dict) -> Hyperparameters:
    """`base` with `changes` on top; ValueError naming every architectural field changed (only
    FORKABLE ones may differ). Validation errors of the result propagate (pydantic)."""
    merged = Hyperparameters.model_validate({**base.model_dump(), **changes})
    fixed = sorted(
        name
        for name in Hyperparameters.model_fields
        if name not in FORKABLE and getattr(merged, name) != getattr(base, name)
    )
    if fixed:
        raise ValueError(
            "only "
            + ", ".join(sorted(FORKABLE))
            + " may change when continuing a model; "
            + ", ".join(f"{name} ({getattr(base, name)!r} -> {getattr(merged, name)!r})" for name in fixed)
            + " would change the network or its data"
        )
    return merged


def describe_validation_error(exc) -> str:
    """A pydantic ValidationError as one line: `field: message; field: message`."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
