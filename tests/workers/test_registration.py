"""Worker processes in the registry (workers/registration.py), with real `python -m workers`
processes on a cluster of the module's own (HEARTBEAT_INTERVAL 0.5 s, HEARTBEAT_TIMEOUT 4 s):
a worker registers and heartbeats, shows what it runs, is lost after SIGKILL with the time it was
last seen, is stopped after a clean stop, and rides out a database that is down (even at start)."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy import make_url

from shared.db.models import WorkStatus, utcnow
from shared.db.session import session_scope
from shared.lifecycle import registry
from shared.version import package_version
from tests.workers.processes import ROOT, TcpProxy
from workers.registration import keras_backend

TIMEOUT = 4.0  # HEARTBEAT_TIMEOUT of the cluster (tests/workers/cluster.py FAST)


def view(db_url: str, name: str) -> registry.WorkerView | None:
    """The newest registered process named `name`, as the fleet shows it."""
    with session_scope(db_url) as session:
        found = [w for w in registry.fleet(session, lost_after_seconds=TIMEOUT).workers if w.name == name]
    return max(found, key=lambda w: w.started_at) if found else None


def test_a_worker_registers_heartbeats_runs_a_job_and_is_lost_after_sigkill(cluster):
    worker = cluster.worker("training")
    first = cluster.wait(lambda: view(cluster.db_url, worker.hostname), 10, "the worker registered")
    assert first.state == "alive" and first.role == "training" and first.queues == ["training"]
    assert (first.pid, first.hostname, first.concurrency) == (worker.proc.pid, socket.gethostname(), 1)
    assert first.version == package_version() and first.backend == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert "CPU core" in (first.devices or "")
    later = cluster.wait(
        lambda: (v := view(cluster.db_url, worker.hostname)) and v.last_seen > first.last_seen and v, 5, "a heartbeat"
    )
    assert later.instance == first.instance  # the same row, beating

    job_id = cluster.job(epochs=500)
    cluster.wait(lambda: cluster.get_job(job_id)[0].status == WorkStatus.running, 120, "the job running")
    holding = cluster.wait(lambda: (v := view(cluster.db_url, worker.hostname)) and v.holds and v, 5, "the job held")
    assert [(h.kind, h.id) for h in holding.holds] == [("job", job_id)]

    worker.kill()
    killed_at = utcnow()
    lost = cluster.wait(lambda: (v := view(cluster.db_url, worker.hostname)).state == "lost" and v, 2 * TIMEOUT, "lost")
    silent_for = (utcnow() - lost.last_seen).total_seconds()
    assert TIMEOUT <= silent_for < TIMEOUT + 3, silent_for
    assert abs((killed_at - lost.last_seen).total_seconds()) < 1.5  # last seen: about when it was killed
    assert lost.stopped_at is None and [(h.kind, h.id) for h in lost.holds] == [("job", job_id)]


def test_a_clean_stop_marks_the_worker_stopped(cluster):
    worker = cluster.worker("sampling")
    alive = cluster.wait(lambda: view(cluster.db_url, worker.hostname), 10, "the worker registered")
    assert alive.role == "sampling" and alive.queues == ["sampling"] and alive.concurrency is not None
    worker.stop()
    assert worker.proc.returncode == 0
    stopped = view(cluster.db_url, worker.hostname)
    assert stopped is not None and stopped.state == "stopped" and stopped.stopped_at is not None
    assert stopped.instance == alive.instance
    assert "marked stopped in the registry" in worker.log_text()


@pytest.fixture
def proxied_cluster(make_pg_database, tmp_path):
    """A cluster whose worker processes reach the database through a TcpProxy the test closes."""
    from tests.workers.cluster import Cluster

    db_url = make_pg_database()
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    cluster = Cluster(db_url, tmp_path, proxied_url)
    cluster.proxy = proxy  # type: ignore[attr-defined]
    yield cluster
    cluster.close()
    proxy.down()


def test_a_database_outage_never_stops_a_worker(proxied_cluster):
    cluster, proxy = proxied_cluster, proxied_cluster.proxy
    worker = cluster.worker("sampling")  # starts while its database refuses every connection
    time.sleep(1.5)  # the worker lives a while with no database
    assert worker.proc.poll() is None and view(cluster.db_url, worker.hostname) is None
    proxy.up()
    first = cluster.wait(lambda: view(cluster.db_url, worker.hostname), 10, "registered once the database is back")
    proxy.down()
    time.sleep(2.0)  # beats fail: logged, retried
    assert worker.proc.poll() is None
    proxy.up()
    back = cluster.wait(
        lambda: (v := view(cluster.db_url, worker.hostname)) and v.last_seen > first.last_seen + _seconds(2) and v,
        10,
        "heartbeats again",
    )
    assert back.instance == first.instance and back.state == "alive"
    logs = worker.log_text()
    assert "worker registry:" in logs and "worker registry reachable again" in logs


def _seconds(n: float):
    from datetime import timedelta

    return timedelta(seconds=n)


def test_registration_imports_no_tensorflow_and_describes_the_process():
    """The main process forks the training pool after registering: nothing here may load
    TensorFlow or Keras (the backend and devices are read without them)."""
    code = (
        "import json, sys; from workers import registration as r; i = r.identity('training', queues=['training']);"
        "print(json.dumps([i.backend, i.devices, r.role_of(['training', 'sampling']),"
        " sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules)]))"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": "-1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    backend, devices, role, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert (backend, role, loaded) == ("jax", "sampling+training", [])
    assert devices.endswith(("CPU cores", "CPU core"))  # no GPU visible with -1


def test_keras_backend_from_the_config_file(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_backend() == "tensorflow"  # Keras's default: no file
    (tmp_path / "keras.json").write_text('{"backend": "torch"}')
    assert keras_backend() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_backend() == "jax"
