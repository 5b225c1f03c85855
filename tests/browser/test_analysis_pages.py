"""The neuron and temperature pages in a real browser: picking another cell (from the picker or
the neuron table) recolours the text without reloading; the temperature chart redraws after a
prompt is typed; an analysis requested from the page is queued; no console errors (the `page`
fixture fails the test on any)."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from tests.analysis_helpers import python_text, store_checkpoint
from tests.browser.browser_helpers import TEST_LEASE, finished_analysis, record_epoch, running_job, sign_in, user_id

TIMEOUT_MS = 10_000
COLOURS = (
    "() => Array.from(document.querySelectorAll('[data-role=coloured-text] span')).map(s => s.style.backgroundColor)"
)


def _trained_job(db_session, store) -> int:
    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.8, val_loss=2.9)
    store_checkpoint(store, job_id, 1, TEST_LEASE)
    return job_id


def test_picking_another_cell_recolours_the_text(page, server_url, user_token, db_session, store):
    job_id = _trained_job(db_session, store)
    text = python_text()[:1500]
    analysis_id = finished_analysis(db_session, store, job_id, text)
    sign_in(page, server_url, user_token, next_path=f"/analyses/{analysis_id}")
    assert urlsplit(page.url).path == f"/analyses/{analysis_id}"

    box = page.locator("[data-role=coloured-text]")
    box.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("[data-role=coloured-text] span").count() == len(text)
    first_cell = box.get_attribute("data-cell")
    before = page.evaluate(COLOURS)
    assert any(before) and len(set(before)) > 1

    options = page.eval_on_selector_all("#cell-picker option", "os => os.map(o => o.value)")
    other = next(v for v in options if v != first_cell)
    page.evaluate("() => { window.notReloaded = true; }")
    page.select_option("#cell-picker", other)
    assert box.get_attribute("data-cell") == other
    after = page.evaluate(COLOURS)
    assert after != before and len(after) == len(before)
    assert page.evaluate("() => window.notReloaded") is True  # recoloured in place

    link = page.locator("[data-role=neuron-table] a[data-cell]").first
    target = link.get_attribute("data-cell")
    link.click()
    assert box.get_attribute("data-cell") == target and page.input_value("#cell-picker") == target
    assert page.evaluate("() => window.notReloaded") is True
    assert page.locator("[data-role=neuron-table] tr[data-feature]").count() == 8

    page.goto(f"{server_url}/analyses/{analysis_id}#cell={other}")  # a link to one cell's view
    box.wait_for(timeout=TIMEOUT_MS)
    assert box.get_attribute("data-cell") == other


def test_the_temperature_chart_redraws_after_typing_a_prompt(page, server_url, user_token, db_session, store):
    job_id = _trained_job(db_session, store)
    sign_in(page, server_url, user_token, next_path=f"/jobs/{job_id}/temperature")
    chart = page.locator("[data-role=chart]")
    page.wait_for_selector("[data-role=chart] rect[data-role=bar]", timeout=TIMEOUT_MS)
    bars = page.locator("[data-role=chart] rect[data-role=bar]").count()
    assert bars == 20 * 4  # 20 characters x 4 temperatures
    heights = page.eval_on_selector_all("rect[data-role=bar]", "rs => rs.map(r => r.getAttribute('height'))")

    page.fill("#prompt", "")
    page.type("#prompt", "    return self.", delay=20)
    page.wait_for_function(
        "() => document.querySelector('[data-role=chart]').getAttribute('data-prompt') === '    return self.'",
        timeout=TIMEOUT_MS,
    )
    assert page.inner_text("[data-role=chart-status]") == "after 16 characters"
    redrawn = page.eval_on_selector_all("rect[data-role=bar]", "rs => rs.map(r => r.getAttribute('height'))")
    assert redrawn != heights and len(redrawn) == bars
    assert chart.get_attribute("data-first")


def test_request_an_analysis_from_the_page(page, server_url, user_token, db_session, store, broker):
    from shared.db.models import Analysis, WorkStatus
    from shared.queue import SAMPLING_QUEUE

    job_id = _trained_job(db_session, store)
    sign_in(page, server_url, user_token, next_path=f"/jobs/{job_id}")
    page.click("text=Neurons")
    page.wait_for_url(f"**/jobs/{job_id}/analyses", timeout=TIMEOUT_MS)
    page.fill("#text", "def f(x):\n    return (x, [x])\n")
    page.click("#analysis-form button[type=submit]")
    page.wait_for_url("**/analyses/*", timeout=TIMEOUT_MS)
    db_session.expire_all()
    analysis = db_session.scalars(select(Analysis)).one()
    assert analysis.status == WorkStatus.queued and analysis.text == "def f(x):\n    return (x, [x])\n"
    assert broker.llen(SAMPLING_QUEUE) == 1
    assert page.inner_text("#analysis-status") == "queued"
