"""Attacks on sessions, tokens and what users' JSON leaks, against a real API server process
(`python -m services.serve` on the test PostgreSQL), each stating the figure it holds:

- a copy of a session cookie after its owner signed out: refused (302 to the login page, 401 for
  the pages' JSON and the admin pages), not 200;
- an expired token: 401 saying "expired" from the API, the admin pages and the sign-in form, and
  a session made with it ends;
- /api/v1/docs: the site's CSP (no inline script), X-Frame-Options and nosniff, no
  persistAuthorization; the plugin's own page (inline script) leads there;
- an ordinary user opening an /admin/ URL (a cross-site link): 403, and still signed in;
- a user's job JSON (API and the job page's live JSON): no worker hostname, no storage key;
- a job's lineage children: another user's fork is not listed.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from services.launcher import ROOT, api_command
from tests.serving.conftest import stop, wait_answering
from tests.workers.processes import free_port

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
WORKER_HOST = "gpu-node-17.internal.example"
CHECKPOINT_KEY = "jobs/1/epoch-0001"
SAMPLE_KEY = "samples/secret-sample-key.txt"


@pytest.fixture(scope="module")
def server_url(migrated_db, tmp_path_factory) -> Iterator[str]:
    """The API server as `make up` runs it, on the test database (each test empties it first)."""
    log = tmp_path_factory.mktemp("attack-sessions") / "serve.log"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": migrated_db, "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            api_command(port, threads=4), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_answering(f"http://127.0.0.1:{port}/healthz", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _user(db, name: str, admin: bool = False, lifetime: timedelta | None = None) -> str:
    from shared.auth import create_user_token

    token = create_user_token(db, name, admin=admin, lifetime=lifetime)
    db.commit()
    return token


def _csrf(browser: requests.Session, url: str) -> str:
    match = CSRF_RE.search(browser.get(url).text)
    assert match, url
    return match.group(1)


def sign_in(url: str, token: str) -> requests.Session:
    """A browser signed in through the user pages' form (one sign-in for both sites)."""
    browser = requests.Session()
    answer = browser.post(
        f"{url}/login", data={"token": token, "csrf_token": _csrf(browser, f"{url}/login")}, allow_redirects=False
    )
    assert answer.status_code == 302, answer.text
    return browser


def copy_of(browser: requests.Session) -> requests.Session:
    """What an attacker who copied the browser's cookies holds."""
    thief = requests.Session()
    for cookie in browser.cookies:
        thief.cookies.set(cookie.name, cookie.value, domain=cookie.domain, path=cookie.path)
    return thief


def answers(browser: requests.Session, url: str, job_id: int) -> dict[str, int]:
    paths = ("/jobs", f"/jobs/{job_id}/live", "/admin/", "/admin/api/jobs")
    return {path: browser.get(url + path, allow_redirects=False).status_code for path in paths}


def _job(db, owner_name: str, **fields):
    from shared.db.models import Job, User, WorkStatus
    from tests.factories import corpus_row, epoch_row

    owner = db.scalar(select(User).where(User.name == owner_name))
    corpus = corpus_row(owner=owner, name=f"{owner_name}.txt", object_key=f"corpora/{uuid.uuid4().hex}-corpus-key.txt")
    hp = {"epochs": 3, "layers": 1, "units": 8, "seq_len": 10, "batch_size": 2}
    defaults = {"status": WorkStatus.running, "epoch": 1, "worker": f"{WORKER_HOST}:4242", "progress": 0.5}
    job = Job(owner=owner, corpus=corpus, hyperparameters=hp, **(defaults | fields))
    job.epochs = [epoch_row(loss=2.0, val_loss=2.1, checkpoint_key=CHECKPOINT_KEY)]
    db.add(job)
    db.commit()
    return job


def test_a_copied_cookie_stops_working_at_logout(server_url, db_session):
    """Figure: the copy's statuses after the owner signed out (before: 200 on every path)."""
    admin_token = _user(db_session, "root", admin=True)
    job = _job(db_session, "root")
    owner = sign_in(server_url, admin_token)
    thief = copy_of(owner)
    assert answers(thief, server_url, job.id) == dict.fromkeys(answers(owner, server_url, job.id), 200)

    signed_out = owner.post(
        f"{server_url}/logout", data={"csrf_token": _csrf(owner, f"{server_url}/jobs")}, allow_redirects=False
    )
    assert signed_out.status_code == 302

    after = answers(thief, server_url, job.id)
    print(f"FIGURE copied cookie after logout: {after}")
    assert after == {"/jobs": 302, f"/jobs/{job.id}/live": 401, "/admin/": 302, "/admin/api/jobs": 401}
    assert thief.get(f"{server_url}/jobs").url.startswith(f"{server_url}/login")
    # a copy taken from an admin sign-in ends at the admin pages' logout the same way
    owner = sign_in(server_url, admin_token)
    thief = copy_of(owner)
    owner.post(f"{server_url}/admin/logout", data={"csrf_token": _csrf(owner, f"{server_url}/admin/")})
    assert answers(thief, server_url, job.id)["/admin/api/jobs"] == 401


def test_an_expired_token_answers_401_saying_so(server_url, db_session):
    """Figure: the statuses and messages of a token past its lifetime (before: no lifetime, 200)."""
    from shared.db.models import Token

    alice_token = _user(db_session, "alice", lifetime=timedelta(days=30))
    root_token = _user(db_session, "root", admin=True, lifetime=timedelta(hours=12))
    browser = sign_in(server_url, alice_token)
    assert requests.get(f"{server_url}/api/v1/jobs", headers={"Authorization": f"Bearer {alice_token}"}).ok
    assert browser.get(f"{server_url}/jobs", allow_redirects=False).status_code == 200

    for row in db_session.scalars(select(Token)):
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db_session.commit()

    api = requests.get(f"{server_url}/api/v1/jobs", headers={"Authorization": f"Bearer {alice_token}"})
    admin = requests.get(f"{server_url}/admin/", headers={"Authorization": f"Bearer {root_token}"})
    pages = requests.get(f"{server_url}/jobs", headers={"Authorization": f"Bearer {alice_token}"})
    form = requests.Session()
    login = form.post(
        f"{server_url}/login", data={"token": alice_token, "csrf_token": _csrf(form, f"{server_url}/login")}
    )
    session = browser.get(f"{server_url}/jobs", allow_redirects=False)
    print(
        f"FIGURE expired token: api {api.status_code} {api.json()}, admin {admin.status_code}, pages "
        f"{pages.status_code}, sign-in form {login.status_code}, its earlier session {session.status_code}"
    )
    assert api.status_code == 401 and api.json()["error"].startswith("token expired at ")
    assert api.headers["WWW-Authenticate"].startswith("Bearer")
    for answer in (admin, pages, login):
        assert answer.status_code == 401 and "token expired at " in answer.text.lower(), answer.url
    assert session.status_code == 302 and "/login" in session.headers["Location"]


def test_the_docs_page_has_the_sites_security_headers(server_url, db_session):
    """Figure: the docs page's CSP, X-Frame-Options and nosniff (before: none of them)."""
    docs = requests.get(f"{server_url}/api/v1/docs")
    assert docs.status_code == 200
    csp = docs.headers.get("Content-Security-Policy", "")
    print(
        f"FIGURE /api/v1/docs: CSP {csp!r}, X-Frame-Options {docs.headers.get('X-Frame-Options')}, "
        f"nosniff {docs.headers.get('X-Content-Type-Options')}, "
        f"persistAuthorization {'persistAuthorization' in docs.text}"
    )
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'" and "unsafe" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert docs.headers["X-Frame-Options"] == "DENY" and docs.headers["X-Content-Type-Options"] == "nosniff"
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", docs.text) == []  # no inline script
    assert "<style" not in docs.text and " style=" not in docs.text
    assert "persistAuthorization" not in docs.text
    script = requests.get(f"{server_url}/assets/api_docs.js")
    assert script.ok and "persistAuthorization: false" in script.text and "validatorUrl: null" in script.text
    # the plugin's own page (inline scripts) and the UI index lead to this page
    for path in ("/api/v1/swagger", "/api/v1/oauth2-redirect.html", "/api/v1/"):
        moved = requests.get(server_url + path, allow_redirects=False)
        assert moved.status_code == 302 and moved.headers["Location"] == "/api/v1/docs", path
    bundle = requests.get(f"{server_url}/api/v1/swagger/js/swagger-ui-bundle.js")
    assert bundle.ok and bundle.headers["X-Content-Type-Options"] == "nosniff"


def test_a_user_opening_an_admin_url_stays_signed_in(server_url, db_session):
    """Figure: a signed-in user's /admin/ status, then /jobs status (before: 302 to the admin
    login, then 302: signed out by a link)."""
    browser = sign_in(server_url, _user(db_session, "alice"))
    admin = browser.get(f"{server_url}/admin/", allow_redirects=False)
    admin_json = browser.get(f"{server_url}/admin/api/jobs", allow_redirects=False)
    then = browser.get(f"{server_url}/jobs", allow_redirects=False)
    print(
        f"FIGURE non-admin on /admin/: {admin.status_code}, /admin/api/jobs {admin_json.status_code}, "
        f"then /jobs {then.status_code}"
    )
    assert admin.status_code == 403 and "not an administrator" in admin.text
    assert admin_json.status_code == 403
    assert then.status_code == 200


def test_users_job_json_has_no_worker_hostname_or_storage_key(server_url, db_session):
    """Figure: the leaked strings found in alice's JSON (before: the hostname and the checkpoint
    key in the live JSON)."""
    from shared.db.models import WorkStatus
    from tests.factories import sample_row

    alice_token = _user(db_session, "alice")
    root_token = _user(db_session, "root", admin=True)
    job = _job(db_session, "alice")
    sample = sample_row(
        owner_id=job.owner_id,
        job_id=job.id,
        checkpoint_key=CHECKPOINT_KEY,
        length=5,
        status=WorkStatus.succeeded,
        object_key=SAMPLE_KEY,
        worker=f"{WORKER_HOST}:4343",
    )
    db_session.add(sample)
    db_session.commit()
    api = {"Authorization": f"Bearer {alice_token}"}
    browser = sign_in(server_url, alice_token)
    answers = {
        "api job": requests.get(f"{server_url}/api/v1/jobs/{job.id}", headers=api),
        "api jobs": requests.get(f"{server_url}/api/v1/jobs", headers=api),
        "api sample": requests.get(f"{server_url}/api/v1/samples/{sample.id}", headers=api),
        "api samples": requests.get(f"{server_url}/api/v1/jobs/{job.id}/samples", headers=api),
        "live": browser.get(f"{server_url}/jobs/{job.id}/live"),
        "sample live": browser.get(f"{server_url}/samples/{sample.id}/live"),
        "job page": browser.get(f"{server_url}/jobs/{job.id}"),
    }
    secrets = (WORKER_HOST, CHECKPOINT_KEY, SAMPLE_KEY, "corpus-key")
    leaks = {name: [s for s in secrets if s in answer.text] for name, answer in answers.items()}
    print(f"FIGURE strings leaked to the owner: {leaks}")
    assert all(answer.status_code == 200 for answer in answers.values()), {n: a.status_code for n, a in answers.items()}
    assert leaks == {name: [] for name in answers}
    assert answers["live"].json()["epochs"][0]["epoch"] == 1  # the page script's keys are still there
    # the admin pages keep them
    admin = requests.get(f"{server_url}/admin/api/jobs/{job.id}", headers={"Authorization": f"Bearer {root_token}"})
    assert WORKER_HOST in admin.text and CHECKPOINT_KEY in admin.text


def test_lineage_children_of_another_users_fork_are_not_listed(server_url, db_session):
    """Figure: the children alice sees of her job (before: bob's fork's id too)."""
    from shared.db.models import WorkStatus

    alice_token = _user(db_session, "alice")
    _user(db_session, "bob")
    root_token = _user(db_session, "root", admin=True)
    parent = _job(db_session, "alice", status=WorkStatus.succeeded)
    own = _job(db_session, "alice", status=WorkStatus.queued, parent_id=parent.id, parent_epoch=1)
    foreign = _job(db_session, "bob", status=WorkStatus.queued, parent_id=parent.id, parent_epoch=1)

    seen = requests.get(f"{server_url}/api/v1/jobs/{parent.id}", headers={"Authorization": f"Bearer {alice_token}"})
    everyone = requests.get(f"{server_url}/api/v1/jobs/{parent.id}", headers={"Authorization": f"Bearer {root_token}"})
    page = sign_in(server_url, alice_token).get(f"{server_url}/jobs/{parent.id}")
    print(f"FIGURE alice's job's children: {seen.json()['lineage']['children']} (bob's fork: {foreign.id})")
    assert seen.json()["lineage"]["children"] == [own.id]
    assert everyone.json()["lineage"]["children"] == [own.id, foreign.id]
    assert f'href="/jobs/{own.id}"' in page.text and f'href="/jobs/{foreign.id}"' not in page.text


def test_one_user_cannot_pile_up_sessions(app, client, db_session):
    """Figure: WebSession rows of a user after 30 sign-ins and a sign-out each (ended rows are
    deleted at the next sign-in), and after 30 sign-ins kept open (the oldest end beyond 20)."""
    from services.web.security import MAX_LIVE_SESSIONS
    from shared.db.models import WebSession
    from tests.security.security_helpers import csrf_from

    token = _user(db_session, "alice")
    sign_ins = 30
    for _ in range(sign_ins):
        client.post("/login", data={"token": token, "csrf_token": csrf_from(client, "/login")})
        client.post("/logout", data={"csrf_token": csrf_from(client, "/jobs")})
    rows_after_logouts = len(db_session.scalars(select(WebSession)).all())
    browsers = [app.test_client() for _ in range(sign_ins)]
    for browser in browsers:
        browser.post("/login", data={"token": token, "csrf_token": csrf_from(browser, "/login")})
    db_session.expire_all()
    rows = db_session.scalars(select(WebSession)).all()
    live = [row for row in rows if row.ended_at is None]
    print(
        f"FIGURE sessions of one user: {rows_after_logouts} rows after {sign_ins} sign-outs; "
        f"{len(live)} live of {len(rows)} rows after {sign_ins} open sign-ins"
    )
    assert rows_after_logouts == 1  # the last one, ended
    assert len(live) == MAX_LIVE_SESSIONS
    assert [b.get("/jobs").status_code for b in browsers] == [302] * (sign_ins - MAX_LIVE_SESSIONS) + [
        200
    ] * MAX_LIVE_SESSIONS
