"""The user pages show names, tags, notes, lineage and checkpoint storage, and filter the job
and corpus lists by tag and status (issue 12)."""

from shared import lifecycle
from shared.db.models import Corpus, Job
from shared.engine.train import EpochReport
from tests.browser.browser_helpers import WORKER, record_epoch, running_job, user_id
from tests.pages.test_pages import sign_in


def test_pages_show_labels_lineage_storage_and_filter(client, user_token, db_session):
    owner = user_id(db_session, "alice")
    parent_id = running_job(db_session, owner, epochs=2)
    other_id = running_job(db_session, owner)
    record_epoch(db_session, parent_id, 1, 2.0, 2.1)
    lifecycle.record_epoch(
        db_session, parent_id, EpochReport(2, 1.9, 2.0, 1.0, 9.0), f"jobs/{parent_id}/epoch-0002", WORKER, 123_456
    )
    lifecycle.finish_job(db_session, parent_id, lifecycle.jobs.JobStatus.succeeded, worker=WORKER)
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

    def listed(query: str) -> set[int]:
        html = client.get(f"/jobs?{query}").get_data(as_text=True)
        return {i for i in (parent_id, other_id, child.id) if f'data-job-id="{i}"' in html}

    assert listed("") == {parent_id, other_id, child.id}
    assert listed("tag=paper") == {parent_id, child.id}  # a continued job keeps its parent's tags
    assert listed("tag=paper&status=succeeded") == {parent_id} and listed("status=running") == {other_id}
    assert listed("tag=<script>") == {parent_id, other_id, child.id}  # not a tag: ignored
    corpora = client.get("/corpora?tag=python").get_data(as_text=True)
    assert corpora.count("<tr>") == 1 + 1  # the header and the tagged corpus
