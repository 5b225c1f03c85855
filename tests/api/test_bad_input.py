"""Bad input: every one is a 4xx with the JSON error shape and a message naming the problem, and
nothing is written for it (no row, no stored object, no queued message)."""

import io
import json
import typing

import pytest

from services.api.schemas.common import ErrorBody
from services.app import JSON_BODY_LIMIT, create_app
from shared.db.models import Corpus, Job, Sample
from shared.engine.config import Hyperparameters


def error(response, status: int, loc: list | None = None) -> dict:
    """Assert the JSON error shape (and, with `loc`, that every detail names that field)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) <= {"error", "detail"} and body["error"]
    ErrorBody.model_validate(body)
    if loc is not None:
        assert body["detail"] and all(e["loc"][: len(loc)] == loc and e["msg"] for e in body["detail"]), body
    return body


@pytest.fixture
def writes(db_session, store, broker):
    """`writes()`: what is stored now: rows, objects, queued messages (compare before and after)."""

    def count() -> dict:
        db_session.expire_all()
        return {
            "corpora": db_session.query(Corpus).count(),
            "jobs": db_session.query(Job).count(),
            "samples": db_session.query(Sample).count(),
            "objects": len(store.list("")),
            "training": broker.llen("training"),
            "sampling": broker.llen("sampling"),
        }

    return count


@pytest.fixture
def trained_job(make_job, record_epochs) -> int:
    return record_epochs(make_job()["id"], [1.1])


# ---- corpus uploads -------------------------------------------------------------------------


UNUSABLE = [
    (b"", "empty"),
    (b"text\x00\x01\x02binary" * 10, "NUL"),
    (b"caf\xe9 latin-1", "UTF-8"),
    (b"aaaaaaaaaa", "distinct"),
    ("ééééé".encode(), "distinct"),
]


def test_unusable_corpus_is_422(upload, writes, subtests):
    for data, why in UNUSABLE:
        with subtests.test(data=data[:20]):
            body = error(upload(data), 422, ["file"])
            assert why in body["error"]
            assert writes() == {"corpora": 0, "jobs": 0, "samples": 0, "objects": 0, "training": 0, "sampling": 0}


BAD_NAMES = [
    "../x",
    "a/b",
    "a\\b",
    "/",
    "nul\x00",
    "tab\there",
    "new\nline",
    "esc\x1b[31m",
    "del\x7f",
    "zero\u200bwidth",
    "no\u00a0break",
    "",
    "   ",
    "x" * 129,
    "\u0958" * 128,
]  # 128 characters, 256 once normalised (NFC)


def test_bad_corpus_names_are_422(upload, writes, corpus_text, subtests):
    for name in BAD_NAMES:
        with subtests.test(name=name[:20]):
            error(upload(corpus_text, name=name), 422, ["name"])
            assert writes()["corpora"] == writes()["objects"] == 0


def test_unicode_names_are_kept_normalised(upload, corpus_text):
    for name, stored in [
        ("Café", "Café"),
        ("Cafe\u0301", "Café"),
        ("日本語のコーパス", "日本語のコーパス"),
        ("  padded  ", "padded"),
        ("..", ".."),
        ("x" * 128, "x" * 128),
    ]:
        response = upload(corpus_text, name=name)
        assert response.status_code == 201 and response.get_json()["name"] == stored


def test_default_name_is_the_normalised_file_name(upload, corpus_text):
    response = upload(corpus_text, filename="dir\\sub/Cafe\u0301\x07.txt")
    assert response.status_code == 201 and response.get_json()["name"] == "Café.txt"


def test_unknown_form_field_is_422(upload, writes, corpus_text):
    body = error(upload(corpus_text, colour="red"), 422, ["colour"])
    assert "unknown field" in body["detail"][0]["msg"]
    assert writes()["corpora"] == writes()["objects"] == 0


def test_upload_without_multipart_is_422(client, user_headers, writes):
    error(client.post("/api/v1/corpora", headers=user_headers, json={"file": "text"}), 422, ["file"])
    error(client.post("/api/v1/corpora", headers=user_headers, data={"file": "not a file part"}), 422, ["file"])
    assert writes()["corpora"] == writes()["objects"] == 0


def test_upload_over_the_limit_is_413(upload, settings, writes):
    body = error(upload(b"ab\n" * (settings.max_upload_bytes // 3 + 1)), 413)
    assert body == {"error": "request body too large"}
    assert writes()["corpora"] == writes()["objects"] == 0


def test_upload_limit_is_not_the_json_limit(settings, clean_db, store, user_headers, corpus_text):
    """Uploads may exceed the JSON body limit up to MAX_UPLOAD_BYTES; JSON bodies may not."""
    app = create_app(settings.model_copy(update={"max_upload_bytes": 2 * JSON_BODY_LIMIT}))
    client = app.test_client()
    data = (corpus_text.encode() * (JSON_BODY_LIMIT // len(corpus_text) + 200))[: JSON_BODY_LIMIT * 3 // 2]
    response = client.post(
        "/api/v1/corpora",
        headers=user_headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "big.txt")},
    )
    assert response.status_code == 201 and response.get_json()["bytes"] == len(data)
    big_json = {"corpus_id": 1, "seed_text": "x" * (JSON_BODY_LIMIT * 3 // 2)}
    assert error(client.post("/api/v1/jobs", headers=user_headers, json=big_json), 413)


# ---- jobs -----------------------------------------------------------------------------------


def _bounds(field) -> list:
    step = 1 if field.annotation in (int, int | None) else 0.001
    values = []
    for m in field.metadata:
        values += [m.ge - step] if hasattr(m, "ge") else []
        values += [m.gt] if hasattr(m, "gt") else []
        values += [m.le + step] if hasattr(m, "le") else []
        values += [m.lt] if hasattr(m, "lt") else []
    return values


def _wrong_types(field) -> list:
    if typing.get_origin(field.annotation) is typing.Literal:
        return ["other", "", field.default.upper(), 1, None, [field.default]]
    if field.annotation is bool:
        return [1, 0, "true", "false", None, [True]]
    if field.annotation is float:
        return ["0.5", True, [0.5], None, {"value": 0.5}]
    nullable = field.annotation == int | None
    return ["10", 10.5, True, [10], {"value": 10}] + ([] if nullable else [None])


@pytest.mark.parametrize("name", list(Hyperparameters.model_fields))
def test_every_bad_hyperparameter_is_422(client, user_headers, make_corpus, writes, small_job, subtests, name):
    """Below the minimum, above the maximum, and of the wrong type (JSON bodies are strict)."""
    field = Hyperparameters.model_fields[name]
    corpus = make_corpus()
    before = writes()
    for value in _bounds(field) + _wrong_types(field):
        with subtests.test(value=value):
            job = {"corpus_id": corpus["id"], **small_job, name: value}
            error(client.post("/api/v1/jobs", headers=user_headers, json=job), 422, [name])
            assert writes() == before


def test_numbers_accept_integers_and_seq_len_accepts_null(client, user_headers, make_corpus, small_job):
    corpus = make_corpus()
    job = {"corpus_id": corpus["id"], **small_job, "dropout": 0, "learning_rate": 1, "clipnorm": 5}
    assert client.post("/api/v1/jobs", headers=user_headers, json=job).status_code == 202
    job = {"corpus_id": corpus["id"], **small_job, "seq_len": None, "batch_size": 1}
    response = client.post("/api/v1/jobs", headers=user_headers, json=job)
    assert response.status_code == 202 and response.get_json()["hyperparameters"]["seq_len"] == 100


def test_integers_may_be_integral_floats(client, user_headers, make_corpus, small_job):
    """JSON Schema's `integer` (the document's type) accepts 75761.0: so does the API."""
    corpus = make_corpus()
    job = {"corpus_id": float(corpus["id"]), **small_job, "units": 8.0, "seed": 75761.0, "seq_len": 10.0}
    response = client.post("/api/v1/jobs", headers=user_headers, json=job)
    assert response.status_code == 202, response.get_json()
    hyperparameters = response.get_json()["hyperparameters"]
    assert hyperparameters["seed"] == 75761 and type(hyperparameters["seed"]) is int and hyperparameters["units"] == 8


def test_bad_corpus_ids(client, user_headers, make_corpus, writes, small_job, subtests):
    make_corpus()
    before = writes()
    for corpus_id, status in [
        (999, 404),
        (2**31, 404),
        (99999999999999999999, 404),
        (0, 422),
        (-1, 422),
        ("1", 422),
        (1.5, 422),
        (999.0, 404),  # an integral float is that integer (JSON Schema integer)
        (True, 422),
        (None, 422),
    ]:
        with subtests.test(corpus_id=corpus_id):
            response = client.post("/api/v1/jobs", headers=user_headers, json={"corpus_id": corpus_id, **small_job})
            error(response, status, None if status == 404 else ["corpus_id"])
            assert writes() == before


def test_other_users_corpus_is_404(client, user_headers, other_headers, make_corpus, writes, small_job):
    corpus = make_corpus(headers=other_headers)
    before = writes()
    body = error(client.post("/api/v1/jobs", headers=user_headers, json={"corpus_id": corpus["id"], **small_job}), 404)
    assert body == {"error": f"corpus {corpus['id']} not found"}
    assert writes() == before


def test_corpus_shorter_than_one_batch_is_422(client, user_headers, make_corpus, writes, small_job):
    corpus = make_corpus(text="abc def\n" * 20)  # 160 characters; 8 rows of 21 are needed
    before = writes()
    job = {"corpus_id": corpus["id"], **small_job, "batch_size": 8, "seq_len": 20}
    body = error(client.post("/api/v1/jobs", headers=user_headers, json=job), 422)
    assert "too short" in body["error"] and "has 160 characters" in body["detail"][0]["msg"]
    assert writes() == before


JOB_AND_SAMPLE_POSTS = ["/api/v1/jobs", "/api/v1/jobs/{job}/samples"]


@pytest.mark.parametrize("path", JOB_AND_SAMPLE_POSTS)
def test_json_body_that_is_not_an_object_is_422(client, user_headers, trained_job, writes, subtests, path):
    before = writes()
    for body in [[], [{"corpus_id": 1}], "text", '{"corpus_id": 1}', 1, 1.5, True, None]:
        with subtests.test(body=body):
            response = client.post(
                path.format(job=trained_job),
                headers=user_headers,
                data=json.dumps(body),
                content_type="application/json",
            )
            assert "must be a JSON object" in error(response, 422, ["body"])["error"]
            assert writes() == before


NOT_JSON = [
    "",
    "{",
    "{'corpus_id': 1}",
    "corpus_id=1",
    "[" * 200_000 + "]" * 200_000,  # nested too deeply
    '{"corpus_id": 1' + "1" * 5000 + "}",
]  # an integer of more digits than Python parses


@pytest.mark.parametrize("path", JOB_AND_SAMPLE_POSTS)
def test_body_that_is_not_json_is_400(client, user_headers, trained_job, writes, subtests, path):
    before = writes()
    for data in NOT_JSON:
        with subtests.test(data=data[:20]):
            response = client.post(
                path.format(job=trained_job), headers=user_headers, data=data, content_type="application/json"
            )
            assert "not valid JSON" in error(response, 400, ["body"])["error"]
            assert writes() == before


@pytest.mark.parametrize("path", JOB_AND_SAMPLE_POSTS)
def test_body_without_json_content_type_is_415(client, user_headers, trained_job, writes, subtests, path):
    before = writes()
    for content_type in [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]:
        with subtests.test(content_type=content_type):
            response = client.post(
                path.format(job=trained_job), headers=user_headers, data='{"corpus_id": 1}', content_type=content_type
            )
            assert "Content-Type: application/json" in error(response, 415)["error"]
            assert writes() == before


@pytest.mark.parametrize("path", JOB_AND_SAMPLE_POSTS)
def test_oversize_json_body_is_413(client, user_headers, trained_job, writes, path):
    before = writes()
    response = client.post(
        path.format(job=trained_job), headers=user_headers, json={"seed_text": "x" * (JSON_BODY_LIMIT + 1)}
    )
    assert error(response, 413) == {"error": "request body too large"}
    assert writes() == before


@pytest.mark.parametrize("path, fields", [("/api/v1/jobs", {"corpus_id": 1}), ("/api/v1/jobs/{job}/samples", {})])
def test_unknown_fields_are_422_naming_them(client, user_headers, trained_job, writes, path, fields):
    before = writes()
    response = client.post(
        path.format(job=trained_job), headers=user_headers, json={**fields, "colour": "red", "Layers": 2}
    )
    body = error(response, 422)
    unknown = [e for e in body["detail"] if e["type"] == "extra_forbidden"]
    assert sorted(e["loc"] for e in unknown) == [["Layers"], ["colour"]] and len(unknown) == len(body["detail"])
    assert all(e["msg"].startswith("unknown field") for e in unknown)
    assert writes() == before


# ---- samples --------------------------------------------------------------------------------


BAD_SAMPLES: dict[str, list] = {
    "length": [0, -1, 1_000_001, 1_000_001.0, "100", 100.5, True, None, [100]],
    "temperature": [[], -1, -0.5, 10.001, 1e308, "0.5", True, None, [0.5, -1], [0.5, "1"], [1.0] * 9, {"t": 1}],
    "top_k": [0, -1, 2.5, "5", True],
    "top_p": [0, 1.5, "0.9", True],
    "precision": ["float16", "INT8", 8, True],
    "epoch": [0, -1, 2**31, "1", 1.5, True],
    "count": [0, 33, 33.0, "2", 2.5, True, None],
    "random_seed": [-1, 2**63, "7", 7.5, False],
    "seed_text": [
        "x" * 10_001,
        "def\x00f",
        "\x1b[31mred",
        "bell\x07",
        "del\x7f",
        "c1\x85",
        "\ud800",
        5,
        ["def"],
        "###",
    ],  # the last: no character of the model's vocabulary, the sampler would have no seed
    "temperatures": [[0.5]],  # unknown: the field is `temperature`
}


@pytest.mark.parametrize("field", list(BAD_SAMPLES))
def test_bad_sample_requests_are_422(client, user_headers, trained_job, writes, subtests, field):
    before = writes()
    for value in BAD_SAMPLES[field]:
        with subtests.test(value=value if not isinstance(value, str) else value[:20]):
            response = client.post(f"/api/v1/jobs/{trained_job}/samples", headers=user_headers, json={field: value})
            error(response, 422, [field])
            assert writes() == before


def test_seed_text_may_hold_tabs_newlines_and_unicode(client, user_headers, trained_job):
    response = client.post(
        f"/api/v1/jobs/{trained_job}/samples",
        headers=user_headers,
        json={"seed_text": "déf f(x):\r\n\treturn x\n", "temperature": [1, 0.5]},
    )
    assert response.status_code == 202 and response.get_json()["temperatures"] == [1.0, 0.5]


# ---- ids, pages, query parameters --------------------------------------------------------------

ID_PATHS = [
    ("GET", "/api/v1/corpora/{id}"),
    ("GET", "/api/v1/jobs/{id}"),
    ("POST", "/api/v1/jobs/{id}/cancel"),
    ("GET", "/api/v1/jobs/{id}/samples"),
    ("POST", "/api/v1/jobs/{id}/samples"),
    ("GET", "/api/v1/samples/{id}"),
    ("GET", "/api/v1/samples/{id}/text"),
    ("POST", "/api/v1/samples/{id}/cancel"),
    ("GET", "/api/v1/jobs/{id}/checkpoint"),
]


BAD_IDS = ["abc", "-1", "0", "1.5", "1e3", "0x1", "%20", "2147483648", "99999999999999999999", "9" * 21, "9" * 5000]


@pytest.mark.parametrize("method, path", ID_PATHS)
def test_ids_that_cannot_exist_are_404(client, user_headers, trained_job, writes, subtests, method, path):
    before = writes()
    for bad_id in BAD_IDS:
        with subtests.test(id=bad_id[:25]):
            error(client.open(path.format(id=bad_id), method=method, headers=user_headers, json={}), 404)
            assert writes() == before


PAGED = ["/api/v1/corpora", "/api/v1/jobs", "/api/v1/jobs/{job}/samples"]


BAD_PAGES = [
    "page=0",
    "page=-1",
    "page=1000001",
    "page=99999999999999999999",
    "page=x",
    "page=",
    "page=1.5",
    "page=true",
    "per_page=0",
    "per_page=101",
    "per_page=ten",
    "per_page=2e1",
    "per_page=null",
]


@pytest.mark.parametrize("path", PAGED)
def test_bad_pages_are_422(client, user_headers, trained_job, subtests, path):
    for query in BAD_PAGES:
        with subtests.test(query=query):
            response = client.get(f"{path.format(job=trained_job)}?{query}", headers=user_headers)
            error(response, 422, [query.split("=")[0]])


def test_unknown_query_parameters_are_422_on_every_endpoint(
    client, user_headers, trained_job, writes, subtests, small_job
):
    before = writes()
    for method, path in [
        ("GET", "/api/v1/corpora"),
        ("POST", "/api/v1/corpora"),
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs"),
        *ID_PATHS,
    ]:
        with subtests.test(method=method, path=path):
            response = client.open(
                path.format(id=trained_job) + "?pages=2",
                method=method,
                headers=user_headers,
                json={"corpus_id": 1, **small_job},
            )
            body = error(response, 422, ["pages"])
            assert body["detail"][0]["msg"].startswith("unknown query parameter")
            assert writes() == before
    assert client.get(f"/api/v1/jobs/{trained_job}", headers=user_headers).get_json()["status"] == "queued"


def test_healthz_ignores_its_query(client):
    assert client.get("/healthz?probe=1").status_code == 200
