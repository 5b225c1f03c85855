"""The admin workers page reads the worker registry and the queue depths: no broadcast to the
workers, an answer in milliseconds with no worker, with a broker that is down and with one that
never answers; lost workers with the time they were last seen; what each worker runs, linked."""

import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import update

from shared.db.models import Analysis, Epoch, Sample, WorkerProcess, utcnow
from shared.lifecycle import registry
from tests.web.admin.admin_helpers import ADMIN_REDIS_URL, DEAD_REDIS_URL, make_job, make_user

PAGE = "/admin/workers"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def no_broadcast(monkeypatch):
    """Any broadcast to the workers (inspect, control) fails the test."""
    from celery.app.control import Control

    def refuse(*args, **kwargs):
        raise AssertionError("the workers page broadcast to the workers")

    monkeypatch.setattr(Control, "broadcast", refuse)
    monkeypatch.setattr(Control, "inspect", property(lambda self: refuse))


def identity(name: str, role: str = "training", **fields) -> registry.Identity:
    facts: dict = {"hostname": "gpu-host-1", "pid": 4242, "version": "0.1.0", "backend": "jax"}
    facts |= {"devices": "16 CPU cores; NVIDIA H100", **fields}
    return registry.Identity(name=name, role=role, queues=[role], **facts)


def register(session, name: str, role: str = "training", age: float = 0.0, stop: bool = False, **fields) -> str:
    instance = registry.register(session, identity(name, role, **fields))
    if stop:
        registry.stopped(session, instance)
    if age:
        last = utcnow() - timedelta(seconds=age)
        session.execute(update(WorkerProcess).where(WorkerProcess.instance == instance).values(heartbeat_at=last))
    session.commit()
    return instance


def timed_get(client, token: str):
    began = time.monotonic()
    response = client.get(PAGE, headers=bearer(token))
    return response, time.monotonic() - began


def test_no_worker_queue_depths_from_database_and_broker(admin_client, admin_db, redis13, no_broadcast):
    token = make_user(admin_db, "root", admin=True)
    redis13.lpush("training", '{"fake": 1}', '{"fake": 2}')
    make_job(admin_db, status="queued")
    waiting = make_job(admin_db, status="queued")
    waiting.dispatched_at = None  # waiting for its owner's turn
    make_job(admin_db, status="running", worker="training@gone")
    admin_db.commit()
    admin_client.get(PAGE, headers=bearer(token))  # the first request compiles the template
    response, seconds = timed_get(admin_client, token)
    print(f"workers page answered in {1000 * seconds:.1f} ms")
    assert response.status_code == 200
    assert seconds < 0.5, seconds  # milliseconds, even though no worker could answer anything
    html = response.get_data(as_text=True)
    assert re.search(r'data-queue="training">\s*2\s*<', html)  # the broker's messages
    assert re.search(r'data-queue="sampling">\s*0\s*<', html)
    assert re.search(r'data-waiting="training">1<', html) and re.search(r'data-dispatched="training">1<', html)
    assert re.search(r'data-running="training">1<', html)
    assert "No worker has registered" in html and ADMIN_REDIS_URL in html
    assert "Running on workers not in the registry" in html and "training@gone" in html
    assert re.search(r'<meta http-equiv="refresh" content="\d+">', html)


def test_registered_workers_their_state_and_what_they_run(admin_client, admin_db, redis13, no_broadcast):
    token = make_user(admin_db, "root", admin=True)
    register(admin_db, "training@gpu1", pid=1111, concurrency=1)
    register(admin_db, "training@gpu2", age=600, pid=2222)  # silent for 10 minutes: lost
    register(admin_db, "sampling@cpu1", role="sampling", backend=None, devices=None, pid=3333)
    register(admin_db, "training@old", stop=True, pid=4444)
    job = make_job(admin_db, status="running", worker="training@gpu1", progress=0.5)
    lost_job = make_job(admin_db, status="running", worker="training@gpu2")
    admin_db.add(Epoch(job_id=job.id, epoch=1, loss=1.0, seconds=1.0, chars_per_second=1.0, checkpoint_key="k"))
    sample = Sample(
        owner_id=job.owner_id, job_id=job.id, checkpoint_key="k", length=10, temperatures=[0.5],
        status="running", worker="sampling@cpu1",
    )  # fmt: skip
    analysis = Analysis(
        owner_id=job.owner_id, job_id=job.id, epoch=1, checkpoint_key="k", status="running", worker="sampling@cpu1"
    )
    admin_db.add_all([sample, analysis])
    admin_db.commit()

    html = admin_client.get(PAGE, headers=bearer(token)).get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-worker="([^"]+)" data-state="(\w+)"', html))
    assert rows == {
        "training@gpu1": "alive",
        "sampling@cpu1": "alive",
        "training@gpu2": "lost",
        "training@old": "stopped",
    }
    assert "2 alive · 1 lost · 1 stopped" in html
    gpu1 = _row(html, "training@gpu1")
    for fact in ("gpu-host-1", "1111", "0.1.0", "jax", "16 CPU cores; NVIDIA H100", "training × 1", "up "):
        assert fact in gpu1, fact
    assert f'href="/admin/jobs/{job.id}">Job #{job.id}</a>' in gpu1 and "50%" in gpu1
    sampler = _row(html, "sampling@cpu1")
    assert f'href="/samples/{sample.id}">Sample #{sample.id}</a>' in sampler
    assert f'href="/analyses/{analysis.id}">Analysis #{analysis.id}</a>' in sampler
    assert f'href="/admin/jobs/{job.id}">job #{job.id}</a>' in sampler
    lost = _row(html, "training@gpu2")
    assert re.search(r"UTC<br><span[^>]*>10m 0\ds ago", lost), lost  # last seen
    assert f"Job #{lost_job.id}" in lost  # what the lost worker still holds until the reconciler requeues it
    warning = re.search(r'<p class="flash flash-error" data-lost="training@gpu2">(.*?)</p>', html, re.S)
    assert warning and "no heartbeat since" in warning.group(1) and "10m 0" in warning.group(1)
    old = _row(html, "training@old")
    assert "stopped 20" in old and "idle" not in old
    assert "Running on workers not in the registry" not in html


def _row(html: str, name: str) -> str:
    start = html.index(f'<tr data-worker="{name}"')
    return html[start : html.index("</tr>", start)]


def test_broker_down_is_a_message_and_the_page_answers(admin_app, admin_client, admin_db, no_broadcast):
    from celery import Celery

    token = make_user(admin_db, "root", admin=True)
    register(admin_db, "training@gpu1")
    dead = Celery("dead", broker=DEAD_REDIS_URL)
    admin_app.extensions["celery"] = dead
    try:
        response, seconds = timed_get(admin_client, token)
    finally:
        dead.close()
    assert response.status_code == 200 and seconds < 3, seconds
    html = response.get_data(as_text=True)
    assert "Broker unreachable" in html and "Connection refused" in html
    assert 'data-worker="training@gpu1" data-state="alive"' in html  # the registry is still read


def test_a_broker_that_never_answers_costs_at_most_the_timeout(admin_app, admin_client, admin_db):
    from celery import Celery

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # connections are accepted by the kernel and never answered
    token = make_user(admin_db, "root", admin=True)
    silent = Celery("silent", broker=f"redis://127.0.0.1:{server.getsockname()[1]}/0")
    admin_app.extensions["celery"] = silent
    admin_app.config["ADMIN_BROKER_TIMEOUT"] = 0.3
    try:
        response, seconds = timed_get(admin_client, token)
    finally:
        silent.close()
        server.close()
    assert response.status_code == 200 and seconds < 1.5, seconds
    assert "did not answer within 0.3 s" in response.get_data(as_text=True)


def test_queue_depth_of_the_embedded_filesystem_broker(admin_app, admin_client, admin_db, tmp_path):
    from shared.queue import make_celery, send_training
    from shared.settings import Settings

    token = make_user(admin_db, "root", admin=True)
    embedded = make_celery(Settings(BROKER_URL="", CHARLSTM_VAR_DIR=str(tmp_path)))  # what `make up` uses
    send_training(embedded, 1, "t1")
    send_training(embedded, 2, "t2")
    admin_app.extensions["celery"] = embedded
    html = admin_client.get(PAGE, headers=bearer(token)).get_data(as_text=True)
    embedded.close()
    assert re.search(r'data-queue="training">\s*2\s*<', html)
    assert re.search(r'data-queue="sampling">\s*0\s*<', html)


def test_a_real_worker_is_listed_and_many_page_loads_leave_it_running(
    admin_app, admin_db_url, admin_client, admin_db, redis13, tmp_path
):
    """A real sampling worker registers in the admin database; twenty page loads at once ask it
    nothing and leave it running."""
    from tests.waiting import wait_for
    from tests.workers.processes import WorkerProcess

    token = make_user(admin_db, "root", admin=True)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"BROKER_URL": ADMIN_REDIS_URL, "DATABASE_URL": admin_db_url, "CHARLSTM_VAR_DIR": str(tmp_path / "var")}
    worker = WorkerProcess("sampling", env | {"HEARTBEAT_INTERVAL": "0.5"}, tmp_path / "sampling.log")
    try:
        worker.wait_ready()
        wait_for(
            lambda: (
                f'data-worker="{worker.hostname}" data-state="alive"'
                in admin_client.get(PAGE, headers=bearer(token)).get_data(as_text=True)
            ),
            20,
            "the worker on the page",
            processes=[worker],
        )

        def load(_):
            return admin_app.test_client().get(PAGE, headers=bearer(token)).status_code

        with ThreadPoolExecutor(20) as pool:
            assert set(pool.map(load, range(20))) == {200}
        time.sleep(1.0)  # time for a worker that read a broken broadcast to exit
        assert worker.proc.poll() is None, worker.log_text()[-3000:]
        html = admin_client.get(PAGE, headers=bearer(token)).get_data(as_text=True)
    finally:
        worker.stop()
    row = _row(html, worker.hostname)
    assert "sampling" in row and str(worker.proc.pid) in row and "idle" in row
