"""Every chart on every page that has one draws something in a real browser: a line with points or
bars with a height, never an empty card. Pages: the job page (user and admin), the temperature
chart, an analysis (its neuron view and its temperature chart), the comparison of runs."""

from __future__ import annotations

import contextlib

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.analysis_helpers import python_text, store_checkpoint
from tests.browser.browser_helpers import TEST_LEASE, finished_analysis, record_epoch, running_job, sign_in, user_id

TIMEOUT_MS = 10_000
CHARTS = ".chart, [data-role=chart]"
# marks drawn in one chart element: polylines or paths with at least two points, bars with a height
# (a rectangle at 0,0 is the chart's background)
MARKS = """(el) => {
  const lines = [...el.querySelectorAll('polyline, path')]
    .filter(n => (n.getAttribute('points') || n.getAttribute('d') || '').trim().split(/[\\s,]+/).length >= 4).length;
  const bars = [...el.querySelectorAll('rect')]
    .filter(r => !(r.getAttribute('x') === '0' && r.getAttribute('y') === '0'))
    .filter(r => parseFloat(r.getAttribute('height') || '0') > 0).length;
  return lines + bars;
}"""


def _charts_drawn(page, path: str) -> list[int]:
    """Visit `path`, wait until every chart element has marks (or the wait ends), return the marks per chart."""
    page.goto(path)
    charts = page.locator(CHARTS)
    assert charts.count() >= 1, f"{path}: no chart on the page"
    with contextlib.suppress(PlaywrightTimeout):  # the caller's assertion names the empty chart
        page.wait_for_function(
            f"() => [...document.querySelectorAll('{CHARTS}')].every(el => ({MARKS})(el) > 0)", timeout=TIMEOUT_MS
        )
    return [charts.nth(i).evaluate(MARKS) for i in range(charts.count())]


def test_every_chart_card_draws_something(page, server_url, user_token, admin_token, db_session, store):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.8, val_loss=2.9)
    record_epoch(db_session, job_id, 2, loss=2.5, val_loss=2.7)
    store_checkpoint(store, job_id, 1, TEST_LEASE)
    store_checkpoint(store, job_id, 2, TEST_LEASE)
    analysis_id = finished_analysis(db_session, store, job_id, python_text()[:1200])
    sign_in(page, server_url, admin_token)

    for path in (
        f"/jobs/{job_id}",
        f"/admin/jobs/{job_id}",
        f"/jobs/{job_id}/temperature",
        f"/analyses/{analysis_id}",
        f"/compare?jobs={job_id}",
    ):
        marks = _charts_drawn(page, server_url + path)
        assert all(n > 0 for n in marks), f"{path}: a chart drew nothing (marks per chart: {marks})"
