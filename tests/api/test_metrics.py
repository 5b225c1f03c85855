"""GET /metrics (services/plumbing/metrics/): who may read it (METRICS_ALLOW, METRICS_TOKEN, the
real client address behind TRUSTED_PROXIES), the families it serves, and the fleet's figures
(shared/lifecycle/fleet_figures.py) following the records of the test database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.app import create_app
from shared import lifecycle
from shared.db.models import Job, WorkerProcess, WorkStatus, utcnow
from shared.lifecycle import registry
from tests.conftest import bearer
from tests.factories import sample_row

OUTSIDE = "203.0.113.9"  # TEST-NET-3: never an allowed address
WORKER = "training@metrics-test"
FAMILIES = {
    "charlstm_http_requests",
    "charlstm_http_request_duration_seconds",
    "charlstm_dependency_up",
    "charlstm_fleet_figures_up",
    "charlstm_jobs",
    "charlstm_samples",
    "charlstm_analyses",
    "charlstm_queue_records",
    "charlstm_queue_broker_messages",
    "charlstm_queue_oldest_age_seconds",
    "charlstm_workers",
    "charlstm_worker_up",
    "charlstm_training_chars_per_second",
    "charlstm_training_epoch_seconds",
    "charlstm_sampling_chars_per_second",
}


def scrape(client, **kwargs) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of one /metrics answer (asserted 200)."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def value(series: dict, name: str, **labels) -> float | None:
    return series.get((name, frozenset(labels.items())))


def app_with(settings, **changes):
    app = create_app(settings.model_copy(update=changes))
    app.config["TESTING"] = True
    return app


# ---- access -------------------------------------------------------------------------------------


def test_loopback_reads_every_family_without_a_token(client, clean_db):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert names >= FAMILIES


def test_another_address_is_refused_unless_it_sends_the_token(settings, clean_db):
    client = app_with(settings, metrics_token="scrape-secret").test_client()
    outside = {"environ_base": {"REMOTE_ADDR": OUTSIDE}}
    refused = client.get("/metrics", **outside)
    assert refused.status_code == 403 and "METRICS_TOKEN" in refused.get_data(as_text=True)
    assert client.get("/metrics", headers=bearer("wrong"), **outside).status_code == 403
    assert client.get("/metrics", headers=bearer("scrape-secret"), **outside).status_code == 200


def test_without_a_token_setting_no_bearer_token_opens_it(client, user_token):
    """An API token is not a metrics token; with METRICS_TOKEN unset only the networks count."""
    response = client.get("/metrics", headers=bearer(user_token), environ_base={"REMOTE_ADDR": OUTSIDE})
    assert response.status_code == 403


def test_the_allowed_networks_are_the_setting(settings, clean_db):
    client = app_with(settings, metrics_allow=f"10.0.0.0/8, {OUTSIDE}/32").test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": OUTSIDE}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer in the list
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:10.1.2.3"}).status_code == 200


def test_an_empty_list_leaves_only_the_token(settings, clean_db):
    client = app_with(settings, metrics_allow="", metrics_token="t0k3n").test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers=bearer("t0k3n")).status_code == 200


def test_a_malformed_network_stops_the_app(settings):
    with pytest.raises(ValueError, match="METRICS_ALLOW: 'localhost'"):
        create_app(settings.model_copy(update={"metrics_allow": "127.0.0.1/32,localhost"}))


def test_the_address_judged_is_the_client_behind_trusted_proxies(settings, clean_db):
    """Behind one trusted proxy the client is the X-Forwarded-For address; without one, the header
    is the client's own words and changes nothing."""
    proxied = app_with(settings, trusted_proxies=1).test_client()
    forwarded = {"X-Forwarded-For": OUTSIDE}
    assert proxied.get("/metrics", headers=forwarded).status_code == 403  # the proxy is loopback, the client not
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    direct = app_with(settings).test_client()
    spoofed = direct.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, environ_base={"REMOTE_ADDR": OUTSIDE})
    assert spoofed.status_code == 403


# ---- HTTP requests ------------------------------------------------------------------------------


def test_requests_are_counted_by_url_rule_method_and_status(client, user_headers):
    for job_id in (123456, 654321):
        assert client.get(f"/api/v1/jobs/{job_id}", headers=user_headers).status_code == 404
    assert client.get("/no/such/path").status_code == 404
    client.open("/api/v1/jobs", method="BREW")
    series = scrape(client)
    rule = {"route": "/api/v1/jobs/<int:job_id>", "method": "GET", "status": "404"}
    assert value(series, "charlstm_http_requests_total", **rule) == 2
    assert value(series, "charlstm_http_request_duration_seconds_count", **rule) == 2
    assert value(series, "charlstm_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert not [labels for name, labels in series if ("route", "/no/such/path") in labels]
    assert [labels for name, labels in series if ("method", "other") in labels]  # BREW is not a label of its own


# ---- the fleet ----------------------------------------------------------------------------------


def test_the_dependency_gauges_are_the_readiness_checks(client, clean_db):
    series = scrape(client)
    for dependency in ("database", "broker", "storage"):
        assert value(series, "charlstm_dependency_up", dependency=dependency) == 1
    assert value(series, "charlstm_fleet_figures_up") == 1


def test_records_by_status_and_queues_follow_the_database(client, make_job, db_session):
    before = scrape(client)
    assert value(before, "charlstm_jobs", status="queued") == 0
    assert value(before, "charlstm_queue_oldest_age_seconds", queue="training") == 0
    first, second = make_job()["id"], make_job()["id"]
    queued = scrape(client)
    assert value(queued, "charlstm_jobs", status="queued") == 2
    # fair queues: one of alice's jobs is in the broker, the other waits its turn
    assert value(queued, "charlstm_queue_records", queue="training", state="dispatched") == 1
    assert value(queued, "charlstm_queue_records", queue="training", state="waiting") == 1
    assert value(queued, "charlstm_queue_broker_messages", queue="training") == 1
    oldest = value(queued, "charlstm_queue_oldest_age_seconds", queue="training")
    assert oldest is not None and oldest >= 0
    assert lifecycle.claim_job(db_session, first, WORKER) is not None
    lifecycle.request_cancel(db_session, second)  # queued: cancelled at once
    db_session.commit()
    moved = scrape(client)
    assert value(moved, "charlstm_jobs", status="queued") == 0
    assert value(moved, "charlstm_jobs", status="running") == 1
    assert value(moved, "charlstm_jobs", status="cancelled") == 1
    assert value(moved, "charlstm_queue_records", queue="training", state="running") == 1


def test_running_jobs_show_their_latest_epoch_and_finished_ones_drop_out(client, make_job, db_session, record_epochs):
    job_id = make_job()["id"]
    assert lifecycle.claim_job(db_session, job_id, WORKER) is not None
    db_session.commit()
    assert value(scrape(client), "charlstm_training_chars_per_second", job_id=str(job_id)) is None  # no epoch yet
    record_epochs(job_id, [1.2, 1.1])  # 1 s and 100 chars/s each (the fixture's figures)
    running = scrape(client)
    assert value(running, "charlstm_training_chars_per_second", job_id=str(job_id)) == 100.0
    assert value(running, "charlstm_training_epoch_seconds", job_id=str(job_id)) == 1.0
    assert lifecycle.finish_job(db_session, job_id, WorkStatus.succeeded, worker=WORKER)
    db_session.commit()
    finished = scrape(client)
    assert value(finished, "charlstm_training_chars_per_second", job_id=str(job_id)) is None
    assert value(finished, "charlstm_jobs", status="succeeded") == 1


def test_a_running_sample_shows_its_characters_per_second(client, make_job, db_session):
    job = make_job()
    started = utcnow() - timedelta(seconds=1000)
    owner_id = db_session.get(Job, job["id"]).owner_id
    sample = sample_row(owner_id=owner_id, job_id=job["id"], length=1000, count=2, temperatures=[0.5, 1.0])
    sample.status, sample.started_at, sample.progress = WorkStatus.running, started, 0.5
    db_session.add(sample)
    db_session.commit()
    series = scrape(client)
    speed = value(series, "charlstm_sampling_chars_per_second", sample_id=str(sample.id), job_id=str(job["id"]))
    # 0.5 x 1000 characters x 4 texts, over the 1000 s (and the moments since) it has been running
    assert speed is not None and 1.5 < speed <= 2.0
    assert value(series, "charlstm_samples", status="running") == 1


def test_workers_by_role_and_state_from_the_registry(client, db_session):
    alive = registry.Identity(name=WORKER, hostname="gpu-1", role="training", pid=1, version="t")
    registry.register(db_session, alive)
    lost = registry.Identity(name="sampling@gone", hostname="cpu-2", role="sampling", pid=2, version="t")
    instance = registry.register(db_session, lost)
    db_session.flush()
    row = db_session.query(WorkerProcess).filter_by(instance=instance).one()
    row.heartbeat_at = utcnow() - timedelta(hours=1)
    db_session.commit()
    series = scrape(client)
    assert value(series, "charlstm_workers", role="training", state="alive") == 1
    assert value(series, "charlstm_workers", role="sampling", state="lost") == 1
    assert value(series, "charlstm_workers", role="sampling", state="alive") == 0
    assert value(series, "charlstm_worker_up", worker=WORKER, role="training", hostname="gpu-1") == 1
    assert value(series, "charlstm_worker_up", worker="sampling@gone", role="sampling", hostname="cpu-2") == 0


def test_an_unreachable_database_leaves_the_other_figures(settings, broker):
    from tests.workers.processes import free_port

    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"  # a port nobody listens on
    series = scrape(app_with(settings, database_url=nowhere).test_client())
    assert value(series, "charlstm_fleet_figures_up") == 0
    assert value(series, "charlstm_dependency_up", dependency="database") == 0
    assert value(series, "charlstm_dependency_up", dependency="broker") == 1
    assert not [name for name, _ in series if name == "charlstm_jobs"]
