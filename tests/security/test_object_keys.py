"""Object-store keys never come from user-supplied strings: corpora get `corpora/<uuid4 hex>.txt`
whatever the file is called, samples `samples/<id>.txt|zip`, checkpoints `jobs/<id>/epoch-NNNN`;
an object already in the store is never overwritten by an upload; the store itself refuses keys
that could leave its root."""

import io
import re

import pytest
from sqlalchemy import select

from shared.db.models import Corpus, Sample
from shared.storage import StorageError

TEXT = "def f(x):\n    return x * 2\n" * 20
KEY_RE = re.compile(r"corpora/[0-9a-f]{32}\.txt")
PLANTED = {
    "jobs/1/epoch-0001/model.keras": b"the real checkpoint",
    "samples/1.txt": b"the real sample",
    "etc/passwd": b"root:x:0:0",
}
EVIL_NAMES = [
    "../../etc/passwd",
    "jobs/1/epoch-0001/model.keras",
    "/samples/1.txt",
    "a/b/c.txt",
    "..",
    "C:\\jobs\\1\\epoch-0001\\model.keras",
    "%2e%2e%2fetc%2fpasswd",
    "корпус ✓ ﬁ.txt",
    "x\u202e.txt",
]


def upload(client, headers, filename, **fields):
    return client.post(
        "/api/v1/corpora",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(TEXT.encode()), filename), **fields},
    )


def test_uploads_get_server_made_keys_and_overwrite_nothing(client, world, store, db_session, settings):
    for key, data in PLANTED.items():
        store.put_bytes(key, data)
    before = set(store.list(""))
    for name in EVIL_NAMES:
        response = upload(client, world.alice, name)  # as the file's name: only a label
        assert response.status_code == 201, (name, response.get_json())
        assert "/" not in response.get_json()["name"] and "\\" not in response.get_json()["name"]
    for name in ["корпус ✓", "résumé ﬁle", "../../etc/passwd", "jobs/1/epoch-0001/model.keras", "a\\b"]:
        response = upload(client, world.alice, "corpus.txt", name=name)  # as the name field
        assert response.status_code in (201, 422), (name, response.get_json())
        if response.status_code == 201:
            assert response.get_json()["name"] == name
    keys = set(db_session.scalars(select(Corpus.object_key).where(Corpus.id != world.corpus)))
    assert len(keys) == len(EVIL_NAMES) + 2 and all(KEY_RE.fullmatch(k) for k in keys), keys
    assert set(store.list("")) == before | keys  # nothing else was written ...
    for key, data in PLANTED.items():  # ... and nothing was overwritten
        assert store.get_bytes(key) == data
    planted = {store.root.joinpath(*key.split("/")) for key in PLANTED}
    names = {"passwd", "model.keras", "1.txt"}
    lookalikes = {p for p in settings.var_dir.rglob("*") if p.is_file() and p.name in names}
    assert lookalikes == planted


def test_refused_uploads_store_nothing(client, world, store):
    for name in ["../../etc/passwd", "jobs/1/epoch-0001/model.keras", "a\\b"]:
        assert upload(client, world.alice, "corpus.txt", name=name).status_code == 422
    assert store.list("") == ["jobs/1/epoch-0001/model.keras", "samples/1.txt"]  # the world's objects only


def test_sample_keys_come_from_the_record_not_the_request(client, world, db_session):
    body = {"length": 10, "temperature": 0.5}
    for extra in ({"checkpoint_key": "../../etc"}, {"object_key": "jobs/1/epoch-0001/model.keras"}):
        response = client.post(f"/api/v1/jobs/{world.job}/samples", headers=world.alice, json={**body, **extra})
        assert response.status_code == 422
    response = client.post(
        f"/api/v1/jobs/{world.job}/samples",
        headers=world.alice,
        json={**body, "seed_text": "../../jobs/1/epoch-0001/model.keras"},
    )
    assert response.status_code == 202, response.get_json()
    sample = db_session.get(Sample, response.get_json()["id"])
    assert sample.checkpoint_key == "jobs/1/epoch-0001" and sample.object_key is None
    response = client.post("/api/v1/jobs", headers=world.alice, json={"corpus_id": world.corpus, "object_key": "x"})
    assert response.status_code == 422


def test_worker_keys_are_built_from_ids_only(store):
    from shared.engine.inference.sample import sample_names
    from workers.sampling import store_texts
    from workers.training import checkpoint_key

    assert checkpoint_key(7, 3, "a1b2") == "jobs/7/a1b2/epoch-0003"
    assert store_texts(store, 42, ["one"], ["../../etc/passwd"], "a1b2") == ("samples/42-a1b2.txt", 3)
    names = sample_names([0.5, 1.25], 2)
    key, size = store_texts(store, 43, ["a", "b", "c", "d"], names, "a1b2")
    assert key == "samples/43-a1b2.zip" and size == store.size(key)
    assert all(re.fullmatch(r"[\w.\-]+", n) for n in names), names
    assert sorted(store.list("")) == ["samples/42-a1b2.txt", "samples/43-a1b2.zip"]


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "кор", "a\\b", "a b", ""])
def test_the_store_refuses_keys_that_are_not_plain_relative_paths(store, key):
    with pytest.raises(StorageError):
        store.put_bytes(key, b"x")
    assert store.list("") == []
