"""The Grafana dashboard that ships with the service (docs/grafana/charlstm.json) asks only for
metrics the service exports: every metric name in every PromQL `expr` is one that the app's
/metrics (services/plumbing/metrics/) emits for a populated test database, a counter's or a
histogram's series (_total, _bucket, _sum, _count) included."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from shared import lifecycle
from shared.db.models import User, WorkStatus, utcnow
from shared.engine.config import Hyperparameters
from shared.engine.training.train import EpochReport
from shared.lifecycle import registry
from tests.factories import corpus_row, sample_row

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "charlstm.json"
SUFFIXES = ("_total", "_bucket", "_sum", "_count")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
WORKER = "training@dashboard-test"


def exprs(node) -> list[str]:
    """Every `expr` string anywhere in the dashboard (panels, rows' panels, targets)."""
    if isinstance(node, dict):
        own = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return own + [e for key, value in node.items() if key != "expr" for e in exprs(value)]
    if isinstance(node, list):
        return [e for item in node for e in exprs(item)]
    return []


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: its identifiers once strings, label matchers,
    ranges and grouping clauses are taken out, less functions (a name before `(`) and keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = re.findall(r"(?<![\w.])[A-Za-z_:][\w:]*\b(?!\s*\()", text)
    return {name for name in found if name not in KEYWORDS}


def test_the_name_parser_reads_promql():
    expr = 'histogram_quantile(0.95, sum by (le, route) (rate(x_bucket{route=~"a|b"}[5m]))) / on(job) up offset 1m'
    assert metric_names(expr) == {"x_bucket", "up"}


def populate(session) -> None:
    """One of everything the metrics show: a running job with a recorded epoch, a running sample,
    a registered worker."""
    user = User(name="alice")
    session.add(user)
    session.flush()
    corpus = corpus_row(owner_id=user.id, chars=5000)
    session.add(corpus)
    session.flush()
    job = lifecycle.create_job(session, user.id, corpus.id, Hyperparameters(layers=1, units=8, epochs=3))
    session.commit()
    assert lifecycle.claim_job(session, job.id, WORKER) is not None
    lifecycle.record_vocabulary(session, job.id, list(corpus.vocabulary))
    report = EpochReport(epoch=1, loss=1.5, val_loss=1.6, seconds=2.0, chars_per_second=500.0)
    lifecycle.record_epoch(session, job.id, report, f"jobs/{job.id}/epoch-0001")
    sample = sample_row(owner_id=user.id, job_id=job.id)
    sample.status, sample.started_at, sample.progress = WorkStatus.running, utcnow() - timedelta(seconds=5), 0.5
    session.add(sample)
    registry.register(session, registry.Identity(name=WORKER, hostname="h", role="training", pid=1, version="t"))
    session.commit()


def test_every_query_names_only_exported_metrics(client, db_session):
    populate(db_session)
    client.get("/api/v1/jobs")  # a request for the HTTP families (refused without a token: still counted)
    response = client.get("/metrics")
    assert response.status_code == 200
    exported = {
        sample.name
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }
    queries = exprs(json.loads(DASHBOARD.read_text(encoding="utf-8")))
    assert queries, "the dashboard has no query"
    unknown = {}
    for expr in queries:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        missing = {n for n in names if n not in exported and not any(n + s in exported for s in SUFFIXES)}
        if missing:
            unknown[expr] = sorted(missing)
    assert unknown == {}
    assert {name for expr in queries for name in metric_names(expr)} >= {
        "charlstm_training_chars_per_second",
        "charlstm_sampling_chars_per_second",
        "charlstm_queue_oldest_age_seconds",
        "charlstm_worker_up",
    }
