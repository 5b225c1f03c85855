"""Training jobs: the request (the engine's Hyperparameters plus the job's own fields), the answers."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.actions.inputs import (
    CorpusName,
    integral_floats_as_integers,
)
from shared.db.models import WorkStatus
from shared.engine.config import Hyperparameters

from ...plumbing.answers import UtcDatetime
from .common import Page, PageQuery
from .labels import LABEL_FIELDS, Notes, RetentionIn, Tag, Tags
from .lineage import Lineage


class JobCreate(Hyperparameters):
    """A training job: the corpus and the hyperparameters. Unknown fields are rejected (422)."""

    model_config = ConfigDict(strict=True)

    corpus_id: int = Field(ge=1, description="a corpus you uploaded", examples=[1])
    name: "CorpusName | None" = Field(None, description="a label: 1-128 printable characters, no path separators")
    notes: Notes | None = Field(None, description="free text, at most 10,000 characters")
    tags: Tags | None = Field(None, description="at most 16 tags (1-32 of a-z 0-9 _ . : -)")
    retention: RetentionIn | None = Field(None, description="checkpoint retention policy (default: the settings')")

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        return integral_floats_as_integers(cls, data)

    @property
    def hyperparameters(self) -> Hyperparameters:
        """The request's hyperparameters, as validated by this model (not validated again)."""
        return Hyperparameters.model_construct(**self.model_dump(exclude={"corpus_id", *LABEL_FIELDS}))


class JobPath(BaseModel):
    job_id: int = Field(json_schema_extra={"example": 1})


class JobQuery(PageQuery):
    status: WorkStatus | None = None
    tag: Tag | None = Field(None, description="only jobs with this tag")


class EpochOut(BaseModel):
    """An epoch's losses in both units: `..._bits` (bits per character, what pages and the CLI
    show) and `..._nats`; `loss` and `val_loss` are the nats fields under their first names."""

    epoch: int
    loss_bits: float = Field(description="training loss, bits per character")
    val_loss_bits: float | None = Field(description="held-out loss, bits per character (null: no held-out part)")
    loss_nats: float = Field(description="training loss, nats per character")
    val_loss_nats: float | None = Field(description="held-out loss, nats per character")
    loss: float = Field(description="training loss, nats per character (the same as loss_nats)")
    val_loss: float | None = Field(description="held-out loss, nats per character (the same as val_loss_nats)")
    seconds: float
    chars_per_second: float


class Learning(BaseModel):
    """Whether the model has learned (shared/engine/training/learning.py), at the best held-out epoch."""

    state: str = Field(description="not learned, learning or learned")
    bits_per_char: float = Field(description="held-out bits/char at the best epoch")
    unigram_bits: float = Field(description="bits/char of the corpus's character frequencies alone")
    line: str = Field(description="the verdict in words, with what would help")


class JobSummary(BaseModel):
    id: int
    corpus_id: int
    status: WorkStatus
    hyperparameters: Hyperparameters
    attempts: int = Field(
        description="starts that count toward MAX_ATTEMPTS (a lost worker counts; a graceful stop does not)"
    )
    requeues: int = Field(description="times a stopping worker handed the job back to the queue")
    epoch: int = Field(description="last finished epoch")
    epochs: int = Field(description="maximum number of epochs (hyperparameters.epochs)")
    progress: float = Field(description="fraction of the current epoch done")
    best_val_loss_bits: float | None = Field(description="the lowest held-out loss so far, bits per character")
    best_val_loss_nats: float | None = Field(description="the lowest held-out loss so far, nats per character")
    best_val_loss: float | None = Field(description="nats per character (the same as best_val_loss_nats)")
    has_checkpoint: bool
    cancel_requested: bool
    error: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    eta_seconds: float | None = Field(
        description="mean epoch time x epochs left (an upper bound: early stopping may end sooner); null if unknown"
    )
    name: str | None = None
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)
    parent_id: int | None = Field(None, description="the job this one continues or forks")
    storage_bytes: int = Field(0, description="bytes of the job's checkpoints in object storage")
    deleting: bool = Field(False, description="a delete is in progress")


class JobOut(JobSummary):
    learning: Learning | None = Field(
        None, description="has the model learned? null before an epoch has a held-out loss"
    )
    history: list[EpochOut]
    checkpoint_epochs: list[int] = Field(description="epochs with a checkpoint to sample from")
    lineage: Lineage | None = None


class JobList(Page):
    items: list[JobSummary]


class JobCreated(JobOut):
    warnings: list[str] = Field(
        description="sizing advice before training (shared.engine.training.sizing, as `charlstm train` prints it): few "
        "batches per epoch for this corpus, batch size and length, or more weights than the corpus can "
        "teach, each with a setting that helps; empty when all is well"
    )
