"""The admin users page: each user's stored bytes (shared.lifecycle.quotas.storage_use, the figure
the storage quota counts) against their limits, and their corpora, jobs, samples and analyses."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.models import Analysis, Job, Sample, User, WorkStatus
from shared.lifecycle.quotas import StorageUse, limits_for, storage_use_of
from shared.settings import Settings
from shared.timefmt import absolute

from ..presenters import DASH, fmt_bytes
from .paging import Paging


def _counts(session: Session, model, ids: list[int], *where) -> dict[int, int]:
    stmt = select(model.owner_id, func.count()).where(model.owner_id.in_(ids), *where).group_by(model.owner_id)
    return {owner: int(n) for owner, n in session.execute(stmt)}


def _of_limit(value: str, most: int | None, label=str) -> str:
    return value if most is None else f"{value} / {label(most)}"


def user_row(user: User, use: StorageUse, settings: Settings, jobs: int, active: int, samples: int, analyses: int):
    limits = limits_for(user, settings)
    most = limits["max_storage_bytes"]
    parts = (
        ("corpora", use.corpus_bytes),
        ("novelty indexes (estimated)", use.index_bytes),
        ("checkpoints", use.checkpoint_bytes),
        ("samples", use.sample_bytes),
        ("analyses", use.analysis_bytes),
    )
    own = {name: value for name, value in (user.quotas or {}).items() if value is not None}
    return {
        "id": user.id,
        "name": user.name,
        "role": "admin" if user.is_admin else "user",
        "storage_bytes": use.total,
        "storage_limit": most,
        "storage_label": _of_limit(fmt_bytes(use.total), most, fmt_bytes),
        "storage_fraction": None if not most else min(1.0, use.total / most),
        "storage_over": most is not None and use.total >= most,
        "storage_parts": ", ".join(f"{name} {fmt_bytes(n)}" for name, n in parts),
        "corpora": use.corpora,
        "corpora_label": _of_limit(str(use.corpora), limits["max_corpora"]),
        "jobs": jobs,
        "active_jobs": active,
        "samples": samples,
        "analyses": analyses,
        "own_quotas": ", ".join(f"{name} {value:,}" for name, value in sorted(own.items())) or DASH,
        "created_at": absolute(user.created_at),
    }


def users_page(session: Session, paging: Paging, settings: Settings) -> dict:
    """One page of users (by id) with their figures, and the page's numbers."""
    total = int(session.scalar(select(func.count(User.id))) or 0)
    users = list(session.scalars(select(User).order_by(User.id).limit(paging.per_page).offset(paging.offset)))
    ids = [u.id for u in users]
    use = storage_use_of(session, ids)
    jobs = _counts(session, Job, ids)
    active = _counts(session, Job, ids, Job.status.in_([WorkStatus.queued, WorkStatus.running]))
    samples, analyses = _counts(session, Sample, ids), _counts(session, Analysis, ids)
    rows = [
        user_row(
            u, use[u.id], settings, jobs.get(u.id, 0), active.get(u.id, 0), samples.get(u.id, 0), analyses.get(u.id, 0)
        )
        for u in users
    ]
    return {
        "users": rows,
        "page": paging.page,
        "per_page": paging.per_page,
        "pages": paging.pages(total),
        "total": total,
        "has_more": paging.offset + len(rows) < total,
    }
