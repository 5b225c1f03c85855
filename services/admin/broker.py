"""What the workers page shows about Celery: the workers that answer a broadcast (stats, active
tasks, consumed queues) and how many messages wait in each queue.

Nothing here raises: a broker that is down, or no worker answering, becomes a message on the page.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from celery import Celery

from shared.queue import CONNECT_TIMEOUT, QUEUES, queue_depth


@dataclass
class WorkerInfo:
    name: str
    pid: int | None = None
    uptime: str = ""
    concurrency: int | None = None
    pool: str = ""
    prefetch_count: int | None = None
    tasks_done: int = 0
    queues: list[str] = field(default_factory=list)
    active: list[dict] = field(default_factory=list)


@dataclass
class BrokerStatus:
    broker: str = ""
    transport: str = ""
    error: str | None = None  # the broker could not be reached
    inspect_error: str | None = None  # reached, but the broadcast failed
    queues: list[tuple[str, int | None, str]] = field(default_factory=list)  # (name, depth, note)
    workers: list[WorkerInfo] = field(default_factory=list)
    seconds: float = 0.0


def _error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _uptime(seconds) -> str:
    from .presenters import fmt_duration

    return fmt_duration(seconds) if isinstance(seconds, (int, float)) else ""


def broker_status(celery: Celery, timeout: float = 1.0, queues=QUEUES) -> BrokerStatus:
    started = time.monotonic()
    status = BrokerStatus()
    try:
        with celery.connection_for_read() as conn:
            status.broker = conn.as_uri(include_password=not conn.password)  # a password is masked
            status.transport = getattr(conn.transport, "driver_type", "") or conn.transport_cls
            # fail fast instead of the broadcast retrying a dead broker for minutes
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=CONNECT_TIMEOUT
            )
        for name in queues:
            try:
                depth, note = queue_depth(celery, name), ""
            except Exception as exc:  # noqa: BLE001 - shown on the page
                depth, note = None, _error(exc)
            status.queues.append((name, depth, note))
    except Exception as exc:  # noqa: BLE001 - a broker that is down is shown on the page
        status.error = _error(exc)
        status.queues = [(name, None, "broker unreachable") for name in queues]
    else:
        try:
            status.workers = _workers(celery, timeout)
        except Exception as exc:  # noqa: BLE001 - shown on the page
            status.inspect_error = _error(exc)
    status.seconds = time.monotonic() - started
    return status


def _ask(celery: Celery, method: str, timeout: float, limit: int | None = None) -> dict:
    """One broadcast, on a connection of its own: an unfinished blocking read left behind on a
    shared redis connection would swallow the replies to the next broadcast."""
    with celery.connection_for_read() as conn:
        return getattr(celery.control.inspect(timeout=timeout, connection=conn, limit=limit), method)() or {}


def _workers(celery: Celery, timeout: float) -> list[WorkerInfo]:
    # The three broadcasts go out together: each waits the whole timeout at most (we do not know
    # how many workers exist), so the page waits about one timeout, not three (it took ~4 s).
    with ThreadPoolExecutor(3, thread_name_prefix="admin-inspect") as executor:
        asked = {
            method: executor.submit(_ask, celery, method, timeout) for method in ("stats", "active", "active_queues")
        }
        stats, active, queues = (asked[m].result() for m in ("stats", "active", "active_queues"))
    if not stats:
        return []
    names = sorted(stats)
    workers = []
    for name in names:
        info = stats.get(name) or {}
        pool = info.get("pool") or {}
        total = info.get("total") or {}
        tasks = []
        for task in active.get(name) or []:
            started = task.get("time_start")
            tasks.append(
                {
                    "id": task.get("id", ""),
                    "name": task.get("name", ""),
                    "args": task.get("args"),
                    "queue": (task.get("delivery_info") or {}).get("routing_key", ""),
                    "started": (
                        datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                        if isinstance(started, (int, float))
                        else ""
                    ),
                    "job_id": _job_id(task),
                }
            )
        workers.append(
            WorkerInfo(
                name=name,
                pid=info.get("pid"),
                uptime=_uptime(info.get("uptime")),
                concurrency=pool.get("max-concurrency"),
                pool=str(pool.get("implementation", "")).rsplit(":", 1)[-1],
                prefetch_count=info.get("prefetch_count"),
                tasks_done=sum(v for v in total.values() if isinstance(v, int)),
                queues=sorted(q.get("name", "") for q in queues.get(name) or []),
                active=tasks,
            )
        )
    return workers


def _job_id(task: dict) -> int | None:
    """The job a training task works on (its first argument)."""
    if not str(task.get("name", "")).endswith(".train"):
        return None
    args = task.get("args")
    if isinstance(args, (list, tuple)) and args and isinstance(args[0], int):
        return args[0]
    return None
