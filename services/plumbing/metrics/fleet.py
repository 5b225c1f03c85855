"""The fleet-wide figures as metric families, read when /metrics is scraped: one scrape target
(the API) shows the whole fleet, because every worker writes its state into the database.

What is read, and how, is shared/lifecycle/fleet_figures.py; the dependency gauges are the
/readyz checks (their cached answer, so a scrape adds no check of its own). A database that fails
the read costs only the fleet's families: `charlstm_fleet_figures_up` says 0, the HTTP and
dependency figures are still served."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from shared.lifecycle.fleet_figures import FleetFigures, fleet_figures
from shared.lifecycle.registry import ALIVE, LOST, STOPPED

from ..context import get_celery, get_db, settings

log = logging.getLogger(__name__)

Readiness = Callable[[], tuple[dict, int]]
DEPENDENCIES = ("database", "broker", "storage")
BROKER_TIMEOUT = 2.0  # seconds a scrape waits for the broker's queue depths
RECORDS = {"job": ("charlstm_jobs", "Jobs"), "sample": ("charlstm_samples", "Samples")}
RECORDS["analysis"] = ("charlstm_analyses", "Neuron analyses")


class FleetCollector(Collector):
    """Collected inside the /metrics request (it reads through the request's session)."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    def collect(self) -> Iterator[Metric]:
        yield dependencies(self.readiness()[0])
        up = GaugeMetricFamily("charlstm_fleet_figures_up", "1 when this scrape read the fleet from the database")
        try:
            figures = fleet_figures(get_db(), settings().heartbeat_timeout, get_celery(), BROKER_TIMEOUT)
        except SQLAlchemyError as exc:
            log.warning("metrics: the fleet's figures could not be read: %s", exc)
            get_db().rollback()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families(figures)


def dependencies(checks: dict) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(
        "charlstm_dependency_up", "1 when /readyz's check of the dependency passed", labels=["dependency"]
    )
    for name in DEPENDENCIES:
        gauge.add_metric([name], 1.0 if checks.get(name) == "ok" else 0.0)
    return gauge


def families(figures: FleetFigures) -> Iterator[Metric]:
    for kind, (name, what) in RECORDS.items():
        gauge = GaugeMetricFamily(name, f"{what} by status", labels=["status"])
        for status, n in figures.counts[kind].items():
            gauge.add_metric([status], n)
        yield gauge
    yield from _queues(figures)
    yield from _workers(figures)
    yield from _speeds(figures)


def _queues(figures: FleetFigures) -> Iterator[Metric]:
    records = GaugeMetricFamily(
        "charlstm_queue_records",
        "Records of a queue: waiting their owner's turn, dispatched (message sent), running",
        labels=["queue", "state"],
    )
    broker = GaugeMetricFamily("charlstm_queue_broker_messages", "Messages waiting in the broker", labels=["queue"])
    oldest = GaugeMetricFamily(
        "charlstm_queue_oldest_age_seconds",
        "Seconds since the oldest queued record of the queue was created (0: none queued)",
        labels=["queue"],
    )
    for q in figures.queues:
        for state, n in (("waiting", q.waiting), ("dispatched", q.dispatched), ("running", q.running)):
            records.add_metric([q.queue, state], n)
        if q.broker is not None:
            broker.add_metric([q.queue], q.broker)
        oldest.add_metric([q.queue], q.oldest_queued_seconds)
    yield from (records, broker, oldest)


def _workers(figures: FleetFigures) -> Iterator[Metric]:
    counts = GaugeMetricFamily(
        "charlstm_workers",
        "Registered worker processes by role and state (alive, lost, stopped)",
        labels=["role", "state"],
    )
    per_role: dict[str, dict[str, int]] = {}
    for w in figures.workers:
        per_role.setdefault(w.role, dict.fromkeys((ALIVE, LOST, STOPPED), 0))[w.state] += 1
    for role, states in sorted(per_role.items()):
        for state, n in states.items():
            counts.add_metric([role, state], n)
    up = GaugeMetricFamily(
        "charlstm_worker_up", "1: the worker process heartbeats; 0: lost (stopped ones are not listed)",
        labels=["worker", "role", "hostname"],
    )  # fmt: skip
    for w in figures.workers:
        if w.state != STOPPED:
            up.add_metric([w.name, w.role, w.hostname], 1.0 if w.state == ALIVE else 0.0)
    yield from (counts, up)


def _speeds(figures: FleetFigures) -> Iterator[Metric]:
    chars = GaugeMetricFamily(
        "charlstm_training_chars_per_second",
        "Characters per second of a running job's latest recorded epoch",
        labels=["job_id"],
    )
    seconds = GaugeMetricFamily(
        "charlstm_training_epoch_seconds", "Seconds of a running job's latest recorded epoch", labels=["job_id"]
    )
    for t in figures.training:
        chars.add_metric([str(t.job_id)], t.chars_per_second)
        seconds.add_metric([str(t.job_id)], t.epoch_seconds)
    sampling = GaugeMetricFamily(
        "charlstm_sampling_chars_per_second",
        "Characters a running sample generated per second since it started (its model's loading included)",
        labels=["sample_id", "job_id"],
    )
    for s in figures.sampling:
        sampling.add_metric([str(s.sample_id), str(s.job_id)], s.chars_per_second)
    yield from (chars, seconds, sampling)
