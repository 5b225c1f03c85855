"""A database that refuses connections for a while: the worker and the
reconciler reach PostgreSQL through TCP proxies in the test process, which the test closes (every
connection reset, new ones refused) and opens again while a job trains."""

import time

import pytest
from sqlalchemy import make_url

from shared.db.models import WorkStatus
from tests.workers.processes import Reconciler, TcpProxy

TIMEOUT = 6.0  # HEARTBEAT_TIMEOUT here
OUTAGE = 12.0  # seconds: twice HEARTBEAT_TIMEOUT


@pytest.fixture(scope="module")
def proxied(make_pg_database, tmp_path_factory):
    """A cluster whose processes reach its database through `proxied.proxies["worker"]` (the
    workers) and `proxied.proxies["reconciler"]`."""
    from tests.workers.cluster import Cluster

    db_url = make_pg_database()
    url = make_url(db_url)
    proxies = {name: TcpProxy(url.host or "127.0.0.1", url.port or 5432).up() for name in ("worker", "reconciler")}
    urls = {
        name: url.set(host="127.0.0.1", port=p.port).render_as_string(hide_password=False)
        for name, p in proxies.items()
    }
    folder = tmp_path_factory.mktemp("db-outage")
    cluster = Cluster(db_url, folder, urls["worker"], DATABASE_RETRY_SECONDS="60", HEARTBEAT_TIMEOUT=str(TIMEOUT))
    cluster.proxies = proxies  # type: ignore[attr-defined]
    cluster.processes.append(Reconciler({**cluster.env, "DATABASE_URL": urls["reconciler"]}, folder / "rec.log"))
    yield cluster
    cluster.close()
    for proxy in proxies.values():
        proxy.down()


def test_a_database_outage_during_training_neither_fails_nor_requeues_the_job(proxied):
    worker = proxied.worker("training")
    reconciler = proxied.processes[0]
    job_id = proxied.job(epochs=4)  # the outage starts after epoch 1: epoch 2's record waits for it
    proxied.wait(lambda: proxied.get_job(job_id)[0].epoch >= 1, 120, "the first epoch")
    for proxy in proxied.proxies.values():
        proxy.down()
    time.sleep(OUTAGE)  # the outage lasts OUTAGE seconds
    # the reconciler gets the database back first: every heartbeat it sees is OUTAGE s old
    proxied.proxies["reconciler"].up()
    time.sleep(2.0)  # the reconciler alone has the database for a while
    proxied.proxies["worker"].up()
    job, epochs = proxied.finished_job(job_id, 180)
    assert job.status == WorkStatus.succeeded, job.error
    assert epochs == list(range(1, 5)) and job.epoch == 4  # every epoch recorded once
    assert job.attempts == 1 and job.requeues == 0 and job.worker == worker.hostname
    logs = worker.log_text()
    assert "database unreachable while" in logs and "database back after" in logs  # it did ride one out
    assert "gave up" not in logs and "requeued" not in reconciler.log_text()
    assert "heartbeats get" in reconciler.log_text()  # the reconciler saw the outage too
    worker.stop()
