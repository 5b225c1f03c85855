"""Request and response models. flask-openapi3 validates requests with them and builds the
OpenAPI document from the same classes."""

from datetime import datetime
from typing import Annotated, Any

from flask import has_request_context, request
from flask_openapi3 import FileStorage
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.db.models import JobStatus, SampleStatus
from shared.engine.config import Hyperparameters

# ---- common -------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="where the problem is, e.g. [\"layers\"]")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: a message, and for validation errors one entry per bad field."""

    error: str
    detail: list[ErrorDetail] | None = None


class PageQuery(BaseModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)


class Page(BaseModel):
    page: int
    per_page: int
    total: int


class Health(BaseModel):
    status: str = Field(description="ok, or unavailable when a dependency failed")
    database: str
    broker: str
    storage: str


# ---- corpora ------------------------------------------------------------------------------


def _label(value: str) -> str:
    if not value.isprintable() or "/" in value or "\\" in value:
        raise ValueError("a name is printable text without control characters or path separators")
    return value


CorpusName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), AfterValidator(_label)
]


def _is_file(value: Any) -> Any:
    if not hasattr(value, "stream"):
        raise ValueError("expected a file upload")
    return value


class CorpusForm(BaseModel):
    """A UTF-8 text file. The name is only a label (default: the file's name)."""

    file: Annotated[FileStorage, AfterValidator(_is_file)]
    name: CorpusName | None = Field(None, description="1-128 printable characters, no path separators")

    @field_validator("name", mode="before")
    @classmethod
    def _raw_name(cls, value):
        # flask-openapi3 JSON-decodes form fields ("123" -> 123); a name is always the raw text
        if has_request_context() and "name" in request.form:
            return request.form["name"]
        return value


class CorpusPath(BaseModel):
    corpus_id: int


class CorpusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    bytes: int
    sha256: str
    raw_chars: int = Field(description="characters in the upload")
    raw_unique: int = Field(description="distinct characters in the upload")
    clean_chars: int = Field(description="characters after cleaning (non-ASCII replaced or dropped)")
    clean_unique: int = Field(description="distinct characters after cleaning")
    vocabulary: str = Field(description="the distinct characters after cleaning")
    created_at: datetime


class CorpusList(Page):
    items: list[CorpusOut]


# ---- jobs ---------------------------------------------------------------------------------


class JobCreate(Hyperparameters):
    """A training job: the corpus and the hyperparameters. Unknown fields are rejected (422)."""

    corpus_id: int = Field(ge=1, description="a corpus you uploaded")


class JobPath(BaseModel):
    job_id: int


class JobQuery(PageQuery):
    status: JobStatus | None = None


class EpochOut(BaseModel):
    epoch: int
    loss: float = Field(description="training loss, nats per character")
    val_loss: float | None
    loss_bits: float = Field(description="training loss, bits per character")
    val_loss_bits: float | None
    seconds: float
    chars_per_second: float


class JobSummary(BaseModel):
    id: int
    corpus_id: int
    status: JobStatus
    hyperparameters: dict[str, Any]
    attempts: int
    epoch: int = Field(description="last finished epoch")
    epochs: int = Field(description="maximum number of epochs (hyperparameters.epochs)")
    progress: float = Field(description="fraction of the current epoch done")
    best_val_loss: float | None
    has_checkpoint: bool
    cancel_requested: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    eta_seconds: float | None = Field(
        description="mean epoch time x epochs left (an upper bound: early stopping may end sooner); null if unknown"
    )


class JobOut(JobSummary):
    history: list[EpochOut]
    checkpoint_epochs: list[int] = Field(description="epochs with a checkpoint to sample from")


class JobList(Page):
    items: list[JobSummary]


# ---- samples ------------------------------------------------------------------------------

Temperature = Annotated[float, Field(gt=0, le=10)]


class SampleCreate(BaseModel):
    """Generate `count` texts per temperature from the job's best checkpoint."""

    model_config = ConfigDict(extra="forbid")

    length: int = Field(50_000, ge=1, le=1_000_000, description="characters per text")
    temperature: Temperature | Annotated[list[Temperature], Field(min_length=1, max_length=8)] = Field(
        0.75, description="one temperature or a list of 1-8 (each > 0 and <= 10)"
    )
    seed_text: str | None = Field(None, max_length=10_000, description="text to warm the model up on")
    count: int = Field(1, ge=1, le=32, description="texts per temperature")
    random_seed: int | None = Field(None, ge=0, le=2**63 - 1)

    @property
    def temperatures(self) -> list[float]:
        return self.temperature if isinstance(self.temperature, list) else [self.temperature]


class SamplePath(BaseModel):
    sample_id: int


class SampleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    status: SampleStatus
    error: str | None
    length: int
    temperatures: list[float]
    count: int
    seed_text: str | None
    random_seed: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SampleList(Page):
    items: list[SampleOut]
