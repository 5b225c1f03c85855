"""The user pages show names, tags, notes, lineage and checkpoint storage, and filter the job
and corpus lists by tag and status."""

from shared import lifecycle
from shared.db.models import Corpus, Job
from shared.engine.training.train import EpochReport
from tests.browser.browser_helpers import WORKER, record_epoch, running_job, user_id
from tests.web.pages.test_pages import sign_in


def test_pages_show_labels_lineage_storage_and_filter(client, user_token, db_session):
    owner = user_id(db_session, "alice")
    parent_id = running_job(db_session, owner, epochs=2)
    other_id = running_job(db_session, owner)
    record_epoch(db_session, parent_id, 1, 2.0, 2.1)
    lifecycle.record_epoch(
        db_session, parent_id, EpochReport(2, 1.9, 2.0, 1.0, 9.0), f"jobs/{parent_id}/epoch-0002", WORKER, 123_456
    )
    lifecycle.finish_job(db_session, parent_id, lifecycle.jobs.WorkStatus.succeeded, worker=WORKER)
    parent = db_session.get(Job, parent_id)
    parent.name, parent.tags, parent.notes = "baseline", ["paper", "rms"], "the paper's settings"
    db_session.get(Corpus, parent.corpus_id).tags = ["python"]
    child = lifecycle.lineage.create_child_job(db_session, parent, owner, 3)
    db_session.commit()
    sign_in(client, user_token)

    page = client.get(f"/jobs/{parent_id}").get_data(as_text=True)
    assert "baseline" in page and "the paper&#39;s settings" in page and f'href="/jobs/{child.id}"' in page
    assert "123,456 bytes" in page and "epochs 1, 2" in page  # epoch 1 has no recorded size
    child_page = client.get(f"/jobs/{child.id}").get_data(as_text=True)
    assert f'<a href="/jobs/{parent_id}">job #{parent_id}</a> from its epoch 2' in child_page
    # the child's chart plots the epochs it took over, dimmed, as `charlstm watch` lists them
    assert 'class="series inherited-train"' in child_page and ">parent job<" in child_page
    assert 'class="series inherited-train"' not in page
    compare = client.get(f"/compare/table?jobs={parent_id},{child.id}").get_data(as_text=True)
    assert compare.count(">Epochs</th>") == 1 and ">epochs</th>" not in compare and ">2 / 5<" in compare

    def listed(query: str) -> set[int]:
        html = client.get(f"/jobs?{query}").get_data(as_text=True)
        return {i for i in (parent_id, other_id, child.id) if f'data-job-id="{i}"' in html}

    assert listed("") == {parent_id, other_id, child.id}
    assert listed("tag=paper") == {parent_id, child.id}  # a continued job keeps its parent's tags
    assert listed("tag=paper&status=succeeded") == {parent_id} and listed("status=running") == {other_id}
    assert listed("tag=<script>") == {parent_id, other_id, child.id}  # not a tag: ignored
    corpora = client.get("/corpora?tag=python").get_data(as_text=True)
    assert corpora.count("<tr>") == 1 + 1  # the header and the tagged corpus


def test_the_admin_job_page_shares_the_user_pages_live_chart_sweep_link_and_lineage(
    client, user_token, admin_token, db_session
):
    from tests.browser.browser_helpers import make_corpus
    from tests.conftest import bearer

    corpus = make_corpus(db_session, user_id(db_session, "alice"))
    body = {"corpus_id": corpus.id, "base": {"layers": 1, "units": 16, "epochs": 2}, "grid": {"seed": [0, 1]}}
    sweep = client.post("/api/v1/sweeps", headers=bearer(user_token), json=body).get_json()
    job_id = sweep["jobs"][0]["id"]
    assert lifecycle.claim_job(db_session, job_id, WORKER) is not None
    record_epoch(db_session, job_id, 1, 2.0, 2.1)
    db_session.commit()
    version = client.get(f"/admin/api/jobs/{job_id}", headers=bearer(admin_token)).get_json()["chart_version"]
    assert lifecycle.record_batch_loss(db_session, job_id, 2, 5, 10, 1.9, worker=WORKER)
    db_session.commit()
    assert client.get(f"/admin/api/jobs/{job_id}", headers=bearer(admin_token)).get_json()["chart_version"] != version
    admin_page = client.get(f"/admin/jobs/{job_id}", headers=bearer(admin_token)).get_data(as_text=True)
    assert 'class="series live"' in admin_page  # the live training loss, as on the user page
    assert 'class="series live"' in client.get(f"/admin/jobs/{job_id}/chart.svg", headers=bearer(admin_token)).text
    assert f'<a href="/compare?sweep={sweep["id"]}">sweep #{sweep["id"]}</a>' in admin_page

    lifecycle.finish_job(db_session, job_id, lifecycle.jobs.WorkStatus.cancelled, worker=WORKER)
    child = lifecycle.lineage.create_child_job(db_session, db_session.get(Job, job_id), corpus.owner_id, 2)
    db_session.commit()
    parent_admin = client.get(f"/admin/jobs/{job_id}", headers=bearer(admin_token)).get_data(as_text=True)
    assert f'<dd id="job-children"><a href="/admin/jobs/{child.id}">job #{child.id}</a>' in parent_admin
    child_admin = client.get(f"/admin/jobs/{child.id}", headers=bearer(admin_token)).get_data(as_text=True)
    assert f'<a href="/admin/jobs/{job_id}">job #{job_id}</a> from its epoch 1' in child_admin
    sign_in(client, user_token)
    child_page = client.get(f"/jobs/{child.id}").get_data(as_text=True)
    assert f'<a href="/jobs/{job_id}">job #{job_id}</a> from its epoch 1' in child_page
    for page in (child_admin, child_page):  # one samples table, one chart: the shared partial's
        assert page.count('id="samples"') == page.count('id="chart"') == page.count('id="job-storage"') == 1
