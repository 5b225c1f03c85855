"""Attack: whole-table reads per poll. What one user's polling makes the service read is bounded:
a job's live-loss curve is thinned in the database (rows fetched, not rows recorded), a sweep's
comparison obeys the compare job cap, the comparison page's polls share one computation per
version, and the side-by-side samples page reads a bounded number of bytes of each sample.

Figures (before -> after, on PostgreSQL and the local store): rows fetched for a live curve of
5,000 recorded points thinned to 100: 5,001 -> 100; comparisons computed by three live polls and
one chart + table fetch: 5 -> 1; `compare?sweep=` of a sweep over the cap: 200 -> 422; bytes
read from storage by the side-by-side page of three samples of 1.9 MB zips: 5.8 MB (every zip
whole) -> 3.1 MB (1 MiB of each, the first texts shown)."""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from sqlalchemy import create_engine, event, insert
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Base, BatchLoss, Sample, User
from tests.browser.browser_helpers import WORKER, make_corpus, record_epoch, running_job, user_id
from tests.web.pages.sample_helpers import finished_sample
from tests.web.pages.test_pages import sign_in

RECORDED = 5_000


def add_points(session, job_id: int, n: int = RECORDED) -> None:
    rows = [
        {"job_id": job_id, "epoch": 1 + i // 1000, "batch": i % 1000 + 1, "batches": 1000, "loss": 3.0}
        for i in range(n)
    ]
    session.execute(insert(BatchLoss), rows)
    session.commit()


def check_thinned(points: list[tuple[float, float]], most: int) -> None:
    assert len(points) == most
    assert points[0][0] == pytest.approx(0.001) and points[-1][0] == pytest.approx(RECORDED / 1000)
    gaps = [b[0] - a[0] for a, b in zip(points, points[1:], strict=False)]
    assert max(gaps) < 2 * min(gaps)  # evenly spaced


def test_a_live_curve_is_thinned_in_the_database_on_postgresql(db_session, user_token):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    add_points(db_session, job_id)
    assert lifecycle.record_batch_loss(db_session, job_id, 1, 1, 1000, 2.5, worker=WORKER)  # recorded again
    db_session.commit()
    fetched: list[int] = []

    def count(_conn, cursor, statement, *_args) -> None:
        fetched.append(cursor.rowcount)  # psycopg: the rows of a SELECT's result

    engine = db_session.get_bind()
    event.listen(engine, "after_cursor_execute", count)
    try:
        points = lifecycle.batch_losses(db_session, job_id, max_points=100)
    finally:
        event.remove(engine, "after_cursor_execute", count)
    check_thinned(points, 100)
    assert points[0][1] == 2.5  # the latest value of a point recorded twice
    print(f"live curve: {RECORDED} rows recorded, {max(fetched)} fetched for 100 points")
    assert max(fetched) <= 100, fetched  # every row was fetched, then thinned in Python, before


def test_a_live_curve_is_thinned_in_the_database_on_sqlite(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'live.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        user = User(name="alice")
        session.add(user)
        session.commit()
        job_id = running_job(session, user.id)
        add_points(session, job_id)
        check_thinned(lifecycle.batch_losses(session, job_id, max_points=100), 100)
        assert len(lifecycle.batch_losses(session, job_id, max_points=RECORDED)) == RECORDED


def test_a_sweeps_comparison_obeys_the_job_cap(client, user_headers, db_session, monkeypatch):
    from shared.actions import compare

    corpus = make_corpus(db_session, user_id(db_session, "alice"))
    db_session.commit()
    base = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 10, "epochs": 3}
    body = {"corpus_id": corpus.id, "base": base, "grid": {"seed": [0, 1, 2]}}
    sweep = client.post("/api/v1/sweeps", headers=user_headers, json=body).get_json()
    assert client.get(f"/api/v1/compare?sweep={sweep['id']}", headers=user_headers).status_code == 200
    monkeypatch.setattr(compare, "MAX_JOBS", 2)
    response = client.get(f"/api/v1/compare?sweep={sweep['id']}", headers=user_headers)
    assert response.status_code == 422 and response.get_json()["detail"][0]["loc"] == ["sweep"], response.get_json()
    ids = ",".join(str(j["id"]) for j in sweep["jobs"])
    assert client.get(f"/api/v1/compare?jobs={ids}", headers=user_headers).status_code == 422  # the same cap


def test_the_comparison_pages_polls_compute_it_once_per_version(client, user_token, db_session, monkeypatch):
    from services.web.pages import compare as page

    computed: list[int] = []
    real = page.comparison

    def counted(jobs, smoothing):
        computed.append(len(jobs))
        return real(jobs, smoothing)

    monkeypatch.setattr(page, "comparison", counted)
    owner = user_id(db_session, "alice")
    first, second = running_job(db_session, owner, epochs=2), running_job(db_session, owner, epochs=2)
    record_epoch(db_session, first, 1, 2.0, 2.1)
    sign_in(client, user_token)
    query = f"jobs={first},{second}&smoothing=0.25"
    polls = [client.get(f"/compare/live?{query}").get_json() for _ in range(3)]
    assert len({p["version"] for p in polls}) == 1 and polls[0]["live"] is True
    chart = client.get(f"/compare/chart.svg?{query}")
    table = client.get(f"/compare/table?{query}")
    assert chart.status_code == table.status_code == 200 and "<svg" in chart.get_data(as_text=True)
    print(f"comparisons computed by 3 live polls and a chart + table fetch: {len(computed)}")
    assert len(computed) == 1  # each of the five requests computed it before
    assert lifecycle.record_batch_loss(db_session, second, 1, 3, 10, 2.4, worker=WORKER)
    db_session.commit()
    moved = client.get(f"/compare/live?{query}").get_json()["version"]
    assert moved != polls[0]["version"]
    assert 'class="series live"' in client.get(f"/compare/chart.svg?{query}").get_data(as_text=True)
    client.get(f"/compare/table?{query}")
    assert len(computed) == 2  # the new version: computed once more


def big_zip(names: list[str], chars: int) -> bytes:
    rng = random.Random(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, "".join(rng.choices("abcdefghijklmnopqrstuvwxyz \n", k=chars)))
    return buffer.getvalue()


def test_the_side_by_side_samples_page_reads_a_bounded_amount(client, user_token, db_session, store, monkeypatch):
    from services.web.pages import sample_views

    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    sizes = []
    for _ in range(3):
        sample_id = finished_sample(db_session, store, job_id, [0.25, 0.5, 1.0])
        key = db_session.get(Sample, sample_id).object_key
        names = [q["name"] for q in db_session.get(Sample, sample_id).quality]
        data = big_zip(names, 1_000_000)  # three texts of a million characters each
        store.put_bytes(key, data)
        sizes.append(len(data))
    read = [0]
    kind = type(store)  # the app's store is another instance of the same class
    real_open = kind.open

    class Counted:
        def __init__(self, reader):
            self.reader = reader

        def read(self, n: int = -1) -> bytes:
            data = self.reader.read(n)
            read[0] += len(data)
            return data

        def close(self) -> None:
            self.reader.close()

    monkeypatch.setattr(kind, "open", lambda self, key: Counted(real_open(self, key)))
    sign_in(client, user_token)
    page = client.get(f"/jobs/{job_id}/samples/compare").get_data(as_text=True)
    assert page.count("data-temperature=") >= 3  # the texts are still shown
    print(f"side by side: {read[0] / 1e6:.1f} MB read of {sum(sizes) / 1e6:.1f} MB stored")
    assert read[0] <= 3 * sample_views.COMPARE_SAMPLE_BYTES < sum(sizes)
