"""The sample pages in a real browser: a job's samples side by side across temperatures (each
text with its quality figures and its copied spans marked) and a sample's page with its text
highlighted; rendered with no console error and no horizontal scroll at 1280 px."""

from __future__ import annotations

from tests.browser.browser_helpers import horizontal_overflow, record_epoch, running_job, sign_in, user_id
from tests.web.pages.sample_helpers import COPIED, finished_sample


def test_side_by_side_and_highlighted_sample(page, server_url, user_token, db_session, store):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    finished_sample(db_session, store, job_id, [1.0])
    sample_id = finished_sample(db_session, store, job_id, [0.25, 0.5])
    sign_in(page, server_url, user_token)

    page.goto(f"{server_url}/jobs/{job_id}")
    assert "1.750 / 2.000" in page.inner_text("#samples") and horizontal_overflow(page) <= 0
    page.click("#compare-link")
    page.wait_for_selector("#side-by-side")
    columns = page.locator(".compare-column")
    assert columns.count() == 3
    assert [columns.nth(i).locator("h2").inner_text() for i in range(3)] == ["T = 0.25", "T = 0.5", "T = 1"]
    assert "1.750" in columns.nth(0).inner_text() and "2.500" in columns.nth(2).inner_text()
    marks = page.locator(".compare-column mark.copied")
    assert marks.count() == 3 and marks.first.inner_text() == COPIED
    background = marks.first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), "copied spans are not highlighted"
    assert horizontal_overflow(page) <= 0

    page.goto(f"{server_url}/samples/{sample_id}")
    page.wait_for_selector("#highlighted")
    assert page.locator("#highlighted mark.copied").count() == 1
    assert page.locator("#figures tbody tr").count() == 2
    page.locator("#figures tbody tr").nth(1).locator("a").click()
    page.wait_for_selector("#figures tr.chosen")
    assert "sample-1-t0.5.txt" in page.inner_text("#figures tr.chosen")
    assert "< 0.5" in page.inner_text("#highlighted")
    assert horizontal_overflow(page) <= 0
