"""Per-user quotas: the one place that decides whether a user may queue another job or sample.

Limits (settings, QUOTA_*): queued + running jobs, sample requests and neuron analyses, model size
(LSTM weights: layers x 4 x units x (2 x units + 1), the recurrent and input kernels as if every
layer's input were `units` wide, plus biases; the vocabulary is not known before training starts),
epochs a job trains (a continued job's inherited epochs do not count), and characters per sample
request (length x count x temperatures).

A user's own `users.quotas` (a JSON object, `charlstm admin set-quota`) overrides any of them, a
null value meaning "the default". Administrators are exempt from the defaults; only limits set
on them apply. `create_job`, `create_sample` and `create_analysis` call the checks first, with the user's row locked
(SELECT ... FOR UPDATE), so concurrent requests of one user cannot both take the last place.
Functions take a session and do not commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import Analysis, AnalysisStatus, Job, JobStatus, Sample, SampleStatus, User
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
}


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
        Job.owner_id == user_id, Job.status.in_([JobStatus.queued, JobStatus.running])
    )
    return int(session.scalar(stmt) or 0)


def _active_samples(session: Session, user_id: int) -> int:
    stmt = select(func.count(Sample.id)).where(
        Sample.owner_id == user_id, Sample.status.in_([SampleStatus.queued, SampleStatus.running])
    )
    return int(session.scalar(stmt) or 0)


def _active_analyses(session: Session, user_id: int) -> int:
    stmt = select(func.count(Analysis.id)).where(
        Analysis.owner_id == user_id, Analysis.status.in_([AnalysisStatus.queued, AnalysisStatus.running])
    )
    return int(session.scalar(stmt) or 0)


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
    if overages:
        raise QuotaExceeded(overages)


def check_analysis_quota(session: Session, user: User | None, settings: Settings | None = None) -> None:
    """Raise QuotaExceeded when `user` may not queue another neuron analysis."""
    if user is None:
        return
    most = limits_for(user, settings)["max_analyses"]
    if most is None:
        return
    active = _active_analyses(session, user.id)
    if active >= most:
        message = f"{active} queued or running analyses (the limit is {most})"
        raise QuotaExceeded([Overage("max_analyses", "user", active, most, message)])
