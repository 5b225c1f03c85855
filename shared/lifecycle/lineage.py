"""Continued and forked jobs. A child job starts from its parent's latest checkpoint:
it links to the parent (`parent_id`) and to the epoch it starts from (`parent_epoch`), and its
own Epoch rows number on from there. Its history is read through the link (`lineage_epochs`):
the parent's epochs up to `parent_epoch`, then its own; nothing is copied, so a parent cannot be
deleted while a child needs it (shared/lifecycle/deletion.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Epoch, Job, WorkStatus
from ..engine.config import FORKABLE, Hyperparameters, fork_hyperparameters
from .jobs import create_job


class NotContinuable(Exception):
    """The job is still queued or running, being deleted, or has no checkpoint to start from."""


def continue_point(session: Session, job: Job) -> Epoch:
    """The parent's epoch a child starts from: its latest one, with its checkpoint in storage."""
    if job.deleting_at is not None:
        raise NotContinuable(f"job {job.id} is being deleted")
    if not WorkStatus(job.status).finished:
        raise NotContinuable(f"job {job.id} is {WorkStatus(job.status).value}; continue or fork it once it has ended")
    latest = session.scalars(select(Epoch).where(Epoch.job_id == job.id).order_by(Epoch.epoch.desc()).limit(1)).first()
    if latest is None or latest.pruned_at is not None:
        raise NotContinuable(f"job {job.id} has no checkpoint to continue from")
    return latest


def create_child_job(
    session: Session, parent: Job, owner_id: int, more_epochs: int, changes: dict | None = None
) -> Job:
    """A queued job continuing `parent` (finished, cancelled or failed) from its latest checkpoint
    for `more_epochs` more epochs, with `changes` (FORKABLE hyperparameters only: ValueError
    otherwise) on top of the parent's hyperparameters. Its name, tags, notes and retention policy
    are the parent's. Within quotas (only the `more_epochs` it trains count against the epochs
    quota, not the inherited ones), dispatched like any new job (see create_job)."""
    start = continue_point(session, parent)
    changes = dict(changes or {})
    changes.pop("epochs", None)
    # a child trains its epochs: a budgeted parent's budget is spent, the child has none
    hyperparameters: Hyperparameters = fork_hyperparameters(
        parent.hyperparameters, {**changes, "epochs": start.epoch + more_epochs, "budget_seconds": None}
    )
    child = create_job(session, owner_id, parent.corpus_id, hyperparameters, start_epoch=start.epoch)
    child.parent_id, child.parent_epoch = parent.id, start.epoch
    changed = FORKABLE - {"epochs", "budget_seconds"}
    forked = any(getattr(hyperparameters, k) != getattr(parent.hyperparameters, k) for k in changed)
    verb = "fork" if forked else "continued"
    child.name = f"{parent.name or f'job {parent.id}'} ({verb})"[:128]
    child.notes, child.tags_text, child.retention = parent.notes, parent.tags_text, parent.retention
    child.best_val_loss = best_val_loss_upto(session, parent, start.epoch)
    return child


def lineage_epochs(session: Session, job: Job) -> list[Epoch]:
    """The job's whole history: its ancestors' epochs up to where each child started, then its own."""
    own = list(job.epochs)
    if job.parent_id is None or job.parent_epoch is None:
        return own
    parent = session.get(Job, job.parent_id)
    if parent is None:
        return own
    inherited = [e for e in lineage_epochs(session, parent) if e.epoch <= job.parent_epoch]
    return inherited + [e for e in own if e.epoch > job.parent_epoch]


def best_val_loss_upto(session: Session, job: Job, epoch: int) -> float | None:
    losses = [e.val_loss for e in lineage_epochs(session, job) if e.epoch <= epoch and e.val_loss is not None]
    return min(losses, default=None)


def children_of(session: Session, job_id: int) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.parent_id == job_id).order_by(Job.id)))
