"""`make bench-fleet` (benchmarks/fleet/): a tiny fleet against PostgreSQL gives every figure of
the report, a claim's SQL statements do not grow with the tables, and the reconciler's fair-queue
backstop visits only the users with nothing in the broker."""

import os

import pytest

from benchmarks.fleet import data, simulate
from benchmarks.fleet.__main__ import Pace, run_size
from benchmarks.fleet.report import ROWS, markdown
from shared import lifecycle
from shared.db.models import Job
from shared.db.session import session_scope


def claim_statements(url: str, jobs: int) -> set[int]:
    """Load `jobs` jobs, claim every dispatched one (and dispatch its owner's next): the SQL
    statement counts of the claims and of the dispatches."""
    fleet = data.load(url, jobs)
    stats = simulate.Stats()
    for job_id, token in fleet.dispatched[:20]:
        assert simulate.claim_and_dispatch(url, "w@test", job_id, token, stats) is not None
    return {n for _, n in stats.claims} | {-n for _, n in stats.dispatches}


def test_the_statements_of_a_claim_and_a_dispatch_do_not_grow_with_the_tables(make_pg_database):
    url = make_pg_database()
    small, large = claim_statements(url, 200), claim_statements(url, 5000)
    assert small == large and len(small) == 2  # one count for claims, one for dispatches, at both sizes


def test_the_backstop_visits_only_owners_with_nothing_in_the_broker(make_pg_database):
    url = make_pg_database()
    fleet = data.load(url, 20_000)  # 1,600 queued jobs: 600 users have one in the broker and one waiting
    job_id, token = fleet.dispatched[0]
    with session_scope(url) as session:
        assert lifecycle.waiting_owners(session, Job) == []  # every backlog has its turn in the broker
        owner = lifecycle.claim_job(session, job_id, "w@test", token) and session.get(Job, job_id).owner_id
    with session_scope(url) as session:  # claimed, and its worker has not dispatched the next one yet
        assert lifecycle.waiting_owners(session, Job) == [owner]


def test_a_tiny_fleet_reports_every_figure(make_pg_database, tmp_path, monkeypatch):
    monkeypatch.setenv("FLEET_BROKER_URL", "redis://127.0.0.1:6379/13")
    url = make_pg_database()
    run = run_size(url, 300, workers=5, api_seconds=1.0, pace=Pace(heartbeat=0.2, beats=2, epochs=2, reconcile=0.5),
                   folder=tmp_path, warm_up=0.5)  # fmt: skip
    assert run["claims"]["count"] > 0 and run["heartbeats"]["count"] > 0 and run["epochs"]["count"] > 0
    assert run["rounds"]["count"] > 0 and run["sweep_round"]["count"] == 1
    for kind in ("api_list", "api_get"):
        assert run[kind]["answered"] == run[kind]["requests"] == 100, run[kind]
    assert run["scrape"]["count"] == 10 and run["scrape"]["bytes"] > 0  # loopback may scrape by default
    text = markdown([run], {"cores": os.cpu_count(), "cpu": "test", "load_average_1min": 0.0})
    assert all(name in text for name, _ in ROWS) and "nan" not in text
    assert run["database_bytes"] > 0 and run["rows"] == {"users": 300, "jobs": 300, "epochs": pytest.approx(
        run["rows"]["epochs"]), "samples": 600}  # fmt: skip
