"""Rows as plain dicts for the admin and the user pages (the user pages drop the admin-only keys):
the Jinja templates and the JSON endpoints (which the polling JS reads) render the very same
values, formatted once, here.

Losses are stored in nats per character (Keras's cross-entropy); the pages show bits per
character (nats / ln 2).
"""

from __future__ import annotations

import math
from datetime import datetime

from flask import url_for
from sqlalchemy.orm import object_session

from shared import lifecycle, timefmt
from shared.db.models import Corpus, Epoch, Job, Sample, WorkStatus, as_utc
from shared.engine.units import LN2, bits
from shared.timefmt import absolute, age

from .figures import figure_labels

DASH = timefmt.DASH
ACTIVE_STATUSES = (WorkStatus.queued, WorkStatus.running)
# the keys only the admin pages show: the worker's hostname, storage keys
ADMIN_ONLY_KEYS = ("worker", "checkpoint_key", "object_key")


utc = as_utc


def for_user(row: dict) -> dict:
    """A presenter's row without ADMIN_ONLY_KEYS (what the user pages send and show)."""
    return {k: v for k, v in row.items() if k not in ADMIN_ONLY_KEYS}


def iso(dt: datetime | None) -> str | None:
    dt = utc(dt)
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def since(dt: datetime | None, now: datetime) -> float | None:
    dt = utc(dt)
    return (now - dt).total_seconds() if dt else None


def fmt_bits(nats: float | None, digits: int = 3) -> str:
    b = bits(nats)
    return DASH if b is None else f"{b:.{digits}f}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return DASH
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def overall_fraction(job: Job) -> float | None:
    """(finished epochs + fraction of the current one) / total epochs, in [0, 1]."""
    if job.status == WorkStatus.succeeded:
        return 1.0
    total = job.hyperparameters.epochs
    progress = job.progress if job.status == WorkStatus.running else 0.0
    done = (job.epoch or 0) + min(max(progress or 0.0, 0.0), 1.0)
    return min(max(done / total, 0.0), 1.0)


def job_summary(job: Job, now: datetime) -> dict:
    """What the jobs table shows for one job (does not load its epochs)."""
    status = WorkStatus(job.status)
    total = job.hyperparameters.epochs
    fraction = overall_fraction(job)
    current = min((job.epoch or 0) + 1, total or (job.epoch or 0) + 1)
    if status == WorkStatus.running:
        progress_label = f"epoch {current}: {100 * min(max(job.progress or 0.0, 0.0), 1.0):.0f}%"
    elif fraction is not None:
        progress_label = f"{100 * fraction:.0f}%"
    else:
        progress_label = DASH
    return {
        "id": job.id,
        "url": url_for("admin.job_page", job_id=job.id),
        "owner": job.owner.name if job.owner else str(job.owner_id),
        "corpus": job.corpus.name if job.corpus else str(job.corpus_id),
        "corpus_id": job.corpus_id,
        "status": status.value,
        "active": status in ACTIVE_STATUSES,
        "cancel_requested": bool(job.cancel_requested),
        "epoch": job.epoch or 0,
        "epochs_total": total,
        "epoch_label": f"{job.epoch or 0} / {total if total else '?'}",
        "progress": job.progress or 0.0,
        "fraction": fraction,
        "progress_label": progress_label,
        "best_val_loss": job.best_val_loss,
        "best_val_bits": bits(job.best_val_loss),
        "best_val_bits_label": fmt_bits(job.best_val_loss),
        "attempts": job.attempts or 0,
        "requeues": job.requeues or 0,
        "worker": job.worker,
        "created_at": iso(job.created_at),
        "created_label": absolute(job.created_at),  # the age's title (hover)
        "age": age(since(job.created_at, now)),
    }


def checkpoint_label(row: Epoch, stored: bool) -> str:
    """What an epoch's checkpoint cell says beside (or instead of) its download: "" while it is
    in storage, "pruned" once retention deleted it, "none" when none was recorded."""
    if stored:
        return ""
    return "pruned" if row.checkpoint_key else "none"


def epoch_row(row: Epoch, stored: bool = False) -> dict:
    """One epoch's row; `stored`: its checkpoint is in storage (lifecycle.stored_checkpoints)."""
    return {
        "epoch": row.epoch,
        "loss": row.loss,
        "val_loss": row.val_loss,
        "loss_bits_label": fmt_bits(row.loss, 4),
        "val_loss_bits_label": fmt_bits(row.val_loss, 4),
        "loss_label": DASH if bits(row.loss) is None else f"{row.loss:.4f}",
        "val_loss_label": DASH if bits(row.val_loss) is None else f"{row.val_loss:.4f}",
        "seconds": row.seconds,
        "seconds_label": age(row.seconds),
        "chars_per_second": row.chars_per_second,
        "chars_per_second_label": f"{row.chars_per_second:,.0f}" if row.chars_per_second is not None else DASH,
        "checkpoint_key": row.checkpoint_key,
        "checkpoint_stored": stored,
        "checkpoint_label": checkpoint_label(row, stored),
        "finished_at": absolute(row.created_at),
    }


def sample_row(sample: Sample) -> dict:
    status = getattr(sample.status, "value", sample.status)
    return {
        "id": sample.id,
        "status": status,
        "length": sample.length,
        "temperatures": ", ".join(
            f"{t:g}" if isinstance(t, (int, float)) else str(t) for t in (sample.temperatures or [])
        ),
        "count": sample.count,
        "progress_label": f"{100 * (sample.progress or 0.0):.0f}%",
        "checkpoint_key": sample.checkpoint_key,
        "created_at": absolute(sample.created_at),
        "error": sample.error or "",
        "download_url": f"/admin/samples/{sample.id}/text" if status == "succeeded" else None,
        "page_url": f"/samples/{sample.id}",  # the user pages' sample page: text, copied spans, figures
        **figure_labels(sample),  # epoch, precision, options, per-text quality and novelty
    }


def live_points(job: Job) -> list[tuple[float, float]]:
    """The job's live training loss in bits/char, for loss_chart_svg: (position in
    epochs, bits) of the points a training worker records within its epochs."""
    session = object_session(job)
    return [(x, loss / LN2) for x, loss in lifecycle.batch_losses(session, job.id)] if session else []


def job_labels(job: Job, job_endpoint: str) -> dict:
    """Name, notes, tags, sweep, lineage (links to `job_endpoint`, the site's job page) and the
    checkpoints kept in storage: the job pages' shared facts (job_parts.html)."""
    session = object_session(job)
    children = lifecycle.lineage.children_of(session, job.id) if session else []
    return {
        "name": job.name,
        "notes": job.notes,
        "tags": job.tags,
        "sweep_id": job.sweep_id,
        "sweep_url": url_for("pages.compare_page", sweep=job.sweep_id) if job.sweep_id else None,
        "parent_id": job.parent_id,
        "parent_epoch": job.parent_epoch,
        "parent_url": url_for(job_endpoint, job_id=job.parent_id) if job.parent_id else None,
        "children": [{"id": c.id, "url": url_for(job_endpoint, job_id=c.id)} for c in children],
        "storage_bytes": lifecycle.retention.storage_bytes(job),
        "kept_epochs": [e.epoch for e in lifecycle.stored_checkpoints(job)],
    }


def job_detail(job: Job, samples: list[Sample], now: datetime) -> dict:
    """Everything the job page shows (summary + hyperparameters, timings, epochs, samples)."""
    epochs = list(job.epochs)
    live = live_points(job)
    data = job_summary(job, now)
    started = utc(job.started_at)
    end = utc(job.finished_at) or (now if job.status == WorkStatus.running else None)
    seconds = [e.seconds for e in epochs if e.seconds is not None and math.isfinite(e.seconds)]
    mean_epoch = sum(seconds) / len(seconds) if seconds else None
    eta = lifecycle.eta_seconds(job)
    status_active = WorkStatus(job.status) in ACTIVE_STATUSES
    stored = {e.epoch for e in lifecycle.stored_checkpoints(job)}
    data.update(
        hyperparameters=job.hyperparameters.model_dump(),
        error=job.error or "",
        created_label=absolute(job.created_at),
        started_label=absolute(job.started_at),
        finished_label=absolute(job.finished_at),
        heartbeat_label=(
            f"{absolute(job.heartbeat_at)} ({age(since(job.heartbeat_at, now))} ago)" if job.heartbeat_at else DASH
        ),
        elapsed_label=age((end - started).total_seconds()) if started and end else DASH,
        mean_epoch_seconds=mean_epoch,
        mean_epoch_label=age(mean_epoch),
        eta_seconds=eta,
        eta_label=age(eta) if eta is not None else DASH,
        learning_line=learning.line if (learning := lifecycle.learning_of(job)) is not None else DASH,
        learning_state=learning.state if learning is not None else "",
        epochs=[epoch_row(e, e.epoch in stored) for e in epochs],
        chart_version=f"{len(epochs)}-{len(live)}-{live[-1][0] if live else 0}",  # an epoch or a live point
        chart_url=url_for("admin.job_chart", job_id=job.id),
        samples=[sample_row(s) for s in samples],
        # the page keeps polling while this is true
        live=status_active or any(getattr(s.status, "value", s.status) in ("queued", "running") for s in samples),
        can_cancel=job.status in ACTIVE_STATUSES and not (job.status == WorkStatus.running and job.cancel_requested),
    )
    return data


def chart_points(job: Job) -> list[tuple[int, float | None, float | None]]:
    """(epoch, loss, val_loss) in bits/char for loss_chart_svg."""
    return [(e.epoch, bits(e.loss), bits(e.val_loss)) for e in job.epochs]


def corpus_row(corpus: Corpus, jobs: int) -> dict:
    vocab = corpus.vocabulary or ""
    return {
        "id": corpus.id,
        "name": corpus.name,
        "owner": corpus.owner.name if corpus.owner else str(corpus.owner_id),
        "size": fmt_bytes(corpus.bytes),
        "raw_chars": f"{corpus.raw_chars:,}",
        "clean_chars": f"{corpus.clean_chars:,}",
        "raw_unique": corpus.raw_unique,
        "clean_unique": corpus.clean_unique,
        "vocabulary": vocab,
        "vocabulary_preview": vocab.replace("\n", "\u21b5").replace("\t", "\u21e5"),
        "sha256": corpus.sha256,
        "object_key": corpus.object_key,
        "created_at": absolute(corpus.created_at),
        "jobs": jobs,
        "jobs_url": url_for("admin.jobs", corpus=corpus.id),
    }
