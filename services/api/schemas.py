"""Request and response models. flask-openapi3 validates requests with them and builds the
OpenAPI document from the same classes.

Strictness, the same on every endpoint: unknown fields and query parameters are a 422 naming
them; JSON bodies are strict (an integer is a JSON number without a fractional part: 2 or 2.0,
as JSON Schema's `integer` says, not 2.5 or "2"; a boolean is true/false; a number may be an
integer); query and path values are text, parsed as documented.
"""

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import has_request_context, request
from flask_openapi3 import FileStorage
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from shared.db.models import WorkStatus, as_utc
from shared.engine.config import Hyperparameters

from ..plumbing.errors import ApiError, field_error

# ---- common -------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return as_utc(moment) or moment


# Every timestamp in an answer: UTC, written with a Z, whatever the database handed back (SQLite
# gives naive datetimes, PostgreSQL its session's zone), so POST and GET agree.
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description='where the problem is, e.g. ["layers"]')
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: a message, and for validation errors one entry per bad field."""

    error: str
    detail: list[ErrorDetail] | None = None


_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}

# Answers any operation may give, documented on each (an operation's own entry wins):
# 431 comes from the HTTP server (services/serve.py) before the app sees the request; 503 from the
# server's load shedding or from a dependency that did not answer within DEPENDENCY_TIMEOUT.
EVERY_OPERATION_RESPONSES: dict[Any, Any] = {
    431: {
        "description": "the request line and headers together are over 64 KiB (answered by the HTTP server)",
        "content": _ERROR_CONTENT,
    },
    503: {
        "description": "overloaded (shed), or the database, broker or object storage did not answer in time: "
        "retry after Retry-After seconds",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait before retrying (when known)",
                "schema": {"type": "integer"},
            }
        },
        "content": _ERROR_CONTENT,
    },
}

_JSON_TYPES = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def json_body_on(*endpoints: str):
    """A `before_request` hook: require_json_object() on POSTs to these endpoints."""

    def hook() -> None:
        if request.method == "POST" and request.endpoint in endpoints:
            require_json_object()

    return hook


def require_json_object() -> None:
    """A `before_request` hook for routes with a JSON body: 415 unless it is sent as JSON, 400
    unless it parses, 422 unless it is an object (the model then names each bad field)."""
    if not request.is_json:
        raise ApiError(415, "the request body must be JSON, sent with Content-Type: application/json")
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()  # a chunked body is cut at the limit by Werkzeug, not refused
    try:
        body = request.get_json()
    except (BadRequest, RecursionError) as exc:  # json.loads fails deep nesting with a RecursionError
        why = exc.description if isinstance(exc, BadRequest) else "nested too deeply"
        raise ApiError(400, "the request body is not valid JSON", [field_error("body", why, "json_invalid")]) from exc
    if not isinstance(body, dict):
        got = _JSON_TYPES.get(type(body), "a number")
        raise ApiError(
            422,
            "the request body must be a JSON object",
            [field_error("body", f"expected an object, got {got}", "model_type")],
        )


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


class NoQuery(BaseModel):
    """The query of an endpoint that takes none: any parameter is unknown (422)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(NoQuery):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(20, ge=1, le=100)


class Page(BaseModel):
    page: int
    per_page: int
    total: int


class Liveness(BaseModel):
    status: str = Field(description="always ok: the API process answers")


class Health(BaseModel):
    status: str = Field(description="ok, or unavailable when a dependency failed")
    database: str
    broker: str
    storage: str


# ---- corpora ------------------------------------------------------------------------------


def _label(value: str) -> str:
    if not value.isprintable() or "/" in value or "\\" in value:
        raise ValueError("a name is printable text: no control or invisible characters, no / or \\")
    return value


CorpusName = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_label)]


def _is_file(value: Any) -> Any:
    if not hasattr(value, "stream"):
        raise ValueError("expected a file upload")
    return value


class CorpusForm(BaseModel):
    """A UTF-8 text file. The name is only a label (default: the file's name)."""

    model_config = ConfigDict(extra="forbid")

    file: Annotated[FileStorage, AfterValidator(_is_file)]
    name: CorpusName | None = Field(
        None, description="1-128 printable characters, no path separators; kept as Unicode (NFC), trimmed"
    )

    @field_validator("name", mode="before")
    @classmethod
    def _raw_name(cls, value):
        # flask-openapi3 JSON-decodes form fields ("123" -> 123); a name is always the raw text
        if has_request_context() and "name" in request.form:
            value = request.form["name"]
        return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


class CorpusPath(BaseModel):
    corpus_id: int = Field(json_schema_extra={"example": 1})


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
    created_at: UtcDatetime
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)


class CorpusList(Page):
    items: list[CorpusOut]


# ---- jobs ---------------------------------------------------------------------------------


class JobCreate(Hyperparameters):
    """A training job: the corpus and the hyperparameters. Unknown fields are rejected (422)."""

    model_config = ConfigDict(strict=True)

    corpus_id: int = Field(ge=1, description="a corpus you uploaded", examples=[1])
    name: "CorpusName | None" = Field(None, description="a label: 1-128 printable characters, no path separators")
    notes: "Notes | None" = Field(None, description="free text, at most 10,000 characters")
    tags: "Tags | None" = Field(None, description="at most 16 tags (1-32 of a-z 0-9 _ . : -)")
    retention: "RetentionIn | None" = Field(None, description="checkpoint retention policy (default: the settings')")

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
    tag: "Tag | None" = Field(None, description="only jobs with this tag")


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
    status: WorkStatus
    hyperparameters: Hyperparameters
    attempts: int = Field(
        description="starts that count toward MAX_ATTEMPTS (a lost worker counts; a graceful stop does not)"
    )
    requeues: int = Field(description="times a stopping worker handed the job back to the queue")
    epoch: int = Field(description="last finished epoch")
    epochs: int = Field(description="maximum number of epochs (hyperparameters.epochs)")
    progress: float = Field(description="fraction of the current epoch done")
    best_val_loss: float | None
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
    history: list[EpochOut]
    checkpoint_epochs: list[int] = Field(description="epochs with a checkpoint to sample from")
    lineage: "Lineage | None" = None


class JobList(Page):
    items: list[JobSummary]


class JobCreated(JobOut):
    warnings: list[str] = Field(
        description="sizing advice before training (shared.engine.training.sizing, as `charlstm train` prints it): few "
        "batches per epoch for this corpus, batch size and length, or more weights than the corpus can "
        "teach, each with a setting that helps; empty when all is well"
    )


# ---- samples ------------------------------------------------------------------------------

Temperature = Annotated[float, Field(ge=0, le=10)]
Precision = Literal["float32", "int8"]


def _text(value: str | None) -> str | None:
    """Tab and newlines are text; other control characters (and lone surrogates, which cannot be
    stored) are not."""
    if value is not None and any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters (other than tab and newlines) are not allowed")
    return value


class SampleCreate(BaseModel):
    """Generate `count` texts per temperature from the job's best checkpoint (or `epoch`'s)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    length: int = Field(50_000, ge=1, le=1_000_000, description="characters per text")
    temperature: Temperature | Annotated[list[Temperature], Field(min_length=1, max_length=8)] = Field(
        0.75, description="one temperature or a list of 1-8 (each 0-10; 0 is greedy: the likeliest character)"
    )
    seed_text: Annotated[str | None, AfterValidator(_text)] = Field(
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


class SamplePath(BaseModel):
    sample_id: int = Field(json_schema_extra={"example": 1})


class TextQuality(BaseModel):
    """The quality figures of one text (shared.engine.measures.quality): a figure is null where it does not
    apply (the Python measures of a corpus that is not Python-like)."""

    name: str = Field(description="the text's file name, as in the download's zip")
    temperature: float
    chars: int
    lines: int
    blocks: int | None = Field(None, description="top-level def/class blocks")
    parse_rate: float | None = Field(None, description="share of top-level blocks that ast.parse accepts")
    balanced_lines: float | None = Field(None, description="share of non-blank lines whose brackets balance")
    indent_multiple_of_4: float | None = Field(None, description="share of indented lines indented by 4k columns")
    identifiers_defined: float | None = Field(
        None, description="share of names read in parsing blocks that the block defines or imports (or builtins)"
    )
    bits_per_char: float | None = Field(
        None, description="bits per character of the text under the model (float32), over its first bits_chars"
    )
    bits_chars: int | None = Field(None, description="characters bits_per_char was measured on (at most 10,000)")
    char_divergence: float | None = Field(
        None, description="Jensen-Shannon divergence (bits, 0-1) of the text's characters from the corpus's"
    )


class TextNovelty(BaseModel):
    """How much of one text is copied from the training corpus (shared.engine.measures.novelty)."""

    name: str
    temperature: float
    chars: int
    lines_counted: int = Field(description="lines of 20+ characters (stripped)")
    lines_copied: int = Field(description="of those, the lines found verbatim in the corpus")
    copied_lines: float | None = Field(description="lines_copied / lines_counted")
    longest_copy: int = Field(description="the longest substring found verbatim in the corpus, characters")
    longest_copy_start: int | None
    min_span: int = Field(description="non-blank characters for a copy to count as a span")
    spans: list[list[int]] = Field(description="copied [start, end) character ranges: the longest ones only")
    spans_total: int | None = Field(None, description="copied spans in all (spans keeps the longest 200)")
    copied_chars: int = Field(description="characters covered by all copied spans")


class SampleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    status: WorkStatus
    error: str | None
    progress: float = Field(description="fraction of the characters generated")
    length: int
    temperatures: list[float]
    count: int
    seed_text: str | None
    random_seed: int | None
    epoch: int | None = Field(description="the checkpoint epoch the texts come from")
    precision: Precision | None = Field(description="the weights the texts were sampled with")
    top_k: int | None
    top_p: float | None
    quality: list[TextQuality] | None = Field(description="per text, in the order of the download: null until done")
    novelty: list[TextNovelty] | None = Field(
        description="per text, against the job's training corpus: null until done"
    )
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class SampleList(Page):
    items: list[SampleOut]


# ---- lineage, labels, deletion and retention (issue 12) -----------------------------------

TAG_PATTERN = r"^[a-z0-9][a-z0-9_.:-]{0,31}$"
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]
Notes = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_text)]


def _unique(tags: list[str] | None) -> list[str] | None:
    return None if tags is None else list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=16), AfterValidator(_unique)]


class Labels(BaseModel):
    """A name, notes and tags (1-32 of a-z 0-9 _ . : -, starting with a letter or digit; at most 16)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: CorpusName | None = Field(None, description="1-128 printable characters, no path separators")
    notes: Notes | None = Field(None, description="free text, at most 10,000 characters")
    tags: Tags | None = Field(None, description="replaces the tags; [] removes them all")


class RetentionIn(BaseModel):
    """Which of the job's checkpoints stay in storage (the others are deleted as epochs land)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    keep_every: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="every Nth epoch's checkpoint; 0: none, 1: all (default RETENTION_KEEP_EVERY)",
    )
    keep_best: bool = Field(True, description="the best epoch's checkpoint")
    keep_last: int = Field(1, ge=1, le=10_000, description="the latest N epochs' checkpoints")


LABEL_FIELDS = frozenset({"name", "notes", "tags", "retention"})


class CorpusQuery(PageQuery):
    tag: Tag | None = Field(None, description="only corpora with this tag")


class DeleteJobQuery(NoQuery):
    cancel: bool = Field(False, description="cancel a queued or running job first (202 until it has stopped)")


class DeleteCorpusQuery(NoQuery):
    with_jobs: bool = Field(False, description="delete the jobs that use the corpus too (cancelled first)")


class Deleted(BaseModel):
    status: str = Field(description="deleted, or deleting (202: finished once the job has stopped)")


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


JobCreate.model_rebuild()
JobQuery.model_rebuild()
JobOut.model_rebuild()
