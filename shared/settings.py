"""All settings, read from environment variables in this one place.

Embedded defaults (no servers): SQLite and a local object store under ./var, and a kombu
filesystem broker. Set DATABASE_URL, BROKER_URL and the S3_* variables for PostgreSQL, Redis and
S3/MinIO.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    var_dir: Path = Field(
        VAR_DIR,
        alias="CHARLSTM_VAR_DIR",
        description="where the embedded defaults keep their files (SQLite, objects, broker, secret key, admin token)",
    )

    database_url: str = Field(
        "",
        alias="DATABASE_URL",
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db; unset: SQLite in the var dir",
    )
    broker_url: str = Field(
        "",
        alias="BROKER_URL",
        description="Celery broker, e.g. redis://host:6379/0; unset: a filesystem broker in var/broker",
    )

    # object storage: S3 when S3_BUCKET is set, otherwise a local directory
    s3_endpoint_url: str | None = Field(None, alias="S3_ENDPOINT_URL", description="S3 / MinIO endpoint; unset: AWS")
    s3_bucket: str | None = Field(
        None, alias="S3_BUCKET", description="set to keep objects in S3 / MinIO; unset: a local store in var/objects"
    )
    s3_region: str = Field("us-east-1", alias="S3_REGION", description="S3 region")
    s3_access_key_id: str | None = Field(None, alias="S3_ACCESS_KEY_ID", description="S3 access key id")
    s3_secret_access_key: str | None = Field(None, alias="S3_SECRET_ACCESS_KEY", description="S3 secret key")
    s3_path_style: bool = Field(
        True, alias="S3_PATH_STYLE", description="path-style bucket addressing (MinIO); false: botocore chooses"
    )
    s3_max_attempts: int = Field(5, alias="S3_MAX_ATTEMPTS", description="botocore attempts per request")
    # 8 attempts, 1 s doubling (at most 60 s): a worker rides out about two minutes of outage
    storage_retries: int = Field(
        8,
        alias="STORAGE_RETRIES",
        description="attempts per object in worker transfers (8: about two minutes of outage)",
    )
    storage_retry_delay: float = Field(
        1.0,
        alias="STORAGE_RETRY_DELAY",
        description="seconds before the first retry, doubled each retry (at most 60 s)",
    )

    max_upload_bytes: int = Field(200 * 1024 * 1024, alias="MAX_UPLOAD_BYTES", description="corpus upload limit")
    secret_key: str = Field(
        "",
        alias="SECRET_KEY",
        description="signs session cookies; `make up` generates one (var/secret-key); required when DATABASE_URL is"
        " set: at least 32 characters, not a placeholder, or the app does not start",
    )
    port: int = Field(8000, alias="PORT", description="port the API listens on (`make up --port`)")

    # workers
    work_dir: Path | None = Field(
        None, alias="CHARLSTM_WORK_DIR", description="scratch space for workers; unset: var/work in the var dir"
    )
    model_cache_size: int = Field(4, alias="MODEL_CACHE_SIZE", description="models kept by a sampling worker")

    # job lifecycle: heartbeats, the reconciler, retries
    heartbeat_interval: float = Field(
        5.0, alias="HEARTBEAT_INTERVAL", gt=0, description="seconds between a running job's or sample's heartbeats"
    )
    heartbeat_timeout: float = Field(
        120.0, alias="HEARTBEAT_TIMEOUT", gt=0, description="a running job or sample silent this long is lost"
    )
    reconcile_interval: float = Field(
        30.0, alias="RECONCILE_INTERVAL", gt=0, description="seconds between the reconciler's rounds"
    )
    idle_transaction_timeout: float = Field(
        60.0,
        alias="IDLE_TRANSACTION_TIMEOUT",
        gt=0,
        description="PostgreSQL ends a worker's or the reconciler's transaction idle this long (its process cut off"
        " mid-transaction), releasing its row locks; keep it below HEARTBEAT_TIMEOUT",
    )
    orphan_grace: float = Field(
        3600.0,
        alias="ORPHAN_GRACE",
        ge=0,
        description="seconds an object no record references (written by an attempt that lost its claim) is kept;"
        " the reconciler sweeps them at most every tenth of this (and not more often than its rounds)",
    )
    redispatch_after: float = Field(
        60.0,
        alias="REDISPATCH_AFTER",
        gt=0,
        description="a queued record this old, with its queue empty, lost its message",
    )
    max_attempts: int = Field(
        3, alias="MAX_ATTEMPTS", ge=1, description="starts of a job, sample or analysis before it fails for good"
    )

    # security and quotas
    session_cookie_secure: Literal["auto", "true", "false"] = Field(
        "auto",
        alias="SESSION_COOKIE_SECURE",
        description="Secure flag of the admin session cookie; auto: when the request came over HTTPS",
    )
    trusted_proxies: int = Field(
        0,
        alias="TRUSTED_PROXIES",
        ge=0,
        description="reverse proxies in front of the API whose X-Forwarded-For/-Proto/-Host/-Port are trusted",
    )
    quota_max_jobs: int = Field(
        20, alias="QUOTA_MAX_JOBS", ge=0, description="queued and running jobs per user (429 beyond)"
    )
    quota_max_samples: int = Field(
        20, alias="QUOTA_MAX_SAMPLES", ge=0, description="queued and running sample requests per user (429 beyond)"
    )
    quota_max_analyses: int = Field(
        20, alias="QUOTA_MAX_ANALYSES", ge=0, description="queued and running neuron analyses per user (429 beyond)"
    )
    quota_max_parameters: int = Field(
        30_000_000,
        alias="QUOTA_MAX_PARAMETERS",
        ge=0,
        description="model size: LSTM weights, layers x 4 x units x (2 x units + 1); the paper's 3 x 512 is 6.3 M",
    )
    quota_max_epochs: int = Field(
        1000,
        alias="QUOTA_MAX_EPOCHS",
        ge=0,
        description="epochs per job (a continued or forked job: the epochs it trains, not its parent's)",
    )
    quota_max_sample_chars: int = Field(
        5_000_000,
        alias="QUOTA_MAX_SAMPLE_CHARS",
        ge=0,
        description="characters per sample request: length x count x temperatures",
    )
    quota_max_storage_bytes: int = Field(
        20 * 1024**3,
        alias="QUOTA_MAX_STORAGE_BYTES",
        ge=0,
        description="bytes a user stores: corpora and their novelty indexes (estimated), kept checkpoints, samples,"
        " analyses (429 for an upload past it, and for new jobs, samples, analyses while at or over it)",
    )
    quota_max_corpora: int = Field(
        100, alias="QUOTA_MAX_CORPORA", ge=0, description="corpora per user (429 for the next upload)"
    )

    # serving
    host: str = Field(
        "127.0.0.1", alias="HOST", description="address the API listens on (`make up --host`; 0.0.0.0: every interface)"
    )
    serve_threads: int = Field(8, alias="SERVE_THREADS", ge=1, description="API threads that run requests")
    shed_after: float = Field(
        0.5,
        alias="SHED_AFTER",
        gt=0,
        description="a request that waited this long for a thread is refused (503, Retry-After: 1)",
    )
    shed_queue: int = Field(
        64,
        alias="SHED_QUEUE",
        ge=1,
        description="a request that finds this many others waiting for a thread is refused (503, Retry-After: 1)",
    )
    connection_limit: int = Field(200, alias="CONNECTION_LIMIT", ge=1, description="open client connections at most")
    channel_timeout: int = Field(
        30, alias="CHANNEL_TIMEOUT", ge=1, description="seconds an idle or stalled client connection stays open"
    )
    dependency_timeout: float = Field(
        3.0,
        alias="DEPENDENCY_TIMEOUT",
        gt=0,
        description="seconds a request waits for the database, broker or storage before answering 503",
    )
    statement_timeout: float = Field(
        10.0,
        alias="STATEMENT_TIMEOUT",
        gt=0,
        description="seconds one SQL statement of a web request may run (PostgreSQL)",
    )
    ready_cache_seconds: float = Field(
        5.0,
        alias="READY_CACHE_SECONDS",
        ge=0,
        description="how long /readyz reuses its last answer (a failure 1 s at most)",
    )

    # workers
    database_retry_seconds: float = Field(
        150.0,
        alias="DATABASE_RETRY_SECONDS",
        ge=0,
        description="how long a worker's or the reconciler's database step retries through an outage (0.2 s doubling,"
        ' at most 5 s apart); past it the job fails with "database unreachable for N s while ..."',
    )
    sampling_concurrency: int = Field(
        4,
        alias="SAMPLING_CONCURRENCY",
        ge=1,
        description="sample requests one sampling worker runs at once (threads sharing its model cache; `make up` and"
        " `python -m workers sampling` use it)",
    )
    sampling_batches: int = Field(
        2,
        alias="SAMPLING_BATCHES",
        ge=1,
        description="stepping batches one sampling worker runs at once: requests for one checkpoint and precision"
        " share a batch; a request for another model waits for a free one; the worker's cores are divided between"
        " the running batches",
    )
    # sweeps and live curves
    live_loss_interval: float = Field(
        2.0, alias="LIVE_LOSS_INTERVAL", ge=0, description="seconds between a training job's recorded batch losses"
    )
    sweep_max_variants: int = Field(
        256, alias="SWEEP_MAX_VARIANTS", ge=1, description="jobs one sweep may create at most (before quotas)"
    )

    # neuron analyses
    analysis_max_chars: int = Field(
        20_000,
        alias="ANALYSIS_MAX_CHARS",
        ge=2,
        description="characters of text an analysis reads at most (422 beyond)",
    )
    analysis_default_chars: int = Field(
        5_000, alias="ANALYSIS_DEFAULT_CHARS", ge=2, description="characters of the corpus's tail analysed by default"
    )
    analysis_top_cells: int = Field(
        10, alias="ANALYSIS_TOP_CELLS", ge=1, le=100, description="cells listed per feature, activations kept"
    )
    # the next-character chart, computed on the API's threads: its bounds
    next_char_threads: int = Field(
        1,
        alias="NEXT_CHAR_THREADS",
        ge=1,
        description="API threads that may compute next-character charts at once (past it: 503)",
    )
    next_char_per_user: int = Field(
        1,
        alias="NEXT_CHAR_PER_USER",
        ge=1,
        description="next-character requests one user may run at once (past it: 429)",
    )
    next_char_max_parameters: int = Field(
        6_500_000,
        alias="NEXT_CHAR_MAX_PARAMETERS",
        ge=0,
        description="largest model (layers x 4 x units x (2 x units + 1)) the chart runs in the web process"
        " (past it: 422)",
    )

    # samples (the service's sampling options and per-sample figures)
    sample_precision: Literal["float32", "int8"] = Field(
        "int8",
        alias="SAMPLE_PRECISION",
        description="weights a sample runs on when its request names none: int8 (fast path) or float32 (exact)",
    )
    sample_index_cache_size: int = Field(
        2, alias="SAMPLE_INDEX_CACHE_SIZE", ge=1, description="corpus novelty indexes a sampling worker keeps loaded"
    )
    sample_stream_seconds: float = Field(
        25.0,
        alias="SAMPLE_STREAM_SECONDS",
        gt=0,
        description="longest one response of a sample's text stream lasts (it holds one of SERVE_THREADS); it then"
        " ends with `retry:` and the client resumes from its offset",
    )
    sample_streams: int = Field(
        4,
        alias="SAMPLE_STREAMS",
        ge=0,
        description="text streams one API process serves at once (each holds one of SERVE_THREADS); beyond: 503"
        " with Retry-After",
    )

    # checkpoint retention: a job's own policy overrides these
    retention_keep_every: int = Field(
        10,
        alias="RETENTION_KEEP_EVERY",
        ge=0,
        description="keep every Nth epoch's checkpoint (besides the best and the latest); 0: only those, 1: all;"
        " a job's `retention` overrides it",
    )

    # operations: metrics and logs
    metrics_token: str | None = Field(
        None,
        alias="METRICS_TOKEN",
        description="a scraper presenting `Authorization: Bearer <this>` may read /metrics from any address;"
        " unset: only METRICS_ALLOW may",
    )
    metrics_allow: str = Field(
        "127.0.0.1/32,::1/128",
        alias="METRICS_ALLOW",
        description="networks (comma-separated CIDRs) whose clients may read /metrics without the token;"
        " empty: none (token only)",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        alias="LOG_FORMAT",
        description="text: readable lines; json: one JSON object per line from every process"
        " (time, level, role, host, job/sample/analysis id)",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'charlstm.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        return (self.var_dir / "broker").resolve()

    @property
    def objects_dir(self) -> Path:
        return (self.var_dir / "objects").resolve()

    @property
    def scratch_dir(self) -> Path:
        return (self.work_dir or self.var_dir / "work").resolve()


@lru_cache
def get_settings() -> Settings:
    return Settings()
