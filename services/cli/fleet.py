"""`charlstm admin workers [--json] [--no-broker]`: the worker processes from the registry in the
database (alive, lost or stopped; role, host, pid, version, backend and devices, what each runs)
and the queue depths (queued and running records, and the broker's messages unless --no-broker).
Reads the database straight (DATABASE_URL or the embedded SQLite) as the other admin commands do;
asks no worker anything."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from shared.timefmt import absolute, age

if TYPE_CHECKING:
    from shared.lifecycle.registry import Held, QueueDepth, WorkerView

BROKER_TIMEOUT = 2.0  # seconds the broker's queue depths may take
WORKER_COLUMNS = ["NAME", "STATE", "ROLE", "HOST", "PID", "VERSION", "BACKEND", "DEVICES", "STARTED", "LAST SEEN"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--no-broker", action="store_true", help="do not ask the broker for its queue depths")


def show(args: argparse.Namespace, database: str) -> int:
    """Read the registry and the queue depths and print them; `database` names the database (the
    caller, services/cli/admin.py, checked that it exists and answers its errors)."""
    from shared.db.session import session_scope
    from shared.lifecycle import registry
    from shared.queue import make_celery
    from shared.settings import get_settings

    from .tables import print_json, print_table

    settings = get_settings()
    celery = None if args.no_broker else make_celery(settings)
    try:
        with session_scope() as session:
            fleet = registry.fleet(session, lost_after_seconds=settings.heartbeat_timeout)
            depths = registry.queue_depths(session, celery, broker_timeout=BROKER_TIMEOUT)
    finally:
        if celery is not None:
            celery.close()
    if args.json:
        print_json({"workers": [_worker_json(w) for w in fleet.workers], "queues": [_queue_json(d) for d in depths]})
        return 0
    now = datetime.now().astimezone()
    print(f"database: {database}")
    alive, lost, stopped = (fleet.count(s) for s in (registry.ALIVE, registry.LOST, registry.STOPPED))
    print(f"workers: {alive} alive, {lost} lost, {stopped} stopped (lost: silent for {settings.heartbeat_timeout:g} s)")
    if fleet.workers:
        print_table([[*WORKER_COLUMNS, "RUNNING"]] + [_worker_cells(w, now) for w in fleet.workers])
    else:
        print("no worker has registered (start one: python -m workers training, or sampling)")
    if fleet.unregistered:
        held = ", ".join(f"{_held(h)} on {h.worker or '?'}" for h in fleet.unregistered)
        print(f"running on workers not in the registry: {held}")
    print()
    rows = [["QUEUE", "RECORDS", "WAITING", "DISPATCHED", "RUNNING", "BROKER"]]
    for d in depths:
        broker = "not asked" if celery is None else (str(d.broker) if d.broker is not None else "?")
        rows.append([d.queue, "+".join(d.kinds), str(d.waiting), str(d.dispatched), str(d.running), broker])
    print_table(rows)
    if error := next((d.broker_error for d in depths if d.broker_error), None):
        print(f"broker unreachable: {error}")
    return 0


def _held(held: Held) -> str:
    return f"{held.kind} {held.id}" + (f" (job {held.job_id})" if held.kind != "job" else "")


def _ago(moment: datetime, now: datetime) -> str:
    return f"{age((now - moment).total_seconds())} ago"


def _local(moment: datetime | None) -> str:
    return absolute(moment, "-")


def _worker_cells(w: WorkerView, now: datetime) -> list[str]:
    seen = _ago(w.last_seen, now) if w.state != "stopped" else f"stopped {_local(w.stopped_at)}"
    return [
        w.name,
        w.state,
        w.role,
        w.hostname,
        str(w.pid),
        w.version,
        w.backend or "-",
        w.devices or "-",
        _local(w.started_at),
        seen,
        ", ".join(_held(h) for h in w.holds) or "-",
    ]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _worker_json(w: WorkerView) -> dict:
    return {
        "name": w.name,
        "instance": w.instance,
        "state": w.state,
        "role": w.role,
        "hostname": w.hostname,
        "pid": w.pid,
        "version": w.version,
        "backend": w.backend,
        "devices": w.devices,
        "queues": w.queues,
        "concurrency": w.concurrency,
        "started_at": _iso(w.started_at),
        "last_seen": _iso(w.last_seen),
        "stopped_at": _iso(w.stopped_at),
        "running": [{"kind": h.kind, "id": h.id, "job_id": h.job_id} for h in w.holds],
    }


def _queue_json(d: QueueDepth) -> dict:
    return {
        "queue": d.queue,
        "records": list(d.kinds),
        "waiting": d.waiting,
        "dispatched": d.dispatched,
        "running": d.running,
        "broker": d.broker,
        "broker_error": d.broker_error,
    }
