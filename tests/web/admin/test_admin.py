"""Admin pages: login (session + CSRF, or Bearer), jobs table, job page with its SVG loss chart,
JSON endpoints for live updates, corpora; and the chart function. The workers page is in
test_workers_page.py."""

import math
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest

from services.web.charts import loss_chart_svg
from tests.web.admin.admin_helpers import make_corpus, make_job, make_user
from tests.web.web_helpers import csrf_from, sign_in

PAGES = ["/admin/", "/admin/jobs/1", "/admin/workers", "/admin/corpora", "/admin/?status=running"]


def login(client, token: str, next_path: str | None = None):
    return sign_in(client, token, "/admin/login", next_path)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---- authentication ---------------------------------------------------------------------------


def test_pages_redirect_to_login_without_auth(admin_client, admin_db):
    for path in PAGES:
        response = admin_client.get(path)
        assert response.status_code == 302, path
        location = urlsplit(response.headers["Location"])
        assert location.path == "/admin/login", path
        assert parse_qs(location.query)["next"] == [path], path
    # fetches (JSON, the chart fragment) get a 401 instead of a redirect
    for path in ("/admin/api/jobs", "/admin/api/jobs/1", "/admin/jobs/1/chart.svg"):
        response = admin_client.get(path)
        assert response.status_code == 401, path
        assert response.get_json()["login_url"] == "/admin/login"
    # the login page and static files are public
    assert admin_client.get("/admin/login").status_code == 200
    assert admin_client.get("/admin/static/admin.css").status_code == 200
    assert b"poll" in admin_client.get("/admin/static/admin.js").data


def test_non_admin_token_is_refused(admin_client, admin_db):
    token = make_user(admin_db, "alice")
    # Bearer
    response = admin_client.get("/admin/", headers=bearer(token))
    assert response.status_code == 403
    assert "not an administrator" in response.get_data(as_text=True)
    assert admin_client.get("/admin/api/jobs", headers=bearer(token)).status_code == 403
    # login form
    response = login(admin_client, token)
    assert response.status_code == 403
    assert "not an administrator" in response.get_data(as_text=True)
    assert admin_client.get("/admin/").status_code == 302  # no session was started
    # unknown tokens
    assert admin_client.get("/admin/", headers=bearer("nope")).status_code == 401
    assert login(admin_client, "nope").status_code == 401


def test_login_then_jobs_page_lists_job(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    job = make_job(admin_db, status="running", epochs=4, progress=0.5, history=[(2.0, 2.1)])

    response = login(admin_client, token)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = admin_client.get("/admin/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in html
    assert 'class="badge badge-running" data-field="status">running</span>' in html
    assert "1 / 4" in html  # epoch / epochs
    assert f"{2.1 / math.log(2):.3f}" in html  # best val loss in bits/char
    assert "alice" in html and "python.txt" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    # status filter
    assert f'data-job-id="{job.id}"' not in admin_client.get("/admin/?status=queued").get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in admin_client.get("/admin/?status=running").get_data(as_text=True)
    assert admin_client.get("/admin/?status=bogus").status_code == 400

    # logout (with its CSRF token) ends the session
    logout = admin_client.post("/admin/logout", data={"csrf_token": csrf_from(admin_client, "/admin/")})
    assert logout.status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    admin_client.get("/admin/login")  # a session with a CSRF secret exists, but no token is sent
    response = admin_client.post("/admin/login", data={"token": token})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    response = admin_client.post("/admin/login", data={"token": token, "csrf_token": "forged"})
    assert response.status_code == 400
    assert admin_client.get("/admin/").status_code == 302

    # logged in, other forms need it too
    assert login(admin_client, token).status_code == 302
    job = make_job(admin_db, status="queued")
    assert admin_client.post(f"/admin/jobs/{job.id}/cancel").status_code == 400
    assert admin_client.post("/admin/logout").status_code == 400
    assert admin_client.get("/admin/").status_code == 200  # still signed in


def test_login_redirects_only_inside_admin(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    assert login(admin_client, token, "/admin/workers").headers["Location"] == "/admin/workers"
    assert admin_client.get("/admin/login?next=/admin/corpora").headers["Location"] == "/admin/corpora"
    for evil in ("https://evil.example/", "//evil.example/admin/", "/api/v1/jobs", "/admin/\\evil"):
        admin_client.post("/admin/logout", data={"csrf_token": csrf_from(admin_client, "/admin/corpora")})
        assert login(admin_client, token, evil).headers["Location"] == "/admin/"


def test_session_ends_when_token_is_revoked(admin_client, admin_db):
    from shared.db.models import Token

    token = make_user(admin_db, "root", admin=True)
    assert login(admin_client, token).status_code == 302
    assert admin_client.get("/admin/").status_code == 200
    admin_db.query(Token).delete()
    admin_db.commit()
    response = admin_client.get("/admin/")
    assert response.status_code == 302
    assert "session has ended" in admin_client.get(response.headers["Location"]).get_data(as_text=True)


# ---- job page, chart, JSON --------------------------------------------------------------------


def test_job_page_has_svg_with_both_loss_curves(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    job = make_job(admin_db, status="running", epochs=10, progress=0.5, history=[(2.2, 2.3), (1.8, 1.9), (1.5, 1.7)])
    response = admin_client.get(f"/admin/jobs/{job.id}", headers=bearer(token))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    assert svg.count("<polyline") == 2
    assert 'class="series train"' in svg and 'class="series val"' in svg
    ET.fromstring(svg)  # well-formed
    # per-epoch table, checkpoints, hyperparameters, ETA (mean 62 s x 6.5 epochs left = 6m 43s)
    assert "jobs/0003/ckpt-epoch-0003.keras" in html
    assert f"{1.5 / math.log(2):.4f}" in html
    assert "<dt>units</dt><dd><code>512</code></dd>" in html
    assert "6m 43s" in html
    assert 'data-live="true"' in html

    fragment = admin_client.get(f"/admin/jobs/{job.id}/chart.svg", headers=bearer(token))
    assert fragment.status_code == 200
    assert fragment.mimetype == "image/svg+xml"
    assert ET.fromstring(fragment.data).tag == "{http://www.w3.org/2000/svg}svg"
    assert admin_client.get("/admin/jobs/999", headers=bearer(token)).status_code == 404


def test_job_page_shows_samples_and_error(admin_client, admin_db):
    from shared.db.models import Sample, WorkStatus

    token = make_user(admin_db, "root", admin=True)
    job = make_job(
        admin_db, status="failed", history=[(2.0, None)], error="<boom> out of memory", attempts=3, requeues=2
    )
    admin_db.add_all(
        [
            Sample(
                owner_id=job.owner_id,
                job_id=job.id,
                checkpoint_key="k1",
                length=50_000,
                temperatures=[0.5, 0.75],
                status=WorkStatus.succeeded,
                object_key="samples/1.zip",
                progress=1.0,
            ),
            Sample(
                owner_id=job.owner_id,
                job_id=job.id,
                checkpoint_key="k1",
                length=100,
                temperatures=[1.0],
                status=WorkStatus.running,
                progress=0.42,
            ),
        ]
    )
    admin_db.commit()
    html = admin_client.get(f"/admin/jobs/{job.id}", headers=bearer(token)).get_data(as_text=True)
    assert "&lt;boom&gt; out of memory" in html and "<boom>" not in html
    assert '<dd data-field="attempts">3</dd>' in html and ">2</dd>" in html  # attempts, handed back
    assert ">100%</span>" in html and ">42%</span>" in html  # samples' progress
    assert 'href="/admin/samples/1/text"' in html
    assert "0.5, 0.75" in html
    assert 'data-live="true"' in html  # a sample is still running
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    assert svg.count("<polyline") == 1  # no validation losses


def test_json_endpoints_return_progress(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    job = make_job(admin_db, status="running", epochs=4, progress=0.5, history=[(2.0, 2.2), (1.6, 1.8)])
    login(admin_client, token)

    listing = admin_client.get("/admin/api/jobs")
    assert listing.status_code == 200
    data = listing.get_json()
    assert data["counts"]["running"] == 1 and data["total"] == 1
    (row,) = data["jobs"]
    assert row["id"] == job.id and row["status"] == "running"
    assert row["epoch"] == 2 and row["progress"] == 0.5 and row["epochs_total"] == 4
    assert row["fraction"] == pytest.approx(2.5 / 4)
    assert row["progress_label"] == "epoch 3: 50%"
    assert row["best_val_bits"] == pytest.approx(1.8 / math.log(2))

    detail = admin_client.get(f"/admin/api/jobs/{job.id}").get_json()
    assert detail["fraction"] == pytest.approx(2.5 / 4)
    assert detail["chart_version"] == "2-0-0" and len(detail["epochs"]) == 2  # 2 epochs, no live point
    assert detail["eta_seconds"] == pytest.approx((61 + 62) / 2 * 1.5)
    assert detail["live"] is True and detail["can_cancel"] is True
    assert admin_client.get("/admin/api/jobs/999").status_code == 404
    assert admin_client.get("/admin/api/jobs?status=nope").status_code == 400


def test_cancel_button(admin_client, admin_db):
    from shared.db.models import Job, WorkStatus

    token = make_user(admin_db, "root", admin=True)
    queued = make_job(admin_db, status="queued")
    running = make_job(admin_db, status="running", history=[(2.0, 2.1)])
    done = make_job(admin_db, status="succeeded", history=[(2.0, 2.1)])
    login(admin_client, token)
    for job in (queued, running, done):
        csrf = csrf_from(admin_client, f"/admin/jobs/{job.id}")
        response = admin_client.post(f"/admin/jobs/{job.id}/cancel", data={"csrf_token": csrf})
        assert response.status_code == 302 and response.headers["Location"] == f"/admin/jobs/{job.id}"
    admin_db.expire_all()
    assert admin_db.get(Job, queued.id).status == WorkStatus.cancelled
    assert admin_db.get(Job, queued.id).finished_at is not None
    assert admin_db.get(Job, running.id).status == WorkStatus.running
    assert admin_db.get(Job, running.id).cancel_requested is True
    assert admin_db.get(Job, done.id).status == WorkStatus.succeeded
    assert admin_db.get(Job, done.id).cancel_requested is False
    assert "already succeeded" in admin_client.get(f"/admin/jobs/{done.id}").get_data(as_text=True)
    # a Bearer request needs no CSRF token (a browser never sends that header by itself)
    other = make_job(admin_db, status="queued")
    assert admin_client.post(f"/admin/jobs/{other.id}/cancel", headers=bearer(token)).status_code == 302


# ---- corpora (the workers page: test_workers_page.py) -----------------------------------------


def test_corpora_page(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    make_job(admin_db, status="queued")
    make_corpus(admin_db, "bob", name="catalog <2019>.txt")
    html = admin_client.get("/admin/corpora", headers=bearer(token)).get_data(as_text=True)
    assert "python.txt" in html and "catalog &lt;2019&gt;.txt" in html
    assert "3.7 MB" in html and "318 → 74" in html
    assert 'href="/admin/?corpus=1">1</a>' in html


# ---- loss_chart_svg ---------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


NS = "{http://www.w3.org/2000/svg}"


def test_chart_without_points():
    svg = loss_chart_svg([], 400, 200)
    root = parse(svg)
    assert root.get("viewBox") == "0 0 400 200"
    assert root.findall(f".//{NS}polyline") == []
    assert "no finished epochs yet" in svg
    assert len(root.findall(f".//{NS}g[@class='axes']/{NS}line")) >= 2


def test_chart_with_one_point():
    root = parse(loss_chart_svg([(1, 2.0, 2.5)], 400, 200))
    lines = root.findall(f".//{NS}polyline")
    assert len(lines) == 2
    assert all(len(line.get("points").split()) == 1 for line in lines)
    assert len(root.findall(f".//{NS}circle")) == 2  # a single point is drawn as a dot


def test_chart_draws_the_parents_epochs_dimmed_before_its_own():
    root = parse(loss_chart_svg([(3, 1.8, 1.9)], 400, 200, inherited=[(1, 2.5, 2.6), (2, 2.0, 2.2)]))
    old_train, old_val, train, val = root.findall(f".//{NS}polyline")
    assert old_train.get("class") == "series inherited-train" and old_val.get("class") == "series inherited-val"
    assert float(old_train.get("stroke-opacity", "1")) < 1 and len(old_train.get("points", "").split()) == 2
    assert (train.get("class"), val.get("class")) == ("series train", "series val")
    labels = [t.text for t in root.findall(f".//{NS}g[@class='tick-labels']/{NS}text")]
    assert {"1", "3"} <= set(labels)  # one epoch axis for both
    assert "parent job" in [t.text for t in root.findall(f".//{NS}g[@class='legend']/{NS}text")]


def test_chart_with_many_points_and_ticks():
    rows = [(e, 3.0 / e**0.3, 3.1 / e**0.3) for e in range(1, 151)]
    svg = loss_chart_svg(rows, 640, 320)
    root = parse(svg)
    train, val = root.findall(f".//{NS}polyline")
    assert len(train.get("points").split()) == 150 and len(val.get("points").split()) == 150
    assert root.findall(f".//{NS}circle") == []  # too many for markers
    labels = [t.text for t in root.findall(f".//{NS}g[@class='tick-labels']/{NS}text")]
    assert "100" in labels and "epoch" in svg and "loss (bits/char)" in svg
    # every point lies inside the plot area
    for line in (train, val):
        for pair in line.get("points").split():
            x, y = map(float, pair.split(","))
            assert 60 <= x <= 640 - 16 and 34 <= y <= 320 - 46
    # training loss falls: its y (screen) grows
    ys = [float(p.split(",")[1]) for p in train.get("points").split()]
    assert ys == sorted(ys)


def test_chart_with_missing_validation_losses():
    root = parse(loss_chart_svg([(1, 2.0, None), (2, 1.5, None)]))
    (line,) = root.findall(f".//{NS}polyline")
    assert "train" in (line.get("class") or "")
    legend = [t.text for t in root.findall(f".//{NS}g[@class='legend']/{NS}text")]
    assert legend == ["training"]

    root = parse(loss_chart_svg([(3, 1.5, 1.6), (1, 2.0, None), (2, float("nan"), 1.7)]))
    train, val = root.findall(f".//{NS}polyline")
    assert len(train.get("points").split()) == 2  # NaN dropped
    assert len(val.get("points").split()) == 2  # None dropped
    xs = [float(p.split(",")[0]) for p in train.get("points").split()]
    assert xs == sorted(xs)  # rows sorted by epoch


def test_chart_escapes_text_and_handles_flat_lines():
    svg = loss_chart_svg([(1, 1.0, 1.0), (2, 1.0, 1.0)], title='<script>"x"</script>', y_label="a & b")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg
    root = parse(svg)
    for line in root.findall(f".//{NS}polyline"):
        ys = {p.split(",")[1] for p in line.get("points").split()}
        assert len(ys) == 1  # a flat line in the middle, not a division by zero


def test_admin_downloads_a_sample_with_the_admin_session(admin_client, admin_db):
    from shared.db.models import Sample, WorkStatus

    token = make_user(admin_db, "root", admin=True)
    job = make_job(admin_db, status="succeeded", history=[(2.0, 1.9)])
    sample = Sample(
        owner_id=job.owner_id,
        job_id=job.id,
        checkpoint_key="k1",
        length=5,
        temperatures=[0.75],
        status=WorkStatus.succeeded,
        object_key="samples/77.txt",
    )
    admin_db.add(sample)
    admin_db.commit()
    admin_client.application.extensions["charlstm.store"].put_bytes("samples/77.txt", b"hello")
    assert admin_client.get(f"/admin/samples/{sample.id}/text").status_code in (302, 401)  # not logged in
    response = admin_client.get(f"/admin/samples/{sample.id}/text", headers=bearer(token))
    assert response.status_code == 200 and response.data == b"hello"
    assert admin_client.get("/admin/samples/999/text", headers=bearer(token)).status_code == 404


def test_the_jobs_list_costs_a_constant_number_of_queries_and_loads_no_epoch(admin_client, admin_db):
    from sqlalchemy import Engine, event

    token = make_user(admin_db, "root", admin=True)
    for _ in range(20):
        make_job(admin_db, status="running", epochs=60, history=[(2.0, 2.1)] * 50)
    login(admin_client, token)
    statements: list[str] = []

    def hook(conn, cursor, statement, *args):
        statements.append(statement)

    counts = []
    for path in ("/admin/api/jobs?status=queued", "/admin/api/jobs", "/admin/"):
        statements.clear()
        event.listen(Engine, "before_cursor_execute", hook)
        try:
            assert admin_client.get(path).status_code == 200
        finally:
            event.remove(Engine, "before_cursor_execute", hook)
        assert not [s for s in statements if "epochs" in s.lower().split("from", 1)[-1]], statements
        counts.append(len(statements))
    assert counts[0] == counts[1] == counts[2] <= 5, counts  # none listed, 20 listed, the page: the same
    data = admin_client.get("/admin/api/jobs").get_json()
    assert len(data["jobs"]) == 20 and all(j["epoch"] == 50 for j in data["jobs"])


def test_a_cancelled_sample_is_shown_cancelled_without_a_download(admin_client, admin_db):
    from shared import lifecycle
    from shared.db.models import Sample

    token = make_user(admin_db, "root", admin=True)
    job = make_job(admin_db, status="succeeded", history=[(2.0, 2.1)])
    sample = Sample(
        owner_id=job.owner_id, job_id=job.id, checkpoint_key="k1", length=100, temperatures=[1.0], progress=0.3
    )
    admin_db.add(sample)
    admin_db.commit()
    lifecycle.cancel_sample(admin_db, sample.id)
    admin_db.commit()
    html = admin_client.get(f"/admin/jobs/{job.id}", headers=bearer(token)).get_data(as_text=True)
    assert 'class="badge badge-cancelled" data-field="status"' in html and ">cancelled</span>" in html
    assert f"/admin/samples/{sample.id}/text" not in html and 'data-live="false"' in html
    detail = admin_client.get(f"/admin/api/jobs/{job.id}", headers=bearer(token)).get_json()
    assert [s["status"] for s in detail["samples"]] == ["cancelled"]
