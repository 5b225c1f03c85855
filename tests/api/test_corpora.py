"""Uploading corpora: streamed to storage, decoded strictly, size-limited; listing and reading."""

import hashlib

import pytest

from shared.db.models import Corpus


def test_upload_computes_stats(upload, store):
    data = "Café naïve — “quoted” text.\nSecond line: café.\n"
    response = upload(data, filename="notes.txt")
    assert response.status_code == 201
    corpus = response.get_json()
    raw = data.encode("utf-8")
    assert corpus["name"] == "notes.txt"
    assert corpus["bytes"] == len(raw)
    assert corpus["sha256"] == hashlib.sha256(raw).hexdigest()
    assert corpus["raw_chars"] == len(data)
    assert corpus["raw_unique"] == len(set(data))
    assert corpus["raw_unique"] > corpus["clean_unique"]
    assert corpus["clean_unique"] == len(corpus["vocabulary"])
    assert all(ord(ch) < 128 for ch in corpus["vocabulary"])
    assert "object_key" not in corpus
    assert store.list("corpora/") and store.get_bytes(store.list("corpora/")[0]) == raw


def test_get_and_list_corpora(client, user_headers, other_headers, make_corpus):
    first = make_corpus(name="first")
    second = make_corpus(name="second")
    make_corpus(headers=other_headers, name="bob's")
    assert client.get(f"/api/v1/corpora/{first['id']}", headers=user_headers).get_json() == first
    page = client.get("/api/v1/corpora?page=1&per_page=1", headers=user_headers).get_json()
    assert page["total"] == 2 and page["per_page"] == 1 and page["items"] == [second]
    page = client.get("/api/v1/corpora?page=2&per_page=1", headers=user_headers).get_json()
    assert page["items"] == [first]


def test_other_users_corpus_is_404_admin_sees_it(client, other_headers, admin_headers, make_corpus):
    corpus = make_corpus()
    response = client.get(f"/api/v1/corpora/{corpus['id']}", headers=other_headers)
    assert response.status_code == 404 and response.get_json() == {"error": f"corpus {corpus['id']} not found"}
    assert client.get(f"/api/v1/corpora/{corpus['id']}", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/corpora", headers=admin_headers).get_json()["total"] == 1


@pytest.mark.parametrize("query", ["per_page=0", "per_page=101", "page=0", "page=x"])
def test_bad_pagination_is_422(client, user_headers, query):
    response = client.get(f"/api/v1/corpora?{query}", headers=user_headers)
    assert response.status_code == 422
    assert response.get_json()["detail"][0]["loc"] == [query.split("=")[0]]


@pytest.mark.parametrize("name", ["", "a/b", "a\\b", "tab\there", "x" * 129, "new\nline"])
def test_bad_names_are_422(upload, corpus_text, store, name):
    response = upload(corpus_text, name=name)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["detail"][0]["loc"] == ["name"]
    assert store.list("corpora/") == []


def test_numeric_name_stays_text(upload, corpus_text):
    response = upload(corpus_text, name="123")
    assert response.status_code == 201 and response.get_json()["name"] == "123"


def test_file_name_is_only_a_label(upload, corpus_text, store):
    response = upload(corpus_text, filename="../../etc/passwd")
    assert response.status_code == 201 and response.get_json()["name"] == "passwd"
    [key] = store.list("")
    assert key.startswith("corpora/") and key.endswith(".txt") and "passwd" not in key


def test_missing_file_is_422(client, user_headers):
    response = client.post("/api/v1/corpora", headers=user_headers, data={"name": "x"})
    assert response.status_code == 422
    assert [e["loc"] for e in response.get_json()["detail"]] == [["file"]]


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe not utf-8 \xc3\x28", b"", b"\x00\x01\x02\x03binary\x00\x00" * 10, b"aaaaaaaaaa"],
    ids=["invalid-utf8", "empty", "binary", "one-character"],
)
def test_unusable_uploads_are_422_and_store_nothing(upload, store, db_session, data):
    response = upload(data)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] and body["detail"][0]["loc"] == ["file"]
    assert store.list("") == []
    assert db_session.query(Corpus).count() == 0


@pytest.mark.parametrize("times_limit", [1, 3])
def test_oversize_upload_is_413(upload, settings, store, db_session, times_limit):
    size = times_limit * settings.max_upload_bytes + 1  # the first passes the request size check
    response = upload(b"a b\n" * (size // 4 + 1))
    assert response.status_code == 413
    assert response.get_json() == {"error": "request body too large"}
    assert store.list("") == []
    assert db_session.query(Corpus).count() == 0


def test_upload_at_the_limit_is_accepted(upload, settings):
    limit = settings.max_upload_bytes
    response = upload((b"ab\n" * limit)[:limit])
    assert response.status_code == 201 and response.get_json()["bytes"] == limit
