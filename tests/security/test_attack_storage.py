"""Attack: one signed-in user uploads corpora in a loop to fill the object store (each corpus also
gets a novelty index of about 5 bytes per character once sampled). The uploads stop at the user's
storage quota with a 429 naming `max_storage_bytes` and the use, and the number of corpora stops at
`max_corpora`; refused uploads leave nothing in the store. The API through the Flask test client on
PostgreSQL and the app's object store (quota checks need no server process).

Figures (20 uploads of 90,000 bytes, a limit of 2,000,000 bytes: each corpus counts 540,000 with
its index): without the quota every upload was 201, 20 corpora and 1,800,000 bytes in the store
(10.8 MB counted with their indexes); with it, 3 uploads are 201 and 17 are 429, 3 corpora and
270,000 bytes stored. With `max_corpora` 4, 10 small uploads: 10 corpora without the quota, 4 with."""

from sqlalchemy import func, select

from shared.db.models import Corpus, User
from shared.lifecycle.quotas import storage_use
from tests.security.test_size_limits import line_text, upload

UPLOADS, UPLOAD_BYTES, LIMIT = 20, 90_000, 2_000_000


def set_quotas(db_session, name: str, quotas: dict) -> User:
    user = db_session.scalar(select(User).where(User.name == name))
    user.quotas = quotas
    db_session.commit()
    return user


def stored_bytes(store) -> int:
    return sum(store.size(key) for key in store.list("corpora/"))


def test_uploads_in_a_loop_stop_at_the_storage_quota(client, db_session, store, user_headers, other_headers):
    alice = set_quotas(db_session, "alice", {"max_storage_bytes": LIMIT})
    statuses, bodies = [], []
    for _ in range(UPLOADS):
        response = upload(client, user_headers, line_text(UPLOAD_BYTES))
        statuses.append(response.status_code)
        bodies.append(response.get_json())
    accepted = statuses.count(201)
    print(f"\n{UPLOADS} uploads of {UPLOAD_BYTES:,} bytes: {accepted} accepted, {stored_bytes(store):,} bytes stored")
    assert statuses == [201] * 3 + [429] * (UPLOADS - 3)
    refused = bodies[3]
    assert refused["detail"][0]["quota"] == "max_storage_bytes" and refused["detail"][0]["limit"] == LIMIT
    assert refused["error"] == (
        "quota exceeded: 2,160,000 bytes stored with this upload of 540,000 (the limit is 2,000,000)"
    )
    db_session.expire_all()
    assert db_session.scalar(select(func.count(Corpus.id))) == 3
    assert stored_bytes(store) == 3 * UPLOAD_BYTES  # nothing of the refused uploads is kept
    assert storage_use(db_session, alice.id).total == 3 * 540_000 <= LIMIT
    assert upload(client, other_headers, line_text(UPLOAD_BYTES)).status_code == 201  # others unaffected


def test_the_number_of_corpora_stops_at_its_limit(client, db_session, store, user_headers):
    set_quotas(db_session, "alice", {"max_corpora": 4})
    statuses = [upload(client, user_headers, line_text(1000)).status_code for _ in range(10)]
    print(f"\n10 uploads at max_corpora 4: {statuses.count(201)} corpora")
    assert statuses == [201] * 4 + [429] * 6
    body = upload(client, user_headers, line_text(1000)).get_json()
    assert body["error"] == "quota exceeded: 4 corpora (the limit is 4)" and body["detail"][0]["quota"] == "max_corpora"
    assert len(store.list("corpora/")) == 4
