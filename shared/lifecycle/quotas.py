"""Per-user quotas: the one place that decides whether a user may queue another job or sample,
or store another corpus.

Limits (settings, QUOTA_*): queued + running jobs, sample requests and neuron analyses, model size
(LSTM weights: layers x 4 x units x (2 x units + 1), the recurrent and input kernels as if every
layer's input were `units` wide, plus biases; the vocabulary is not known before training starts),
epochs a job trains (a continued job's inherited epochs do not count), characters per sample
request (length x count x temperatures), corpora kept, and bytes stored (`storage_use`: corpora,
their novelty indexes as estimated, jobs' kept checkpoints, samples' and analyses' stored results).

Storage is checked when something new would store more: an upload is refused when the user's use
plus the new corpus (and its index) goes past the limit; a job, sample or analysis is refused while
the user is at or over it. What a running job or request stores is not cut short: a job's
checkpoints are bounded by its retention policy and its epochs, and the overage then refuses the
user's next creations until they delete something.

A user's own `users.quotas` (a JSON object, `charlstm admin set-quota`) overrides any of them, a
null value meaning "the default". Administrators are exempt from the defaults; only limits set
on them apply. `create_job`, `create_sample` and `create_analysis` call the checks first, and the
corpus upload (services/api/corpora.py) before its commit, with the user's row locked (SELECT ...
FOR UPDATE), so concurrent requests of one user cannot both take the last place.
Functions take a session and do not commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import Analysis, Corpus, Job, Sample, User, WorkStatus
from ..engine.config import Hyperparameters
from ..settings import Settings, get_settings

# limit name -> the setting holding its default
LIMITS = {
    "max_jobs": "quota_max_jobs",
    "max_samples": "quota_max_samples",
    "max_analyses": "quota_max_analyses",
    "max_parameters": "quota_max_parameters",
    "max_epochs": "quota_max_epochs",
    "max_sample_chars": "quota_max_sample_chars",
    "max_storage_bytes": "quota_max_storage_bytes",
    "max_corpora": "quota_max_corpora",
}

# A corpus's novelty index (shared.engine.measures.novelty, built by the first sample of a job on it): the
# cleaned text (1 byte per character) and its int32 suffix array (4). Counted from the upload on,
# built or not, so that the quota does not move under a user when a sample builds it.
INDEX_BYTES_PER_CHAR = 5


@dataclass(frozen=True)
class Overage:
    """One limit a request goes past: `use` is what the user would have or ask for."""

    limit_name: str
    field: str  # the request field (or "user") it is about, for the error's `loc`
    use: int
    limit: int
    message: str

    def as_detail(self) -> dict:
        return {
            "loc": [self.field],
            "msg": self.message,
            "type": "quota_exceeded",
            "quota": self.limit_name,
            "limit": self.limit,
            "current": self.use,
        }


class QuotaExceeded(Exception):
    """The request goes past one or more of the user's limits (the API answers 429)."""

    def __init__(self, overages: list[Overage]):
        self.overages = overages
        self.message = "quota exceeded: " + "; ".join(o.message for o in overages)
        super().__init__(self.message)

    @property
    def detail(self) -> list[dict]:
        return [o.as_detail() for o in self.overages]


def check_overrides(quotas: dict) -> dict[str, int | None]:
    """A valid `users.quotas` value (known names, integers >= 0 or None), or ValueError."""
    unknown = set(quotas) - set(LIMITS)
    if unknown:
        raise ValueError(f"unknown quota {sorted(unknown)[0]!r}; the quotas are {', '.join(LIMITS)}")
    for name, value in quotas.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"quota {name!r} must be an integer >= 0 (or null for the default), not {value!r}")
    return dict(quotas)


def limits_for(user: User, settings: Settings | None = None) -> dict[str, int | None]:
    """The user's limits by name; None is no limit (an administrator's default)."""
    settings = settings or get_settings()
    limits: dict[str, int | None] = {
        name: None if user.is_admin else getattr(settings, setting) for name, setting in LIMITS.items()
    }
    for name, value in (user.quotas or {}).items():
        if name in limits and value is not None:
            limits[name] = int(value)
    return limits


def model_parameters(hyperparameters: Hyperparameters) -> int:
    """The model size the quota counts: layers x 4 x units x (2 x units + 1)."""
    units = hyperparameters.units
    return hyperparameters.layers * 4 * units * (2 * units + 1)


def lock_user(session: Session, user_id: int) -> User | None:
    """The user's row, locked until the transaction ends (one user's creations in turn)."""
    return session.get(User, user_id, with_for_update=True)


def _active_jobs(session: Session, user_id: int) -> int:
    stmt = select(func.count(Job.id)).where(
        Job.owner_id == user_id, Job.status.in_([WorkStatus.queued, WorkStatus.running])
    )
    return int(session.scalar(stmt) or 0)


def _active_samples(session: Session, user_id: int) -> int:
    stmt = select(func.count(Sample.id)).where(
        Sample.owner_id == user_id, Sample.status.in_([WorkStatus.queued, WorkStatus.running])
    )
    return int(session.scalar(stmt) or 0)


def _active_analyses(session: Session, user_id: int) -> int:
    stmt = select(func.count(Analysis.id)).where(
        Analysis.owner_id == user_id, Analysis.status.in_([WorkStatus.queued, WorkStatus.running])
    )
    return int(session.scalar(stmt) or 0)


@dataclass(frozen=True)
class StorageUse:
    """What one user stores, in bytes (the index estimated: INDEX_BYTES_PER_CHAR per cleaned
    character of each corpus), and their corpora (those being deleted left out of the count)."""

    corpora: int = 0
    corpus_bytes: int = 0
    index_bytes: int = 0
    checkpoint_bytes: int = 0
    sample_bytes: int = 0
    analysis_bytes: int = 0

    @property
    def total(self) -> int:
        return self.corpus_bytes + self.index_bytes + self.checkpoint_bytes + self.sample_bytes + self.analysis_bytes


def corpus_charge(raw_bytes: int, clean_chars: int) -> int:
    """The bytes a new corpus adds to its owner's use: its text and its novelty index."""
    return raw_bytes + INDEX_BYTES_PER_CHAR * clean_chars


def storage_use_of(session: Session, user_ids: list[int]) -> dict[int, StorageUse]:
    """Each user's StorageUse (four grouped queries, whatever the number of users)."""
    if not user_ids:
        return {}
    live = func.count(Corpus.id).filter(Corpus.deleting_at.is_(None))
    corpora = select(Corpus.owner_id, live, func.sum(Corpus.bytes), func.sum(Corpus.clean_chars))
    figures: dict[int, dict[str, int]] = {uid: {} for uid in user_ids}
    for owner, count, raw, chars in session.execute(
        corpora.where(Corpus.owner_id.in_(user_ids)).group_by(Corpus.owner_id)
    ):
        index = INDEX_BYTES_PER_CHAR * (chars or 0)
        figures[owner].update(corpora=count or 0, corpus_bytes=raw or 0, index_bytes=index)
    for name, model, column in (
        ("checkpoint_bytes", Job, Job.storage_bytes),
        ("sample_bytes", Sample, Sample.stored_bytes),
        ("analysis_bytes", Analysis, Analysis.stored_bytes),
    ):
        stmt = select(model.owner_id, func.sum(column)).where(model.owner_id.in_(user_ids)).group_by(model.owner_id)
        for owner, total in session.execute(stmt):
            figures[owner][name] = int(total or 0)
    return {uid: StorageUse(**{k: int(v) for k, v in f.items()}) for uid, f in figures.items()}


def storage_use(session: Session, user_id: int) -> StorageUse:
    return storage_use_of(session, [user_id])[user_id]


def _storage_overage(session: Session, user: User, most: int | None, adding: int = 0) -> Overage | None:
    """Past `most` stored bytes: with `adding` (an upload) when use + adding goes past it, without
    (a new job, sample or analysis, whose size is not known yet) while the use is at or over it."""
    if most is None:
        return None
    use = storage_use(session, user.id).total
    if adding:
        if use + adding <= most:
            return None
        message = f"{use + adding:,} bytes stored with this upload of {adding:,} (the limit is {most:,})"
        return Overage("max_storage_bytes", "file", use + adding, most, message)
    if use < most:
        return None
    return Overage("max_storage_bytes", "user", use, most, f"{use:,} bytes stored (the limit is {most:,})")


def check_corpus_quota(session: Session, user: User | None, adding: int = 0, settings: Settings | None = None) -> None:
    """Raise QuotaExceeded when `user` may not store a corpus that adds `adding` bytes (its
    `corpus_charge`; 0 before the upload is read: then only a user already at a limit is refused)."""
    if user is None:
        return
    limits = limits_for(user, settings)
    overages = []
    most = limits["max_corpora"]
    if most is not None:
        count = storage_use(session, user.id).corpora
        if count >= most:
            overages.append(Overage("max_corpora", "user", count, most, f"{count} corpora (the limit is {most})"))
    overage = _storage_overage(session, user, limits["max_storage_bytes"], adding)
    if overage is not None:
        overages.append(overage)
    if overages:
        raise QuotaExceeded(overages)


def check_job_quota(
    session: Session,
    user: User | None,
    hyperparameters: Hyperparameters,
    settings: Settings | None = None,
    *,
    start_epoch: int = 0,
) -> None:
    """Raise QuotaExceeded when `user` may not queue a job with these hyperparameters. A job
    continuing another from its epoch `start_epoch` (its `epochs` count on from there) is held to
    the epochs it will train, `epochs - start_epoch`, not its parent's history."""
    if user is None:
        return
    limits = limits_for(user, settings)
    overages = []
    epochs, most = hyperparameters.epochs - start_epoch, limits["max_epochs"]
    if most is not None and epochs > most:
        overages.append(Overage("max_epochs", "epochs", epochs, most, f"{epochs} epochs per job (the limit is {most})"))
    size, most = model_parameters(hyperparameters), limits["max_parameters"]
    if most is not None and size > most:
        shape = f"{hyperparameters.layers} layers x {hyperparameters.units} units"
        message = f"a model of {size:,} parameters ({shape}; the limit is {most:,})"
        overages.append(Overage("max_parameters", "units", size, most, message))
    most = limits["max_jobs"]
    if most is not None:
        active = _active_jobs(session, user.id)
        if active >= most:
            overages.append(
                Overage("max_jobs", "user", active, most, f"{active} queued or running jobs (the limit is {most})")
            )
    overage = _storage_overage(session, user, limits["max_storage_bytes"])
    if overage is not None:
        overages.append(overage)
    if overages:
        raise QuotaExceeded(overages)


def check_sample_quota(
    session: Session,
    user: User | None,
    *,
    length: int,
    temperatures: list[float],
    count: int,
    settings: Settings | None = None,
) -> None:
    """Raise QuotaExceeded when `user` may not queue this sample request."""
    if user is None:
        return
    limits = limits_for(user, settings)
    overages = []
    chars, most = length * count * len(temperatures), limits["max_sample_chars"]
    if most is not None and chars > most:
        shape = f"{length:,} x {count} x {len(temperatures)} temperature{'s' if len(temperatures) != 1 else ''}"
        overages.append(
            Overage(
                "max_sample_chars",
                "length",
                chars,
                most,
                f"{chars:,} characters in one request ({shape}; the limit is {most:,})",
            )
        )
    most = limits["max_samples"]
    if most is not None:
        active = _active_samples(session, user.id)
        if active >= most:
            overages.append(
                Overage(
                    "max_samples", "user", active, most, f"{active} queued or running samples (the limit is {most})"
                )
            )
    overage = _storage_overage(session, user, limits["max_storage_bytes"])
    if overage is not None:
        overages.append(overage)
    if overages:
        raise QuotaExceeded(overages)


def check_analysis_quota(session: Session, user: User | None, settings: Settings | None = None) -> None:
    """Raise QuotaExceeded when `user` may not queue another neuron analysis."""
    if user is None:
        return
    limits = limits_for(user, settings)
    overages = []
    most = limits["max_analyses"]
    if most is not None:
        active = _active_analyses(session, user.id)
        if active >= most:
            message = f"{active} queued or running analyses (the limit is {most})"
            overages.append(Overage("max_analyses", "user", active, most, message))
    overage = _storage_overage(session, user, limits["max_storage_bytes"])
    if overage is not None:
        overages.append(overage)
    if overages:
        raise QuotaExceeded(overages)
