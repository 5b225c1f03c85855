"""Lineage, labels and deletion through the API (no worker): names, notes and tags with their filters; continue and
fork (the child's hyperparameters, link and history; architectural changes refused); deleting
jobs and corpora (refused while in use or running, with its objects)."""

from shared import lifecycle
from shared.db.models import Analysis, Corpus, Job, WorkStatus
from shared.storage.keys import corpus_index_key, legacy_analysis_key
from tests.api.conftest import SMALL_JOB


def test_labels_on_create_patch_and_the_tag_and_status_filters(client, user_headers, make_corpus, small_job):
    corpus = make_corpus()
    made = client.post(
        "/api/v1/jobs",
        headers=user_headers,
        json={"corpus_id": corpus["id"], **small_job, "name": "baseline", "tags": ["paper", "paper", "rms"]},
    )
    assert made.status_code == 202, made.get_json()
    job = made.get_json()
    assert (job["name"], job["tags"], job["notes"]) == ("baseline", ["paper", "rms"], None)
    other = client.post("/api/v1/jobs", headers=user_headers, json={"corpus_id": corpus["id"], **small_job}).get_json()

    patched = client.patch(f"/api/v1/jobs/{other['id']}", headers=user_headers, json={"tags": ["adam"], "notes": "lr?"})
    assert (
        patched.status_code == 200 and patched.get_json()["tags"] == ["adam"] and patched.get_json()["notes"] == "lr?"
    )
    ids = lambda query: [j["id"] for j in client.get(f"/api/v1/jobs?{query}", headers=user_headers).get_json()["items"]]  # noqa: E731
    assert ids("tag=paper") == [job["id"]] and ids("tag=adam") == [other["id"]] and ids("tag=pap") == []
    assert ids("tag=paper&status=queued") == [job["id"]] and ids("tag=paper&status=running") == []
    assert (
        client.patch(f"/api/v1/jobs/{job['id']}", headers=user_headers, json={"tags": ["Bad Tag"]}).status_code == 422
    )
    assert client.patch(f"/api/v1/jobs/{job['id']}", headers=user_headers, json={"colour": "red"}).status_code == 422

    renamed = client.patch(
        f"/api/v1/corpora/{corpus['id']}", headers=user_headers, json={"name": "stdlib", "tags": ["python"]}
    )
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "stdlib"
    corpora = client.get("/api/v1/corpora?tag=python", headers=user_headers).get_json()["items"]
    assert [c["id"] for c in corpora] == [corpus["id"]]
    assert client.patch(f"/api/v1/corpora/{corpus['id']}", headers=user_headers, json={"name": None}).status_code == 422


def test_continue_and_fork_link_to_the_parent_and_keep_its_history(
    client, user_headers, make_job, record_epochs, db_session
):
    parent = make_job(epochs=3, tags=["t"])
    assert (
        client.post(f"/api/v1/jobs/{parent['id']}/continue", headers=user_headers, json={"epochs": 2}).status_code
        == 409
    )
    client.post(f"/api/v1/jobs/{parent['id']}/cancel", headers=user_headers)
    record_epochs(parent["id"], [2.0, 1.5])

    made = client.post(f"/api/v1/jobs/{parent['id']}/continue", headers=user_headers, json={"epochs": 4})
    assert made.status_code == 202, made.get_json()
    child = made.get_json()
    assert child["hyperparameters"]["epochs"] == 2 + 4 and child["tags"] == ["t"]
    assert child["lineage"] == {"parent_id": parent["id"], "parent_epoch": 2, "children": []}
    assert [e["epoch"] for e in child["history"]] == [1, 2] and child["best_val_loss"] == 1.5
    assert client.get(f"/api/v1/jobs/{parent['id']}", headers=user_headers).get_json()["lineage"]["children"] == [
        child["id"]
    ]
    work = lifecycle.claim_job(db_session, child["id"], "w1")
    assert (work.resume_epoch, work.resume_key, work.parent_epoch) == (2, f"jobs/{parent['id']}/epoch-0002", 2)
    db_session.rollback()

    forked = client.post(
        f"/api/v1/jobs/{parent['id']}/fork", headers=user_headers, json={"learning_rate": 0.01, "optimizer": "adam"}
    )
    assert forked.status_code == 202, forked.get_json()
    hp = forked.get_json()["hyperparameters"]
    assert (hp["learning_rate"], hp["optimizer"], hp["epochs"]) == (0.01, "adam", 3)  # the parent's epoch left

    refused = client.post(f"/api/v1/jobs/{parent['id']}/fork", headers=user_headers, json={"layers": 2, "units": 4})
    assert refused.status_code == 422
    assert [d["loc"] for d in refused.get_json()["detail"]] == [["layers"], ["units"]]
    assert "architectural" in refused.get_json()["error"]
    assert db_session.get(Job, parent["id"]) is not None


def test_a_continued_job_counts_only_the_epochs_it_trains_against_the_epochs_quota(
    client, user_headers, make_job, record_epochs, db_session
):
    from shared.db.models import User

    parent = make_job(epochs=3)
    client.post(f"/api/v1/jobs/{parent['id']}/cancel", headers=user_headers)
    record_epochs(parent["id"], [2.0, 1.8, 1.5])  # the parent trained 3 epochs: the limit
    for user in db_session.query(User):
        user.quotas = {"max_epochs": 3}
    db_session.commit()

    made = client.post(f"/api/v1/jobs/{parent['id']}/continue", headers=user_headers, json={"epochs": 3})
    assert made.status_code == 202, made.get_json()  # 3 to train, though it ends at epoch 6
    assert made.get_json()["hyperparameters"]["epochs"] == 6
    refused = client.post(f"/api/v1/jobs/{parent['id']}/continue", headers=user_headers, json={"epochs": 4})
    assert refused.status_code == 429, refused.get_json()
    (detail,) = refused.get_json()["detail"]
    assert (detail["quota"], detail["current"], detail["limit"]) == ("max_epochs", 4, 3)
    forked = client.post(f"/api/v1/jobs/{parent['id']}/fork", headers=user_headers, json={"optimizer": "adam"})
    assert forked.status_code == 202, forked.get_json()  # 1 epoch to train (none left: at least 1)
    fresh = {"corpus_id": parent["corpus_id"], **SMALL_JOB, "epochs": 4}
    assert client.post("/api/v1/jobs", headers=user_headers, json=fresh).status_code == 429  # a new job: all 4


def test_delete_refuses_active_jobs_and_used_corpora_and_removes_objects(
    client, user_headers, make_job, record_epochs, store, db_session
):
    job = make_job()
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=user_headers).status_code == 409  # queued
    corpus_id = job["corpus_id"]
    assert client.delete(f"/api/v1/corpora/{corpus_id}", headers=user_headers).status_code == 409

    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=user_headers)
    record_epochs(job["id"], [2.0, 1.5])
    for epoch in (1, 2):
        store.put_bytes(f"jobs/{job['id']}/epoch-{epoch:04d}/model.keras", b"weights")
    corpus = db_session.get(Corpus, corpus_id)
    for lowercase in (False, True):  # the novelty indexes sampling workers build next to the corpus
        store.put_bytes(corpus_index_key(corpus.object_key, lowercase), b"index")
    analysis = Analysis(owner_id=corpus.owner_id, job_id=job["id"], epoch=2, checkpoint_key="k", text="x")
    analysis.status = WorkStatus.failed  # finished: its result object is deleted with the job
    db_session.add(analysis)
    db_session.commit()
    analysis_id = analysis.id
    store.put_bytes(legacy_analysis_key(analysis_id), b"{}")  # written before leases: still deleted
    child = client.post(f"/api/v1/jobs/{job['id']}/continue", headers=user_headers, json={"epochs": 1}).get_json()
    refused = client.delete(f"/api/v1/jobs/{job['id']}", headers=user_headers)
    assert refused.status_code == 409 and str(child["id"]) in refused.get_json()["error"]

    deleted = client.delete(f"/api/v1/corpora/{corpus_id}?with_jobs=true", headers=user_headers)
    assert deleted.status_code == 200 and deleted.get_json() == {"status": "deleted"}
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=user_headers).status_code == 404
    assert client.get(f"/api/v1/jobs/{child['id']}", headers=user_headers).status_code == 404
    assert client.get(f"/api/v1/corpora/{corpus_id}", headers=user_headers).status_code == 404
    assert store.list(f"jobs/{job['id']}/") == [] and store.list("corpora/") == [] and store.list("analyses/") == []
    db_session.expire_all()
    assert db_session.get(Analysis, analysis_id) is None

    queued = make_job()
    assert client.delete(f"/api/v1/jobs/{queued['id']}?cancel=true", headers=user_headers).status_code == 200
    assert client.get(f"/api/v1/jobs/{queued['id']}", headers=user_headers).status_code == 404
