"""Checkpoints downloadable: GET /api/v1/jobs/{id}/checkpoint[?epoch=N] (Bearer) and the user
job page's link (session) stream the epoch's stored folder as a zip."""

from __future__ import annotations

import io
import os
import zipfile

from tests.browser.browser_helpers import TEST_LEASE, record_epoch, running_job, user_id
from tests.web.pages.test_pages import sign_in


def stored_checkpoint(db_session, store, owner: str = "alice") -> tuple[int, dict[str, bytes]]:
    from shared.storage.keys import checkpoint_key

    job_id = running_job(db_session, user_id(db_session, owner))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    record_epoch(db_session, job_id, 2, loss=1.8, val_loss=2.0)
    files = {"model.keras": os.urandom(300_000), "checkpoint.json": b'{"epoch": 2}'}
    for name, data in files.items():
        store.put_bytes(f"{checkpoint_key(job_id, 2, TEST_LEASE)}/{name}", data)
    store.put_bytes(f"{checkpoint_key(job_id, 1, TEST_LEASE)}/model.keras", b"older")
    return job_id, files


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_api_streams_the_epochs_checkpoint_as_a_zip(client, user_token, other_token, db_session, store):
    job_id, files = stored_checkpoint(db_session, store)
    alice = {"Authorization": f"Bearer {user_token}"}
    expected = {f"job-{job_id}-epoch-0002/{name}": data for name, data in files.items()}
    for query in ("", "?epoch=2"):  # epoch 2 is the best (lowest validation loss)
        response = client.get(f"/api/v1/jobs/{job_id}/checkpoint{query}", headers=alice)
        assert response.status_code == 200 and response.mimetype == "application/zip"
        assert response.headers["Content-Disposition"] == f'attachment; filename="job-{job_id}-epoch-0002.zip"'
        assert response.is_streamed
        assert unzip(response.get_data()) == expected
    older = client.get(f"/api/v1/jobs/{job_id}/checkpoint?epoch=1", headers=alice)
    assert unzip(older.get_data()) == {f"job-{job_id}-epoch-0001/model.keras": b"older"}

    bob = {"Authorization": f"Bearer {other_token}"}
    theirs = client.get(f"/api/v1/jobs/{job_id}/checkpoint", headers=bob)
    missing = client.get("/api/v1/jobs/9999/checkpoint", headers=bob)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["error"].replace(str(job_id), "<id>") == missing.json["error"].replace("9999", "<id>")
    assert client.get(f"/api/v1/jobs/{job_id}/checkpoint").status_code == 401
    response = client.get(f"/api/v1/jobs/{job_id}/checkpoint?epoch=3", headers=alice)
    no_third = f"job {job_id} has no checkpoint of epoch 3 (epochs with one: 1, 2)"
    assert response.status_code == 404 and response.json["error"] == no_third
    for query in ("?epoch=0", "?epoch=x", "?epoch=99999999999", "?x=1"):
        response = client.get(f"/api/v1/jobs/{job_id}/checkpoint{query}", headers=alice)
        assert response.status_code == 422, query
    from shared.storage.keys import checkpoint_key

    store.delete_prefix(f"{checkpoint_key(job_id, 2, TEST_LEASE)}/")
    response = client.get(f"/api/v1/jobs/{job_id}/checkpoint", headers=alice)
    assert response.status_code == 404 and "missing from storage" in response.json["error"]


def test_one_lookup_of_a_stored_checkpoint_each_caller_its_status(client, user_token, db_session, store):
    """A checkpoint deleted by retention is missing alike for the download (404), a sample (422)
    and an analysis (404): the same lookup, the same message."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from shared.db.models import Epoch

    job_id, _files = stored_checkpoint(db_session, store)
    db_session.execute(
        update(Epoch).where(Epoch.job_id == job_id, Epoch.epoch == 1).values(pruned_at=datetime.now(UTC))
    )
    db_session.commit()
    alice = {"Authorization": f"Bearer {user_token}"}
    expected = f"job {job_id} has no checkpoint of epoch 1: its retention policy deleted it (epochs with one: 2)"
    download = client.get(f"/api/v1/jobs/{job_id}/checkpoint?epoch=1", headers=alice)
    assert download.status_code == 404 and download.json["error"] == expected
    sample = client.post(f"/api/v1/jobs/{job_id}/samples", json={"length": 10, "epoch": 1}, headers=alice)
    assert sample.status_code == 422 and sample.json["error"] == expected
    assert sample.json["detail"][0]["loc"] == ["epoch"]
    analysis = client.post(f"/api/v1/jobs/{job_id}/analyses", json={"epoch": 1}, headers=alice)
    assert analysis.status_code == 404 and analysis.json["error"] == expected
    best = client.get(f"/api/v1/jobs/{job_id}/checkpoint", headers=alice)
    assert best.status_code == 200 and best.headers["Content-Disposition"].endswith('epoch-0002.zip"')


def test_no_checkpoint_before_the_first_epoch(client, user_token, db_session):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    response = client.get(f"/api/v1/jobs/{job_id}/checkpoint", headers={"Authorization": f"Bearer {user_token}"})
    assert response.status_code == 404 and response.json["error"] == f"job {job_id} has no checkpoint yet"


def test_the_job_page_links_each_epochs_checkpoint(client, user_token, db_session, store):
    job_id, files = stored_checkpoint(db_session, store)
    sign_in(client, user_token)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f'href="/jobs/{job_id}/checkpoints/2.zip" download' in page
    live = client.get(f"/jobs/{job_id}/live").json
    assert [e["checkpoint_url"] for e in live["epochs"]] == [
        f"/jobs/{job_id}/checkpoints/1.zip",
        f"/jobs/{job_id}/checkpoints/2.zip",
    ]
    response = client.get(f"/jobs/{job_id}/checkpoints/2.zip")
    assert response.status_code == 200
    assert unzip(response.get_data()) == {f"job-{job_id}-epoch-0002/{name}": data for name, data in files.items()}
    assert unzip(client.get(f"/jobs/{job_id}/checkpoints/1.zip").get_data()) == {
        f"job-{job_id}-epoch-0001/model.keras": b"older"
    }


def test_pages_offer_only_stored_checkpoints_and_show_pruned_epochs(client, admin_token, db_session, store):
    """An epoch whose checkpoint retention deleted: no zip link, "pruned" in its row and on the
    admin's Checkpoints card, and neither the sample nor the analysis form offers it."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from shared.db.models import Epoch

    job_id, _files = stored_checkpoint(db_session, store, owner="root")
    db_session.execute(
        update(Epoch).where(Epoch.job_id == job_id, Epoch.epoch == 1).values(pruned_at=datetime.now(UTC))
    )
    db_session.commit()
    sign_in(client, admin_token)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f"/jobs/{job_id}/checkpoints/1.zip" not in page and f'href="/jobs/{job_id}/checkpoints/2.zip"' in page
    assert ">pruned</span>" in page
    sample_form = page.split('id="sample-form"')[1].split("</form>")[0]
    assert '<option value="2"' in sample_form and '<option value="1"' not in sample_form
    live = client.get(f"/jobs/{job_id}/live").json
    assert [(e["checkpoint_url"], e["checkpoint_label"]) for e in live["epochs"]] == [
        (None, "pruned"),
        (f"/jobs/{job_id}/checkpoints/2.zip", ""),
    ]
    analyses = client.get(f"/jobs/{job_id}/analyses").get_data(as_text=True)
    assert '<option value="2">' in analyses and '<option value="1">' not in analyses
    admin = client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert ">pruned</span>" in admin.split("<h2>Checkpoints</h2>")[1].split("</table>")[0]
