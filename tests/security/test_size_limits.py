"""Upload and request sizes are bounded: a corpus over MAX_UPLOAD_BYTES is a 413 that stores
nothing (announced by Content-Length or not); a JSON body over the API's limit is a 413 that
creates nothing."""

import io

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from services.app import JSON_BODY_LIMIT
from shared.db.models import Corpus, Job, Sample

CHUNKED = {"Transfer-Encoding": "chunked"}  # Werkzeug then ignores Content-Length: the size is unknown


def line_text(size: int) -> bytes:
    return (b"print('hello, world')\n" * (size // 22 + 1))[:size]


def stored_files(store) -> list[str]:
    """Every file under the store's root, temporary ones included."""
    return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())


def rows(db_session, model) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


def upload(client, headers, data: bytes, chunked: bool = False):
    if not chunked:
        return client.post(
            "/api/v1/corpora",
            headers=headers,
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), "big.txt")},
        )
    # no Content-Length: the body is streamed (as gunicorn passes a chunked request on)
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), filename="big.txt")})
    return client.post(
        "/api/v1/corpora",
        headers={**headers, **CHUNKED},
        input_stream=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("extra", [1, 200_000], ids=["one-byte-over", "far-over"])
def test_an_upload_over_the_limit_is_413_and_stores_nothing(client, world, store, db_session, settings, chunked, extra):
    limit = settings.max_upload_bytes
    before_files, before_rows = stored_files(store), rows(db_session, Corpus)
    response = upload(client, world.alice, line_text(limit + extra), chunked)
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]
    assert stored_files(store) == before_files and rows(db_session, Corpus) == before_rows
    # exactly at the limit is fine (the bound is the setting, not something smaller)
    assert upload(client, world.alice, line_text(limit), chunked).status_code == 201


HP = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 2, "epochs": 1}


def json_posts(world, pad: str):
    """(path, body) of the two JSON endpoints, each padded with whitespace (valid JSON) by `pad`."""
    return [
        ("/api/v1/jobs", f'{{"corpus_id": {world.corpus}, "layers": 1{pad}}}'),
        (f"/api/v1/jobs/{world.job}/samples", f'{{"length": 10{pad}}}'),
    ]


def test_a_json_body_over_the_limit_is_413_and_creates_nothing(client, world, db_session, broker):
    before = rows(db_session, Job), rows(db_session, Sample)
    for path, body in json_posts(world, " " * (JSON_BODY_LIMIT + 1)):
        response = client.post(path, headers=world.alice, content_type="application/json", data=body)
        assert response.status_code == 413, (path, response.status_code, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"]
    assert (rows(db_session, Job), rows(db_session, Sample)) == before
    # the same requests, small, are accepted (what refused them above was the size alone)
    assert client.post("/api/v1/jobs", headers=world.alice, json={"corpus_id": world.corpus, **HP}).status_code == 202
    assert client.post(f"/api/v1/jobs/{world.job}/samples", headers=world.alice, json={"length": 10}).status_code == 202


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.served = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.served += len(chunk)
        return chunk

    def readinto(self, buffer):
        n = super().readinto(buffer)
        self.served += n
        return n


def post_chunked(client, path, headers, body: bytes):
    stream = CountingStream(body)
    response = client.post(
        path,
        headers={**headers, **CHUNKED},
        input_stream=stream,
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )
    return response, stream.served


def test_a_chunked_json_body_is_never_read_past_the_limit(client, world, broker):
    for path, body in json_posts(world, " " * (3 * JSON_BODY_LIMIT)):
        response, served = post_chunked(client, path, world.alice, body.encode())
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert served <= JSON_BODY_LIMIT + 64 * 1024, (path, served)


def test_a_chunked_json_body_over_the_limit_is_413_and_creates_nothing(client, world, db_session, broker):
    before = rows(db_session, Job), rows(db_session, Sample)
    pad = " " * (JSON_BODY_LIMIT + 1)
    bodies = json_posts(world, pad) + [(path, body.replace(pad, "") + pad) for path, body in json_posts(world, pad)]
    statuses = [post_chunked(client, path, world.alice, body.encode())[0].status_code for path, body in bodies]
    assert statuses == [413] * 4, statuses
    assert (rows(db_session, Job), rows(db_session, Sample)) == before


def test_admin_forms_are_bounded_too(client, world):
    response = client.post("/admin/login", data={"token": "x" * (JSON_BODY_LIMIT + 1)})
    assert response.status_code == 413
