"""One user can neither read nor infer another user's corpora, jobs or samples. For every API
route taking an id (enumerated from app.url_map), bob asking for alice's id gets exactly the
answer (status, headers, body; the id he sent masked) he gets for an id that exists nowhere, and
nothing changes; lists never show alice's rows to bob. Admins and alice do see them (so the ids
are real)."""

import re

from sqlalchemy import func, select

from shared.db.models import Job, Sample
from tests.security.security_helpers import masked

ID_RE = re.compile(r"<int:(\w+)>")
BODIES = {  # valid: the lookup is reached
    "samples.create_sample": {"length": 10, "temperature": 0.5},
    "lineage.continue_job": {"epochs": 1},
}
QUERIES = {"analyses.next_char": {"prompt": "abc"}}
FINISHED_409 = {"samples.cancel_sample", "analyses.get_analysis_result"}  # the world's are finished / not yet


def id_routes(app):
    routes = [
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and ID_RE.search(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    assert len(routes) >= 7
    return routes


def url(path: str, ids: dict) -> str:
    return ID_RE.sub(lambda m: str(ids[m.group(1)]), path)


def counts(db_session):
    db_session.expire_all()
    jobs = db_session.execute(select(Job.id, Job.status, Job.cancel_requested).order_by(Job.id)).all()
    return jobs, db_session.scalar(select(func.count()).select_from(Sample))


def test_another_users_ids_answer_like_ids_that_do_not_exist(app, client, world, db_session):
    alice_ids = {"corpus_id": world.corpus, "job_id": world.job, "sample_id": world.sample}
    alice_ids["analysis_id"] = world.analysis
    alice_ids["sweep_id"] = world.sweep
    before = counts(db_session)
    for endpoint, method, path in id_routes(app):
        names = ID_RE.findall(path)
        assert set(names) <= set(alice_ids), f"{path}: an id this test does not know; add it to `world`"
        body = BODIES.get(endpoint, {}) if method != "GET" else None
        query = QUERIES.get(endpoint)
        theirs = client.open(url(path, alice_ids), method=method, headers=world.bob, json=body, query_string=query)
        missing = client.open(url(path, world.missing), method=method, headers=world.bob, json=body, query_string=query)
        assert theirs.status_code == 404, (endpoint, method, theirs.status_code)
        assert masked(theirs, alice_ids[names[-1]]) == masked(missing, world.missing[names[-1]]), (endpoint, method)
        assert b"secret sample" not in theirs.data
    assert counts(db_session) == before  # bob cancelled nothing, asked for no sample
    for endpoint, method, path in id_routes(app):  # the ids are real: their owner and admins get them
        if endpoint.startswith("deletion."):
            continue  # it would delete the world; tests/api/test_lineage.py deletes as the owner
        for who in (world.root, world.alice):
            body = BODIES.get(endpoint, {}) if method != "GET" else None
            query = QUERIES.get(endpoint)
            response = client.open(url(path, alice_ids), method=method, headers=who, json=body, query_string=query)
            if endpoint == "analyses.next_char":  # the world's checkpoint is no model: past the lookup, its error
                assert response.status_code == 404 and "checkpoint" in response.get_json()["error"], endpoint
                continue
            conflicts = endpoint in FINISHED_409 or endpoint.startswith("lineage.")  # finished / not yet
            real = (200, 202, 409) if conflicts else (200, 202)
            assert response.status_code in real, (endpoint, method, response.status_code)
            response.close()  # the sample text is streamed


def test_lists_never_show_another_users_rows(client, world):
    for path in (
        "/api/v1/corpora",
        "/api/v1/jobs",
        "/api/v1/jobs?status=running",
        "/api/v1/jobs?status=queued",
        "/api/v1/sweeps",
    ):
        mine = client.get(path, headers=world.bob).get_json()
        assert mine["items"] == [] and mine["total"] == 0, path
        assert client.get(path, headers=world.root).get_json()["total"] >= 1, path  # there is something to see
        assert client.get(path, headers=world.alice).get_json()["total"] >= 1, path


def test_filtering_by_another_users_corpus_tells_nothing(client, world):
    for path in ("/api/v1/jobs?corpus_id={}", "/api/v1/jobs?corpus={}", "/api/v1/corpora?id={}"):
        theirs = client.get(path.format(world.corpus), headers=world.bob)
        missing = client.get(path.format(world.missing["corpus_id"]), headers=world.bob)
        assert masked(theirs, world.corpus) == masked(missing, world.missing["corpus_id"]), path
        assert theirs.status_code != 200 or theirs.get_json()["items"] == []


def test_a_job_on_another_users_corpus_is_refused_like_a_missing_corpus(client, world, db_session):
    before = counts(db_session)
    hp = {"layers": 1, "units": 8, "batch_size": 2, "seq_len": 2, "epochs": 1}
    theirs = client.post("/api/v1/jobs", headers=world.bob, json={"corpus_id": world.corpus, **hp})
    missing = client.post("/api/v1/jobs", headers=world.bob, json={"corpus_id": world.missing["corpus_id"], **hp})
    assert theirs.status_code == 404
    assert masked(theirs, world.corpus) == masked(missing, world.missing["corpus_id"])
    assert counts(db_session) == before
    # alice herself may (the refusal above is about ownership, not the request)
    assert client.post("/api/v1/jobs", headers=world.alice, json={"corpus_id": world.corpus, **hp}).status_code == 202
