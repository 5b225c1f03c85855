"""The web pages in a real browser: the landing page and the API docs (local files only), signing
in as an ordinary user, a running job's loss curve following the epochs a worker records, a
sample requested from the page and its preview, and no horizontal scroll at 1280 and 420 px."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.browser.browser_helpers import (
    TEST_LEASE,
    WORKER,
    horizontal_overflow,
    record_epoch,
    running_job,
    sign_in,
    user_id,
)

TIMEOUT_MS = 10_000


def test_landing_page_and_api_docs_from_this_server(page, server_url):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(server_url + "/")
    assert urlsplit(page.url).path == "/welcome"
    links = {a.get_attribute("href") for a in page.locator("main a").all()}
    assert {"/api/v1/docs", "/api/v1/openapi.json", "/jobs", "/corpora", "/admin/"} <= links
    assert "charlstm upload" in page.inner_text("pre.commands")

    page.goto(server_url + "/api/v1/")  # no dead end: it leads to the docs
    assert urlsplit(page.url).path == "/api/v1/docs"
    page.wait_for_selector(".swagger-ui .info .title", timeout=TIMEOUT_MS)
    assert "charlstm" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag", timeout=TIMEOUT_MS)  # the operations, read from openapi.json
    assert page.locator(".opblock").count() >= 8

    assert requests, "no requests seen"
    foreign = [url for url in requests if not url.startswith((server_url, "data:"))]
    assert foreign == [], f"the pages loaded files from elsewhere: {foreign}"
    assert any(url.endswith("/swagger-ui-bundle.js") for url in requests)


def test_sign_in_as_user_and_watch_the_loss_curve(page, server_url, user_token, other_token, db_session):
    alice = user_id(db_session, "alice")
    job_id = running_job(db_session, alice)
    bob_job = running_job(db_session, user_id(db_session, "bob"))

    sign_in(page, server_url, user_token)
    assert urlsplit(page.url).path == "/jobs"
    assert page.inner_text(".topbar .who").startswith("alice")
    assert page.locator("a[href='/admin/']").count() == 0  # not an admin
    rows = page.locator("#user-jobs tbody tr")
    assert rows.count() == 1, "alice sees her own job only"
    rows.first.locator("a").click()
    assert urlsplit(page.url).path == f"/jobs/{job_id}"
    assert page.locator("#chart polyline").count() == 0
    assert "no finished epochs yet" in page.inner_text("#chart")

    record_epoch(db_session, job_id, 1, loss=2.8, val_loss=2.9)
    page.wait_for_selector("#chart polyline.series.train", state="attached", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelector('[data-field=epoch_label]').textContent.trim() === '1 / 5'",
        timeout=TIMEOUT_MS,
    )
    record_epoch(db_session, job_id, 2, loss=2.1, val_loss=2.3)
    page.wait_for_function(
        "() => document.querySelectorAll('#chart .markers.train circle').length === 2", timeout=TIMEOUT_MS
    )
    points = page.get_attribute("#chart polyline.series.val", "points")
    assert points is not None and len(points.split()) == 2
    assert page.locator("tbody[data-rows=epochs] tr").count() == 2

    for path in (f"/jobs/{bob_job}", f"/jobs/{bob_job}/live"):  # someone else's: as if it did not exist
        assert page.request.get(server_url + path).status == 404


def test_request_a_sample_from_the_page(page, server_url, user_token, db_session, broker, store):
    from shared import lifecycle
    from shared.db.models import Sample, WorkStatus
    from shared.queue import SAMPLING_QUEUE
    from shared.storage.keys import sample_key

    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.8, val_loss=2.9)
    sign_in(page, server_url, user_token, next_path=f"/jobs/{job_id}")
    assert urlsplit(page.url).path == f"/jobs/{job_id}"

    page.fill("#length", "300")
    page.fill("#temperature", "0.5")
    page.click("#sample-form button[type=submit]")
    page.wait_for_url("**/samples/*", timeout=TIMEOUT_MS)

    db_session.expire_all()
    sample = db_session.scalars(select(Sample)).one()
    assert (sample.job_id, sample.length, sample.temperatures, sample.count) == (job_id, 300, [0.5], 1)
    assert sample.status == WorkStatus.queued
    assert sample.checkpoint_key == f"jobs/{job_id}/{TEST_LEASE}/epoch-0001"  # the epoch's recorded key
    assert broker.llen(SAMPLING_QUEUE) == 1, "sent through the queue contract, as the API does"
    assert urlsplit(page.url).path == f"/samples/{sample.id}"
    assert page.inner_text("#sample-status") == "queued"
    assert page.locator("#preview").count() == 0

    # a sampling worker's work, through the lifecycle
    work = lifecycle.claim_sample(db_session, sample.id, WORKER, sample.dispatch_token)
    assert work is not None
    db_session.commit()
    text = "".join(f"def line_{i}():\n    return {i}\n" for i in range(40))
    key = sample_key(sample.id, 1, work.lease)
    store.put_bytes(key, text.encode())
    lifecycle.finish_sample(db_session, sample.id, key)
    db_session.commit()

    page.wait_for_selector("#preview", timeout=TIMEOUT_MS)  # the page reloads when it is done
    assert page.inner_text("#sample-status") == "succeeded"
    preview = page.inner_text("#preview")
    assert preview.splitlines()[:2] == ["def line_0():", "    return 0"]
    assert len(preview.splitlines()) == 20
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.path().read_text() == text

    page.goto(f"{server_url}/jobs/{job_id}")
    assert page.locator("#samples tbody tr").count() == 1


def _finished_job_with_samples(db_session, owner_name: str) -> tuple[int, list[int]]:
    from shared import lifecycle
    from shared.db.models import Job, WorkStatus
    from shared.storage.keys import sample_key

    job_id = running_job(db_session, user_id(db_session, owner_name), epochs=12)
    for epoch in range(1, 13):
        record_epoch(db_session, job_id, epoch, loss=3.0 - 0.1 * epoch, val_loss=3.1 - 0.09 * epoch)
    lifecycle.finish_job(db_session, job_id, WorkStatus.succeeded, worker=WORKER)
    db_session.commit()
    job = db_session.get(Job, job_id)
    best = lifecycle.best_epoch(job)
    assert best is not None
    ids = []
    for i in range(6):
        sample = lifecycle.create_sample(
            db_session,
            job.owner_id,
            job,
            best,
            length=50_000,
            temperatures=[0.2, 0.5, 0.75, 1.0] if i % 2 else [0.75],
            count=3 if i % 2 else 1,
            seed_text=None,
            random_seed=123456789012345 + i,
        )
        db_session.commit()
        ids.append(sample.id)
    lifecycle.finish_sample(db_session, ids[0], sample_key(ids[0], 1, TEST_LEASE))
    db_session.commit()
    return job_id, ids


@pytest.mark.parametrize("width", [1280, 420])
def test_no_horizontal_scroll(page, server_url, admin_token, db_session, store, width):
    from shared.storage.keys import sample_key

    job_id, sample_ids = _finished_job_with_samples(db_session, "root")
    store.put_bytes(sample_key(sample_ids[0], 1, TEST_LEASE), (("x" * 400 + "\n") * 30).encode())
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, server_url, admin_token)
    paths = [
        "/welcome",
        "/jobs",
        f"/jobs/{job_id}",
        "/corpora",
        f"/samples/{sample_ids[0]}",
        f"/samples/{sample_ids[1]}",
        "/admin/",
        f"/admin/jobs/{job_id}",
        "/admin/corpora",
        "/admin/workers",
    ]
    wide = {}
    for path in paths:
        page.goto(server_url + path)
        assert page.locator("main").count() == 1, path
        overflow = horizontal_overflow(page)
        if overflow > 0:
            wide[path] = overflow
    assert wide == {}, f"pages wider than {width} px (extra px): {wide}"
    logout = page.locator(".topbar .who button")
    box = logout.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width, "Logout is cut off"
