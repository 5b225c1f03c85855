"""Tables: users and their API tokens, corpora, training jobs with one row per finished epoch
(metrics + the checkpoint written for it), sample requests and neuron analyses.

The state of queued work (jobs, samples, analyses: `WorkStatus`) lives here, not in Celery's
result backend; shared.lifecycle writes it.
"""

import enum
import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..engine.config import Hyperparameters


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive datetimes; every stored time is UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_lease() -> str:
    """The fencing token of one claim of a job, sample or analysis: the claim's holder writes
    objects only under keys that name it and records only while the record still holds it."""
    return secrets.token_hex(8)


def new_dispatch_token() -> str:
    """Names one queue message of a job, sample or analysis; a message whose token is not the
    record's current one was superseded (requeued by the reconciler or a worker) and is skipped."""
    return secrets.token_hex(16)


# deterministic constraint names: migrations (and SQLite batch mode) can refer to them
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WorkStatus(str, enum.Enum):
    """The states of queued work, one set for jobs, samples and analyses alike (shared/lifecycle/work.py
    owns the moves between them): queued, running, then succeeded, failed or cancelled."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (WorkStatus.succeeded, WorkStatus.failed, WorkStatus.cancelled)

    @property
    def active(self) -> bool:
        return self in (WorkStatus.queued, WorkStatus.running)


def _enum(cls, name):
    return Enum(cls, name=name, native_enum=False, length=16, validate_strings=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    quotas: Mapped[dict | None] = mapped_column(
        JSON, doc="per-user limits overriding the settings' (shared.lifecycle.quotas), e.g. {'max_jobs': 5}"
    )

    tokens: Mapped[list["Token"]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Token(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), doc="after this the token answers 401 saying it expired; null: never"
    )

    user: Mapped[User] = relationship(back_populates="tokens")


class WebSession(Base):
    """A browser sign-in, kept on the server: the session cookie names it, and signing out ends it
    here, so a copied cookie stops working at logout (not only when it ages out)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True, doc="random id the cookie carries")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="signed out")


class Corpus(Base):
    __tablename__ = "corpora"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    object_key: Mapped[str] = mapped_column(String(256), unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    raw_chars: Mapped[int] = mapped_column(BigInteger)
    raw_unique: Mapped[int] = mapped_column(Integer)
    clean_chars: Mapped[int] = mapped_column(BigInteger)
    clean_unique: Mapped[int] = mapped_column(Integer)
    vocabulary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # labels and deletion
    notes: Mapped[str | None] = mapped_column(Text)
    tags_text: Mapped[str | None] = mapped_column("tags", String(600), doc="tags as ',a,b,' (see tags_of)")
    deleting_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="a delete in progress")

    owner: Mapped[User] = relationship()

    @property
    def tags(self) -> list[str]:
        return tags_of(self.tags_text)

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self.tags_text = tags_text(value)


def tags_of(text: str | None) -> list[str]:
    """The tags stored as ',a,b,' (so that one tag is found with LIKE '%,a,%' on any database)."""
    return [tag for tag in (text or "").split(",") if tag]


def tags_text(tags: list[str]) -> str | None:
    return f",{','.join(tags)}," if tags else None


class Job(Base):
    """A training job. `epoch` is the last finished epoch; each one has an Epoch row.

    Every status change and counter goes through shared.lifecycle (work.py's moves, jobs.py's own
    rules), nowhere else.
    `hyperparameters` is the validated `Hyperparameters` object: stored as JSON, validated by
    the same class when read back (`hyperparameters_json` is the raw column)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="RESTRICT"), index=True)
    hyperparameters_json: Mapped[dict] = mapped_column("hyperparameters", JSON)
    status: Mapped[WorkStatus] = mapped_column(_enum(WorkStatus, "job_status"), default=WorkStatus.queued, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0, doc="fraction of the current epoch done")
    best_val_loss: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatch_token: Mapped[str | None] = mapped_column(String(32), default=new_dispatch_token)
    lease: Mapped[str | None] = mapped_column(
        String(32), doc="fencing token of the current claim: only its holder records, and its objects go under it"
    )
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    requeues: Mapped[int] = mapped_column(Integer, default=0, doc="times a stopping worker handed it back")
    vocabulary: Mapped[list | None] = mapped_column(JSON, doc="the model's characters, known once training starts")
    unigram_bits: Mapped[float | None] = mapped_column(
        Float, doc="bits/char of the trained text's character frequencies alone, known once training starts"
    )
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0, doc="seconds of the recorded epochs")
    sweep_id: Mapped[int | None] = mapped_column(
        ForeignKey("sweeps.id", ondelete="SET NULL"),
        index=True,
        doc="the sweep that created it (shared.lifecycle.sweeps)",
    )
    # lineage, labels, deletion and retention
    name: Mapped[str | None] = mapped_column(String(128))
    notes: Mapped[str | None] = mapped_column(Text)
    tags_text: Mapped[str | None] = mapped_column("tags", String(600), doc="tags as ',a,b,'")
    deleting_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), index=True, doc="a delete in progress (the reconciler finds them every round)"
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="RESTRICT"), index=True, doc="the job this one continues or forks"
    )
    parent_epoch: Mapped[int | None] = mapped_column(
        Integer, doc="the parent's epoch whose checkpoint this job starts from; its history is the parent's up to it"
    )
    retention: Mapped[dict | None] = mapped_column(
        JSON, doc="checkpoint retention policy (shared.lifecycle.retention); null: the settings' default"
    )
    storage_bytes: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0", doc="bytes of its checkpoints in storage (recorded, not pruned)"
    )

    owner: Mapped[User] = relationship()
    corpus: Mapped[Corpus] = relationship()
    epochs: Mapped[list["Epoch"]] = relationship(
        back_populates="job", order_by="Epoch.epoch", cascade="all, delete-orphan"
    )

    @property
    def tags(self) -> list[str]:
        return tags_of(self.tags_text)

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self.tags_text = tags_text(value)

    def __init__(self, *, hyperparameters: Hyperparameters | dict | None = None, **kwargs):
        super().__init__(**kwargs)
        if hyperparameters is not None:
            self.hyperparameters = hyperparameters

    @property
    def hyperparameters(self) -> Hyperparameters:
        """Validated on every read (pydantic.ValidationError for a row no longer valid)."""
        return Hyperparameters.model_validate(self.hyperparameters_json)

    @hyperparameters.setter
    def hyperparameters(self, value: Hyperparameters | dict) -> None:
        if not isinstance(value, Hyperparameters):
            value = Hyperparameters.model_validate(value)
        self.hyperparameters_json = value.model_dump(mode="json")


class Epoch(Base):
    """One finished epoch: its metrics and the checkpoint uploaded for it (uploaded first, then recorded)."""

    __tablename__ = "epochs"
    __table_args__ = (UniqueConstraint("job_id", "epoch", name="uq_epochs_job_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    chars_per_second: Mapped[float] = mapped_column(Float)
    checkpoint_key: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    checkpoint_bytes: Mapped[int | None] = mapped_column(BigInteger, doc="size of the checkpoint's objects")
    pruned_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), doc="when the retention policy deleted its checkpoint (the metrics stay)"
    )

    job: Mapped[Job] = relationship(back_populates="epochs")


class Sample(Base):
    """A request for `count` x len(temperatures) generated texts from a job's model."""

    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    checkpoint_key: Mapped[str] = mapped_column(String(256))
    length: Mapped[int] = mapped_column(Integer)
    temperatures: Mapped[list] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer, default=1)
    seed_text: Mapped[str | None] = mapped_column(Text)
    random_seed: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[WorkStatus] = mapped_column(
        _enum(WorkStatus, "sample_status"), default=WorkStatus.queued, index=True
    )  # indexed: the reconciler reads the few queued and running ones every round
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    object_key: Mapped[str | None] = mapped_column(String(256), doc="the text (one sample) or a zip (several)")
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger, doc="size of its stored text or zip")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float] = mapped_column(Float, default=0.0, doc="fraction of the characters generated")
    worker: Mapped[str | None] = mapped_column(String(255))
    dispatch_token: Mapped[str | None] = mapped_column(String(32), default=new_dispatch_token)
    lease: Mapped[str | None] = mapped_column(
        String(32), doc="fencing token of the current claim: only its holder records, and its objects go under it"
    )
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    # sampling options (migration 0005): the checkpoint's epoch, the weights' precision, top-k/top-p
    epoch: Mapped[int | None] = mapped_column(Integer, doc="the checkpoint epoch the text comes from")
    precision: Mapped[str | None] = mapped_column(String(16), doc="float32 (exact) or int8 (fast path)")
    top_k: Mapped[int | None] = mapped_column(Integer)
    top_p: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[list | None] = mapped_column(
        JSON, doc="one dict per text: name, temperature and the engine's quality figures"
    )
    novelty: Mapped[list | None] = mapped_column(
        JSON, doc="one dict per text: name, temperature and the novelty figures (spans capped)"
    )

    owner: Mapped[User] = relationship()
    job: Mapped[Job] = relationship()


class SamplePiece(Base):
    """A piece of a running sample's text as its worker writes it (workers/text_stream.py, through
    shared.lifecycle.sample_pieces), read by the text stream; a sample's pieces are deleted when it
    ends (its stored text is then the authority) and when an attempt starts it afresh."""

    __tablename__ = "sample_pieces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    text_index: Mapped[int] = mapped_column(Integer, doc="0-based text of the sample (the download's order)")
    offset: Mapped[int] = mapped_column(Integer, doc="characters of that text before this piece")
    text: Mapped[str] = mapped_column(Text)


class Analysis(Base):
    """A neuron analysis of a job's model over a text (the user's, or the tail of the corpus): run
    by a sampling worker, its result (activations of the top cells, the full correlation table)
    stored as one JSON object; the top cells per feature are kept here too for listing."""

    __tablename__ = "analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    checkpoint_key: Mapped[str] = mapped_column(String(256))
    text: Mapped[str | None] = mapped_column(Text, doc="the user's text; null: the tail of the job's corpus")
    status: Mapped[WorkStatus] = mapped_column(
        _enum(WorkStatus, "analysis_status"), default=WorkStatus.queued, index=True
    )  # indexed: the reconciler reads the few queued and running ones every round
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    chars: Mapped[int | None] = mapped_column(Integer, doc="characters the model read")
    top: Mapped[dict | None] = mapped_column(JSON, doc="the top cells per feature (neurons.NeuronTable.to_dict)")
    object_key: Mapped[str | None] = mapped_column(String(256), doc="the result JSON")
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger, doc="size of its stored result")
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatch_token: Mapped[str | None] = mapped_column(String(32), default=new_dispatch_token)
    lease: Mapped[str | None] = mapped_column(
        String(32), doc="fencing token of the current claim: only its holder records, and its objects go under it"
    )
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    owner: Mapped[User] = relationship()
    job: Mapped[Job] = relationship()


class Sweep(Base):
    """A set of jobs on one corpus: one per variant of `base` (a grid expanded, or explicit
    variants), created together by shared.lifecycle.sweeps; its status is its jobs'."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(128))
    base: Mapped[dict] = mapped_column(JSON, doc="the hyperparameters every variant starts from")
    grid: Mapped[dict | None] = mapped_column(JSON, doc="lists of values per hyperparameter (None: explicit variants)")
    variants: Mapped[list] = mapped_column(JSON, doc="each job's overrides of `base`, in job order")
    budget: Mapped[dict | None] = mapped_column(JSON, doc="max_jobs, max_epochs as asked")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    owner: Mapped[User] = relationship()
    corpus: Mapped[Corpus] = relationship()
    jobs: Mapped[list[Job]] = relationship(order_by="Job.id", viewonly=True)


class BatchLoss(Base):
    """A running job's training loss within an epoch (Keras's running mean over the epoch's
    batches so far), recorded at most every LIVE_LOSS_INTERVAL seconds by shared.lifecycle.live."""

    __tablename__ = "batch_losses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer, doc="the epoch being trained (1-based)")
    batch: Mapped[int] = mapped_column(Integer, doc="batches done in that epoch")
    batches: Mapped[int] = mapped_column(Integer, doc="batches per epoch")
    loss: Mapped[float] = mapped_column(Float, doc="nats per character")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkerProcess(Base):
    """One worker process of the fleet (a Celery worker node, the reconciler), registered when it
    starts and heartbeating while it runs (shared.lifecycle.registry). The admin workers page and
    `charlstm admin workers` read these rows; a row whose heartbeat is older than
    HEARTBEAT_TIMEOUT is a lost worker. What it runs is read from the running jobs, samples and
    analyses whose `worker` is its `name`."""

    __tablename__ = "worker_processes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance: Mapped[str] = mapped_column(String(32), unique=True, doc="random id of this process start")
    name: Mapped[str] = mapped_column(String(255), index=True, doc="the node name jobs record as their worker")
    hostname: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), doc="training, sampling or reconciler")
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str | None] = mapped_column(String(32), doc="the Keras backend (training workers)")
    devices: Mapped[str | None] = mapped_column(String(255), doc="what it computes on, in words")
    queues: Mapped[list | None] = mapped_column(JSON)
    concurrency: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="a clean stop")
