"""A running sample's page in a real browser: its first text grows as its worker writes it (the
page's EventSource on its stream route), and once the sample succeeds the page shows the stored
text."""

from __future__ import annotations

from shared import lifecycle
from shared.db.models import Sample
from tests.browser.browser_helpers import record_epoch, running_job, sign_in, user_id
from tests.factories import sample_row
from tests.waiting import wait_for
from workers.text_stream import TextPublisher


def test_the_text_grows_while_running_and_the_stored_text_shows_after(
    page, server_url, user_token, db_session, store, clean_db
):
    owner = user_id(db_session, "alice")
    job_id = running_job(db_session, owner)
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    sample = sample_row(owner_id=owner, job_id=job_id, length=40)
    db_session.add(sample)
    db_session.commit()
    work = lifecycle.claim_sample(db_session, sample.id, "w1")
    db_session.commit()
    assert work is not None
    publisher = TextPublisher(sample.id, work.lease, texts=1, db_url=clean_db)
    publisher.write(0, "def grow(x):\n")
    publisher.flush()

    sign_in(page, server_url, user_token)
    page.goto(f"{server_url}/samples/{sample.id}")

    def live() -> str | None:
        return page.text_content("#live-text")

    wait_for(lambda: live() == "def grow(x):\n", 15, "the first piece on the page")
    publisher.write(0, "    return x + 1\n")
    publisher.close()
    wait_for(lambda: live() == "def grow(x):\n    return x + 1\n", 15, "the page's text to grow")

    final = "def grow(x):\n    return x + 1\n# stored\n"
    store.put_bytes(f"samples/{sample.id}.txt", final.encode())
    assert lifecycle.finish_sample(db_session, sample.id, f"samples/{sample.id}.txt", lease=work.lease, stored_bytes=40)
    db_session.commit()
    page.wait_for_selector("#preview")  # the end event reloads the page: the stored text's preview
    assert page.inner_text("#preview").strip() == final.strip()
    assert page.locator("#live-text").count() == 0
    assert db_session.get(Sample, sample.id).status.value == "succeeded"
