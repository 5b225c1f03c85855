"""`charlstm admin workers`: the registry's processes and the queue depths, straight from the test
PostgreSQL database and the test Redis broker (one that is down becomes a line, not an error)."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from services.cli.main import main
from shared.db.models import Job, User, WorkerProcess, WorkStatus, utcnow
from shared.lifecycle import registry
from tests.conftest import TEST_BROKER_URL
from tests.factories import corpus_row


@pytest.fixture
def cli_env(clean_db, broker, monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("BROKER_URL", TEST_BROKER_URL)
    get_settings.cache_clear()
    yield clean_db
    get_settings.cache_clear()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["admin", "workers", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fleet(db_session):
    """An alive training worker running a job, a lost sampling worker and a stopped one."""
    user = User(name="alice")
    corpus = corpus_row(owner=user, name="c", chars=1, vocabulary="a")
    job = Job(owner=user, corpus=corpus, hyperparameters_json={"epochs": 3}, status=WorkStatus.running)
    job.worker = "training@gpu1"
    queued = Job(owner=user, corpus=corpus, hyperparameters_json={"epochs": 3})
    db_session.add_all([job, queued])
    db_session.flush()

    def identity(name, role):
        return registry.Identity(name, "host-1", role, 4242, "0.1.0", "tensorflow", "2 CPU cores", [role], 1)

    registry.register(db_session, identity("training@gpu1", "training"))
    lost = registry.register(db_session, identity("sampling@cpu1", "sampling"))
    registry.stopped(db_session, registry.register(db_session, identity("training@old", "training")))
    last = utcnow() - timedelta(minutes=5)
    db_session.execute(update(WorkerProcess).where(WorkerProcess.instance == lost).values(heartbeat_at=last))
    db_session.commit()
    return job.id


def test_tables_of_workers_and_queues(cli_env, fleet, capsys, broker):
    broker.lpush("training", '{"fake": 1}')
    code, out, err = run(capsys)
    assert code == 0, err
    assert "workers: 1 alive, 1 lost, 1 stopped (lost: silent for 120 s)" in out
    rows = {line.split()[0]: line for line in out.splitlines() if "@" in line.split(" ")[0]}
    assert rows["training@gpu1"].split()[1:4] == ["alive", "training", "host-1"]
    assert rows["training@gpu1"].rstrip().endswith(f"job {fleet}")
    assert "lost" in rows["sampling@cpu1"] and "5m 0" in rows["sampling@cpu1"] and "ago" in rows["sampling@cpu1"]
    assert "stopped" in rows["training@old"].split()[1]
    queues = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("training ", "sampling "))}
    assert queues["training"][1:] == ["job", "0", "1", "1", "1"]  # waiting, dispatched, running, broker
    assert queues["sampling"][1:] == ["sample+analysis", "0", "0", "0", "0"]


def test_json_and_no_broker(cli_env, fleet, capsys):
    code, out, _ = run(capsys, "--json", "--no-broker")
    data = json.loads(out)
    assert code == 0
    states = {w["name"]: (w["state"], w["running"]) for w in data["workers"]}
    assert states == {
        "training@gpu1": ("alive", [{"kind": "job", "id": fleet, "job_id": fleet}]),
        "sampling@cpu1": ("lost", []),
        "training@old": ("stopped", []),
    }
    assert [(q["queue"], q["dispatched"], q["broker"]) for q in data["queues"]] == [
        ("training", 1, None),
        ("sampling", 0, None),
    ]


def test_a_broker_that_is_down_is_a_line(cli_env, capsys, monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    get_settings.cache_clear()
    code, out, _ = run(capsys)
    assert code == 0
    assert "no worker has registered" in out
    assert "broker unreachable:" in out and "Connection refused" in out
