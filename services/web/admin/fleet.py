"""The workers page's rows, as plain dicts formatted once: the registered worker processes
(shared.lifecycle.registry.fleet) with what each runs, and the queue depths."""

from __future__ import annotations

from datetime import datetime

from flask import url_for

from shared.lifecycle import registry
from shared.timefmt import absolute, age

from ..presenters import DASH, since

KIND_LABEL = {"job": "Job", "sample": "Sample", "analysis": "Analysis"}


def held_row(held: registry.Held, now: datetime) -> dict:
    """A running job, sample or analysis: a link to its page, and its job's."""
    if held.kind == "job":
        url = url_for("admin.job_page", job_id=held.id)
    elif held.kind == "sample":
        url = url_for("pages.sample_page", sample_id=held.id)
    else:
        url = url_for("pages.analysis_page", analysis_id=held.id)
    return {
        "kind": held.kind,
        "id": held.id,
        "label": f"{KIND_LABEL[held.kind]} #{held.id}",
        "url": url,
        "job_id": held.job_id,
        "job_url": url_for("admin.job_page", job_id=held.job_id),
        "worker": held.worker or DASH,
        "running_for": age(since(held.started_at, now)),
        "progress_label": DASH if held.progress is None else f"{100 * held.progress:.0f}%",
    }


def worker_row(worker: registry.WorkerView, now: datetime) -> dict:
    ago = since(worker.last_seen, now)
    return {
        "instance": worker.instance,
        "name": worker.name,
        "state": worker.state,
        "role": worker.role,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "version": worker.version,
        "backend": worker.backend or DASH,
        "devices": worker.devices or DASH,
        "queues": worker.queues,
        "concurrency": worker.concurrency,
        "started": absolute(worker.started_at),
        "up_for": age(since(worker.started_at, now)) if worker.state == registry.ALIVE else DASH,
        "last_seen": absolute(worker.last_seen),
        "last_seen_ago": f"{age(ago)} ago",
        "stopped": absolute(worker.stopped_at),
        "holds": [held_row(h, now) for h in worker.holds],
    }


def queue_row(depth: registry.QueueDepth) -> dict:
    return {
        "queue": depth.queue,
        "kinds": ", ".join(f"{k}s" if k != "analysis" else "analyses" for k in depth.kinds) or DASH,
        "waiting": depth.waiting,
        "dispatched": depth.dispatched,
        "running": depth.running,
        "broker": depth.broker,
        "broker_note": depth.broker_error or "",
    }


def workers_page(fleet: registry.Fleet, depths: list[registry.QueueDepth], now: datetime) -> dict:
    """Everything the workers page shows but the broker's label."""
    return {
        "workers": [worker_row(w, now) for w in fleet.workers],
        "counts": {state: fleet.count(state) for state in (registry.ALIVE, registry.LOST, registry.STOPPED)},
        "unregistered": [held_row(h, now) for h in fleet.unregistered],
        "queues": [queue_row(d) for d in depths],
        "broker_error": next((d.broker_error for d in depths if d.broker_error), None),
    }
