"""The user pages, the landing page and the API docs through Flask's test client on the real app
(PostgreSQL, Redis, local store): who may see what, CSRF, the sample form's checks (the API's),
and the docs' links. The browser behaviour is in tests/browser."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from sqlalchemy import func, select

from tests.browser.browser_helpers import TEST_LEASE, record_epoch, running_job, user_id
from tests.web.web_helpers import csrf_from as csrf
from tests.web.web_helpers import sign_in as web_sign_in


def sign_in(client, token: str):
    response = web_sign_in(client, token)
    assert response.status_code == 302 and response.headers["Location"] == "/jobs"
    return response


def sample_count(db_session) -> int:
    from shared.db.models import Sample

    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(Sample)) or 0


def test_root_landing_and_docs(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/welcome"
    page = client.get("/welcome").get_data(as_text=True)
    for href in ("/api/v1/docs", "/api/v1/openapi.json", "/jobs", "/corpora", "/admin/", "/login"):
        assert f'href="{href}"' in page, href
    response = client.get("/api/v1/")
    assert response.status_code == 302 and response.headers["Location"] == "/api/v1/docs"
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {"swagger/js/swagger-ui-bundle.js", "/assets/api_docs.js"} <= set(assets)
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset  # no CDN
        assert client.get(urljoin("/api/v1/docs", asset)).status_code == 200, asset
    assert 'data-openapi-url="openapi.json"' in html
    script = client.get("/assets/api_docs.js").get_data(as_text=True)
    assert "validatorUrl: null" in script  # Swagger UI's default would contact validator.swagger.io


def test_pages_need_a_sign_in(client, user_token, db_session):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    for path in ("/jobs", f"/jobs/{job_id}", "/corpora", "/samples/1", "/samples/1/text"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next="), path
    for path in (f"/jobs/{job_id}/live", f"/jobs/{job_id}/chart.svg", "/samples/1/live"):  # fetched by scripts
        response = client.get(path)
        assert response.status_code == 401 and response.json["login_url"] == "/login", path
    refused = client.get("/jobs", headers={"Authorization": "Bearer nope"})  # a program, not a browser: the reason
    assert refused.status_code == 401 and "Invalid token." in refused.get_data(as_text=True)
    assert client.get("/jobs", headers={"Authorization": f"Bearer {user_token}"}).status_code == 200
    bad = client.post("/login", data={"csrf_token": csrf(client), "token": "nope"})
    assert bad.status_code == 401 and "Unknown token." in bad.get_data(as_text=True)
    # no CSRF token: refused, nothing changes
    assert client.post("/login", data={"token": user_token}).status_code == 400
    assert client.get("/jobs").status_code == 302


def test_users_see_their_own_only_and_admins_all(client, user_token, other_token, admin_token, db_session):
    alice_job = running_job(db_session, user_id(db_session, "alice"))
    bob_job = running_job(db_session, user_id(db_session, "bob"))
    sign_in(client, user_token)
    jobs = client.get("/jobs").get_data(as_text=True)
    assert f'href="/jobs/{alice_job}"' in jobs and f'href="/jobs/{bob_job}"' not in jobs
    assert 'href="/admin/"' not in jobs
    assert 'href="/admin/"' not in client.get("/welcome").get_data(as_text=True)
    for path in (f"/jobs/{bob_job}", f"/jobs/{bob_job}/live", f"/jobs/{bob_job}/chart.svg"):
        assert client.get(path).status_code == 404, path
    post = client.post(f"/jobs/{bob_job}/samples", data={"csrf_token": csrf(client, "/jobs"), "length": "10"})
    assert post.status_code == 404 and sample_count(db_session) == 0
    corpora = client.get("/corpora").get_data(as_text=True)
    assert corpora.count("<tr>") == 2  # header + alice's corpus
    live = client.get(f"/jobs/{alice_job}/live").json
    assert live["chart_url"] == f"/jobs/{alice_job}/chart.svg" and live["url"] == f"/jobs/{alice_job}"

    client.post("/logout", data={"csrf_token": csrf(client, "/jobs")})
    assert client.get("/jobs").status_code == 302
    sign_in(client, admin_token)
    jobs = client.get("/jobs").get_data(as_text=True)
    assert f'href="/jobs/{alice_job}"' in jobs and f'href="/jobs/{bob_job}"' in jobs
    assert 'href="/admin/"' in jobs
    assert client.get("/admin/").status_code == 200  # one sign-in for both


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"length": "abc", "temperature": "0.5"}, "length: Input should be a valid integer"),
        ({"length": "0", "temperature": "0.5"}, "length: Input should be greater than or equal to 1"),
        ({"length": "100", "temperature": "-1"}, "temperature"),
        ({"length": "100", "temperature": "0.5", "top_p": "2"}, "top_p: Input should be less than or equal to 1"),
        ({"length": "100", "temperature": "0.5", "precision": "fp16"}, "precision: Input should be"),
        ({"length": "100", "temperature": "0.5", "epoch": "9"}, "has no checkpoint of epoch 9 (epochs with one: 1)"),
        ({"length": "2000000", "temperature": "0.5"}, "length: Input should be less than or equal to 1000000"),
    ],
)
def test_the_sample_form_has_the_api_checks(client, user_token, db_session, broker, form, message):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    sign_in(client, user_token)
    response = client.post(f"/jobs/{job_id}/samples", data={"csrf_token": csrf(client, "/jobs"), **form})
    assert response.status_code == 302 and response.headers["Location"] == f"/jobs/{job_id}"
    assert message in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert sample_count(db_session) == 0 and broker.llen("sampling") == 0


def test_a_form_past_the_quota_is_a_429_page_and_stores_nothing(client, user_token, db_session, broker):
    from shared.db.models import User

    alice = user_id(db_session, "alice")
    job_id = running_job(db_session, alice)
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    db_session.get(User, alice).quotas = {"max_samples": 0}
    db_session.commit()
    sign_in(client, user_token)
    response = client.post(f"/jobs/{job_id}/samples", data={"csrf_token": csrf(client, "/jobs"), "length": "10"})
    page = response.get_data(as_text=True)
    assert response.status_code == 429 and response.mimetype == "text/html"
    assert "<h1>429 · Quota exceeded</h1>" in page and "queued or running samples (the limit is 0)." in page
    assert sample_count(db_session) == 0 and broker.llen("sampling") == 0


def test_the_sample_and_analysis_pages_cancel_while_queued(client, user_token, db_session, broker, store):
    from tests.analysis_helpers import store_checkpoint

    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    store_checkpoint(store, job_id, 1, TEST_LEASE)
    sign_in(client, user_token)
    token = csrf(client, "/jobs")
    sample = client.post(f"/jobs/{job_id}/samples", data={"csrf_token": token, "length": "10"})
    analysis = client.post(f"/jobs/{job_id}/analyses", data={"csrf_token": token})
    for kind, response in (("sample", sample), ("analysis", analysis)):
        page_url = response.headers["Location"]  # the new sample's or analysis's page
        row_id = int(page_url.rsplit("/", 1)[1])
        page = client.get(page_url).get_data(as_text=True)
        assert f'id="{kind}-cancel"' in page and f"Cancel {kind}" in page
        cancelled = client.post(f"{page_url}/cancel", data={"csrf_token": token})
        assert cancelled.status_code == 302 and cancelled.headers["Location"] == page_url
        page = client.get(page_url).get_data(as_text=True)
        assert f"{kind.capitalize()} {row_id} is cancelled." in page and f'id="{kind}-cancel"' not in page
        again = client.post(f"{page_url}/cancel", data={"csrf_token": token})
        assert again.status_code == 302  # cancelling a cancelled one is a no-op, as in the API
        assert client.post(f"/{'samples' if kind == 'sample' else 'analyses'}/999999/cancel",
                           data={"csrf_token": token}).status_code == 404  # fmt: skip


def test_no_sample_before_a_checkpoint(client, user_token, db_session, broker):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    sign_in(client, user_token)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="sample-form"' not in page and "once the first epoch has finished" in page
    response = client.post(f"/jobs/{job_id}/samples", data={"csrf_token": csrf(client, "/jobs"), "length": "10"})
    assert response.status_code == 302
    assert "No sample: job has no checkpoint yet." in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert sample_count(db_session) == 0 and broker.llen("sampling") == 0


def test_sample_page_previews_a_zip_and_shows_a_failure(client, user_token, db_session, store):
    import io
    import zipfile

    from shared import lifecycle
    from shared.db.models import Job
    from shared.storage.keys import sample_key

    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    job = db_session.get(Job, job_id)
    epoch = lifecycle.best_epoch(job)
    assert epoch is not None
    ids = []
    for temperatures in ([0.5, 1.0], [0.5]):
        sample = lifecycle.create_sample(
            db_session,
            job.owner_id,
            job,
            epoch,
            length=50,
            temperatures=temperatures,
            count=1,
            seed_text=None,
            random_seed=None,
        )
        db_session.commit()
        ids.append(sample.id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sample-1-t0.5.txt", "first <text>\n" * 30)
        archive.writestr("sample-1-t1.txt", "second\n")
    store.put_bytes(sample_key(ids[0], 2, TEST_LEASE), buffer.getvalue())
    lifecycle.finish_sample(db_session, ids[0], sample_key(ids[0], 2, TEST_LEASE))
    lifecycle.finish_sample(db_session, ids[1], error="the worker stopped")
    db_session.commit()

    sign_in(client, user_token)
    page = client.get(f"/samples/{ids[0]}").get_data(as_text=True)
    assert "<code>sample-1-t0.5.txt</code>" in page
    assert page.count("first &lt;text&gt;") == 20  # escaped, the first 20 lines
    assert f'download="sample-{ids[0]}.zip"' in page
    assert client.get(f"/samples/{ids[0]}/text").mimetype == "application/zip"
    page = client.get(f"/samples/{ids[1]}").get_data(as_text=True)
    assert "the worker stopped" in page and 'id="preview"' not in page and 'id="download"' not in page
    assert client.get(f"/samples/{ids[1]}/live").json["status"] == "failed"


def test_users_cancel_their_own_jobs_through_the_api_rule(client, user_token, other_token, db_session, broker):
    from shared import lifecycle
    from shared.db.models import Job, WorkStatus
    from shared.engine.config import Hyperparameters
    from tests.browser.browser_helpers import WORKER, make_corpus

    alice = user_id(db_session, "alice")
    queued = lifecycle.create_job(db_session, alice, make_corpus(db_session, alice).id, Hyperparameters(epochs=2))
    db_session.commit()
    running = running_job(db_session, alice)
    sign_in(client, other_token)
    assert client.post(f"/jobs/{queued.id}/cancel", data={"csrf_token": csrf(client, "/jobs")}).status_code == 404
    client.post("/logout", data={"csrf_token": csrf(client, "/jobs")})
    sign_in(client, user_token)
    assert f'action="/jobs/{running}/cancel"' in client.get(f"/jobs/{running}").get_data(as_text=True)
    for job_id, message in ((queued.id, "is cancelled"), (running, "cancellation requested")):
        response = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf(client, "/jobs")})
        assert response.status_code == 302 and response.headers["Location"] == f"/jobs/{job_id}"
        assert message in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    db_session.expire_all()
    assert (db_session.get(Job, queued.id).status.value, db_session.get(Job, running).cancel_requested) == (
        "cancelled",
        True,
    )
    done = running_job(db_session, alice)
    lifecycle.finish_job(db_session, done, WorkStatus.succeeded, worker=WORKER)
    db_session.commit()
    client.post(f"/jobs/{done}/cancel", data={"csrf_token": csrf(client, "/jobs")})
    assert "Nothing to cancel: " in client.get(f"/jobs/{done}").get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Job, done).status == WorkStatus.succeeded


def test_every_unsafe_page_route_needs_the_csrf_token(app, client, user_token, db_session, broker):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    unsafe = {
        (rule.endpoint, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("pages.") and rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
    }
    expected = {"pages.login", "pages.logout", "pages.request_sample", "pages.cancel"}
    expected |= {"pages.request_analysis"}  # neuron analyses
    expected |= {"pages.launch_sweep", "pages.cancel_sweep_page"}  # sweeps
    expected |= {"pages.cancel_sample_page", "pages.cancel_analysis_page"}
    assert {e for e, _ in unsafe} == expected
    sign_in(client, user_token)
    for _, path in sorted(unsafe):
        path = path.replace("<int:job_id>", str(job_id)).replace("<int:sweep_id>", "1")
        path = path.replace("<int:sample_id>", "1").replace("<int:analysis_id>", "1")
        response = client.post(path, data={"length": "10", "token": user_token})
        assert response.status_code == 400 and "Form expired" in response.get_data(as_text=True), path
    db_session.expire_all()
    assert sample_count(db_session) == 0 and broker.llen("sampling") == 0
    from shared.db.models import Job

    assert not db_session.get(Job, job_id).cancel_requested
    assert client.get("/jobs").status_code == 200  # still signed in: logout needed the token too


def test_the_landing_page_suggests_the_readmes_first_run(client):
    """The welcome page's commands are the README walk-through's, in its order."""
    import html
    from pathlib import Path

    readme = Path(__file__).resolve().parents[3].joinpath("README.md").read_text()
    walk = readme.split("<!-- newcomer:")[1].split("```sh\n")[1].split("```")[0]

    def commands(text: str) -> list[str]:
        lines = (line.split("#")[0].strip() for line in text.splitlines())
        return [line for line in lines if line.startswith("charlstm ")]

    page = client.get("/welcome").get_data(as_text=True)
    shown = html.unescape(page.split('<pre class="commands">')[1].split("</pre>")[0])
    suggested = commands(shown)
    assert suggested and suggested == [c for c in commands(walk) if c in suggested]
    assert suggested[0].startswith("charlstm corpus build") and "var/python.txt" not in shown
