"""Sweeps and run comparison in a real browser: a sweep launched from the page, its
comparison page following the jobs as a worker records them (live training loss, then epochs),
smoothing, the table; the job page's curve moving within its first epoch."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

from shared import lifecycle
from shared.db.models import Job, Sweep, WorkStatus
from tests.browser.browser_helpers import WORKER, make_corpus, record_epoch, sign_in, user_id

TIMEOUT_MS = 10_000
LN2 = math.log(2)


def test_launch_a_sweep_and_watch_the_comparison(page, server_url, user_token, db_session, broker):
    corpus = make_corpus(db_session, user_id(db_session, "alice"))
    sign_in(page, server_url, user_token, next_path="/sweeps")
    assert urlsplit(page.url).path == "/sweeps"
    page.select_option("#corpus_id", str(corpus.id))
    page.fill("#name", "two seeds")
    page.fill("#base", '{"layers": 1, "units": 16, "epochs": 5}')
    page.fill("#grid", '{"seed": [0, 1]}')
    page.click("#sweep-form button[type=submit]")
    page.wait_for_url("**/compare?sweep=*", timeout=TIMEOUT_MS)
    sweep_id = int(parse_qs(urlsplit(page.url).query)["sweep"][0])
    sweep = db_session.get(Sweep, sweep_id)
    first, second = (j.id for j in sweep.jobs)
    assert sweep.name == "two seeds" and broker.llen("training") == 1  # through the API's code path
    assert "no finished epochs yet" in page.inner_text("#compare-chart")
    assert page.locator("#compare-rows tbody tr").count() == 2

    # a training worker's work, through the lifecycle: a live point, then epochs
    assert lifecycle.claim_job(db_session, first, WORKER) is not None
    assert lifecycle.record_batch_loss(db_session, first, 1, 40, 100, 3.2, worker=WORKER)
    db_session.commit()
    page.wait_for_selector(f"#compare-chart .run[data-id='{first}'] .series.live", state="attached", timeout=TIMEOUT_MS)
    record_epoch(db_session, first, 1, loss=2.8, val_loss=2.9)
    record_epoch(db_session, first, 2, loss=2.2, val_loss=2.4)
    lifecycle.finish_job(db_session, first, WorkStatus.succeeded, worker=WORKER)
    assert lifecycle.claim_job(db_session, second, WORKER) is not None
    db_session.commit()
    record_epoch(db_session, second, 1, loss=2.6, val_loss=2.5)
    record_epoch(db_session, second, 2, loss=2.0, val_loss=2.6)
    page.wait_for_function(
        "() => document.querySelectorAll('#compare-chart .series.val').length === 2", timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#compare-rows td.best')].map(td => td.textContent.trim())"
        f".join(' ') === '{2.4 / LN2:.3f} {2.5 / LN2:.3f}'",
        timeout=TIMEOUT_MS,
    )  # best validation first, both with their second epoch counted
    rows = page.locator("#compare-rows tbody tr")
    assert [rows.nth(i).get_attribute("data-job-id") for i in range(2)] == [str(first), str(second)]
    headers = [h.lower() for h in page.locator("#compare-rows thead th").all_inner_texts()]
    assert "seed" in headers and "best val (bits/char)" in headers

    page.fill("#smoothing", "0.6")
    page.click("#smoothing-form button[type=submit]")
    page.wait_for_selector("#compare-chart .series.smoothed", state="attached", timeout=TIMEOUT_MS)
    assert page.locator("#compare-chart .series.smoothed").count() == 2

    page.goto(f"{server_url}/jobs/{second}")  # the job page shows the live loss too
    assert lifecycle.record_batch_loss(db_session, second, 3, 50, 100, 2.7, worker=WORKER)
    db_session.commit()
    page.wait_for_selector("#chart polyline.series.live", state="attached", timeout=TIMEOUT_MS)
    assert db_session.get(Job, second).sweep_id == sweep_id


def test_the_study_preset_launches_the_studys_sweep(page, server_url, user_token, db_session, broker):
    import json

    from shared.research.study import SCALES, sweep_variants

    corpus = make_corpus(db_session, user_id(db_session, "alice"))
    sign_in(page, server_url, user_token, next_path="/sweeps")
    assert "paper questions" not in page.input_value("#name")
    page.click("#preset-study-tiny")
    page.wait_for_url("**/sweeps?preset=study-tiny", timeout=TIMEOUT_MS)
    assert json.loads(page.input_value("#grid")) == sweep_variants(SCALES["tiny"])  # filled by the server
    assert page.input_value("#name") == "paper questions study (tiny)" and json.loads(page.input_value("#base")) == {}
    page.select_option("#corpus_id", str(corpus.id))
    page.click("#sweep-form button[type=submit]")
    page.wait_for_url("**/compare?sweep=*", timeout=TIMEOUT_MS)
    sweep = db_session.get(Sweep, int(parse_qs(urlsplit(page.url).query)["sweep"][0]))
    assert sweep.name == "paper questions study (tiny)" and len(sweep.jobs) == 12
    assert [j.hyperparameters.model_dump() for j in sorted(sweep.jobs, key=lambda j: j.id)] == sweep_variants(
        SCALES["tiny"]
    )
    assert page.locator("#compare-rows tbody tr").count() == 12 and broker.llen("training") == 1
