"""The comparison page follows running jobs ("watch the overlaid curves grow"): while a
compared job is queued or running it carries data-live="true" and loads compare.js, which polls
/compare/live and swaps in the chart when its version moves (a live point, an epoch); once every
job has ended it is static. The browser side: tests/browser/test_compare.py."""

from shared import lifecycle
from tests.browser.browser_helpers import WORKER, record_epoch, running_job, user_id
from tests.web.pages.test_pages import sign_in


def test_the_comparison_polls_while_a_job_runs_and_stops_once_all_have_ended(client, user_token, db_session):
    owner = user_id(db_session, "alice")
    first, second = running_job(db_session, owner, epochs=2), running_job(db_session, owner, epochs=2)
    record_epoch(db_session, first, 1, 2.0, 2.1)
    lifecycle.finish_job(db_session, first, lifecycle.jobs.WorkStatus.succeeded, worker=WORKER)
    db_session.commit()
    sign_in(client, user_token)
    query = f"jobs={first},{second}"

    page = client.get(f"/compare?{query}").get_data(as_text=True)
    assert 'data-live="true"' in page and '/compare.js" defer></script>' in page and "<script>" not in page
    live = client.get(f"/compare/live?{query}").get_json()
    assert live["live"] is True
    assert lifecycle.record_batch_loss(db_session, second, 1, 3, 10, 2.4, worker=WORKER)
    db_session.commit()
    moved = client.get(f"/compare/live?{query}").get_json()
    assert moved["version"] != live["version"]  # the page swaps in the chart with the live point
    assert 'class="series live"' in client.get(f"/compare/chart.svg?{query}").get_data(as_text=True)

    lifecycle.finish_job(db_session, second, lifecycle.jobs.WorkStatus.cancelled, worker=WORKER)
    db_session.commit()
    assert 'data-live="false"' in client.get(f"/compare?{query}").get_data(as_text=True)
    assert client.get(f"/compare/live?{query}").get_json()["live"] is False
    assert 'data-live="true"' in client.get(f"/compare?jobs={running_job(db_session, owner)}").get_data(as_text=True)
