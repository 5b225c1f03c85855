"""No raw JSON in the browser: addresses a person types or follows answer a page (or lead to one),
unknown ones the site's error page; API clients keep JSON errors."""

from __future__ import annotations

import re

from tests.browser.browser_helpers import record_epoch, running_job, user_id
from tests.web.web_helpers import csrf_from as csrf
from tests.web.web_helpers import sign_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_unknown_addresses_are_an_error_page_for_a_browser_and_json_for_programs(client, user_token):
    page = client.get("/no/such/page", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "There is no page at /no/such/page." in html and 'href="/login"' in html
    assert "Content-Security-Policy" in page.headers
    assert client.get("/no/such/page").json == {"error": "not found"}  # curl's */*
    api = client.get("/api/v1/no-such-thing", headers=BROWSER)
    assert api.status_code == 404 and api.json == {"error": "not found"}  # under the API: JSON always
    sign_in(client, user_token)
    html = client.get("/no/such/page", headers=BROWSER).get_data(as_text=True)
    assert 'href="/jobs"' in html  # signed in: the way back home
    admin = client.get("/admin/no-such-page", headers=BROWSER)
    assert admin.status_code == 404 and 'href="/admin/login"' in admin.get_data(as_text=True)


def test_addresses_people_type_lead_to_pages(client, user_token, admin_token, db_session):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    docs = client.get("/api/v1/docs/", headers=BROWSER)
    assert docs.status_code in (301, 302, 308) and docs.headers["Location"].endswith("/api/v1/docs")
    signed_out = client.get("/logout", headers=BROWSER)
    assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/login"
    sign_in(client, user_token)
    for path in ("/samples", "/analyses"):
        response = client.get(path, headers=BROWSER)
        assert response.status_code == 200 and response.mimetype == "text/html", path
    nav = client.get("/jobs").get_data(as_text=True)
    assert 'href="/samples"' in nav and 'href="/analyses"' in nav
    sweep = client.get("/sweeps/1", headers=BROWSER)
    assert sweep.status_code == 302 and sweep.headers["Location"] == "/compare?sweep=1"
    samples = client.get(f"/jobs/{job_id}/samples", headers=BROWSER)
    assert samples.status_code == 302 and samples.headers["Location"] == f"/jobs/{job_id}#samples"
    logout = client.get("/logout", headers=BROWSER)
    assert logout.status_code == 200 and 'id="logout-form"' in logout.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf(client, "/logout")})
    assert client.get("/jobs").status_code == 302
    sign_in(client, admin_token)
    admin_jobs = client.get("/admin/jobs?status=running", headers=BROWSER)
    assert admin_jobs.status_code == 200 and 'id="jobs-table"' in admin_jobs.get_data(as_text=True)
    assert 'href="/admin/"' in admin_jobs.get_data(as_text=True)  # the links still lead to /admin/
    assert client.get("/admin/logout", headers=BROWSER).status_code == 200


def test_the_samples_and_analyses_lists_show_ones_own_newest_first(client, user_token, other_token, db_session):
    from shared.db.models import Analysis, Sample, WorkStatus

    alice_job = running_job(db_session, user_id(db_session, "alice"))
    bob_job = running_job(db_session, user_id(db_session, "bob"))
    record_epoch(db_session, alice_job, 1, loss=2.0, val_loss=2.1)
    for job_id, owner in ((alice_job, "alice"), (alice_job, "alice"), (bob_job, "bob")):
        owner_id = user_id(db_session, owner)
        db_session.add(
            Sample(job_id=job_id, owner_id=owner_id, checkpoint_key="k", length=10, temperatures=[0.5], count=1)
        )
        db_session.add(
            Analysis(job_id=job_id, owner_id=owner_id, epoch=1, checkpoint_key="k", status=WorkStatus.queued)
        )
    db_session.commit()
    mine = [s.id for s in db_session.query(Sample).filter(Sample.job_id == alice_job).order_by(Sample.id.desc())]
    sign_in(client, user_token)
    html = client.get("/samples").get_data(as_text=True)
    assert [int(x) for x in re.findall(r'data-sample-id="(\d+)"', html)] == mine
    assert " UTC" in html and " ago" in html
    html = client.get("/analyses").get_data(as_text=True)
    assert html.count("data-analysis-id=") == 2 and "T0" not in html.split("<tbody>")[1]
