"""A neuron analysis end to end: requested over HTTP, run by a real `python -m workers sampling`
process (PostgreSQL, Redis, moto S3), its result read back; and a missing checkpoint failing it
with the reason."""

import time

import pytest

from shared import lifecycle
from shared.auth import create_user_token, find_token
from shared.db.models import Analysis, Job
from shared.engine.training.train import EpochReport
from tests.analysis_helpers import python_text, tiny_checkpoint, vocabulary
from tests.waiting import json_at, wait_for, wait_for_answer


@pytest.fixture
def trained(db, make_corpus, worker_store):
    """(headers, job id) of a job of a new user whose epoch 1 is the tiny trained checkpoint."""
    corpus_id = make_corpus(text=python_text() * 2)
    with db() as session:
        token = create_user_token(session, f"analyst-{time.monotonic_ns()}")
        owner = find_token(session, token).user_id
        job = Job(owner_id=owner, corpus_id=corpus_id, hyperparameters={"layers": 2, "units": 16, "seq_len": 20})
        session.add(job)
        session.flush()
        lifecycle.record_vocabulary(session, job.id, vocabulary())
        key = f"jobs/{job.id}/epoch-0001"
        report = EpochReport(epoch=1, loss=2.0, val_loss=2.1, seconds=1.0, chars_per_second=100.0)
        lifecycle.record_epoch(session, job.id, report, key)
        job_id = job.id
    worker_store.put_dir(key, tiny_checkpoint())
    return {"Authorization": f"Bearer {token}"}, job_id


def test_an_analysis_runs_on_the_sampling_worker(db, worker_settings, worker_store, trained, sampling_worker):
    from services.app import create_app

    headers, job_id = trained
    client = create_app(worker_settings).test_client()
    asked = client.post(f"/api/v1/jobs/{job_id}/analyses", headers=headers, json={})
    assert asked.status_code == 202, asked.get_json()
    done = wait_for_answer(json_at(client, f"/api/v1/analyses/{asked.get_json()['id']}", headers), 120, "the analysis")
    assert done["status"] == "succeeded", done["error"]
    neurons = done["neurons"]
    assert (neurons["layers"], neurons["units"]) == (2, 16)
    assert set(neurons["top"]) == {
        "bracket_depth", "in_string", "in_comment", "in_docstring",
        "indentation", "column", "line_start", "after_keyword",
    }  # fmt: skip
    assert all(len(cells) == 10 for cells in neurons["top"].values())

    result = client.get(done["result_url"], headers=headers)
    assert result.status_code == 200 and result.mimetype == "application/json"
    data = result.get_json()
    assert data["text"] and python_text().endswith(data["text"])  # the tail of the corpus, from a line start
    assert done["chars"] == len(data["text"]) and data["text"][0] != "\n"
    with db() as session:  # the stored result's size: what the owner's storage quota counts
        row = session.get(Analysis, done["id"])
        assert row.stored_bytes == worker_store.size(row.object_key) > 0
    for feature, cells in data["top"].items():
        row = data["correlations"][data["features"].index(feature)]
        for cell in cells:
            assert row[cell["layer"]][cell["unit"]] == pytest.approx(cell["correlation"], abs=1e-4)
    by_cell = {(c["layer"], c["unit"]): c["values"] for c in data["cells"]}
    assert all((c["layer"], c["unit"]) in by_cell for cells in data["top"].values() for c in cells)
    assert all(len(v) == len(data["text"]) and max(map(abs, v)) <= 100 for v in by_cell.values())

    given = "def f(a, b):\n    return [a, (b, {a: b})]\n"
    asked = client.post(f"/api/v1/jobs/{job_id}/analyses", headers=headers, json={"text": given})
    done = wait_for_answer(json_at(client, f"/api/v1/analyses/{asked.get_json()['id']}", headers), 120, "the analysis")
    assert done["status"] == "succeeded" and done["source"] == "text" and done["chars"] == len(given)


def test_a_missing_checkpoint_fails_the_analysis_with_the_reason(db, worker_settings, trained, sampling_worker):
    from shared.db.models import Analysis, Epoch
    from shared.queue import make_celery, send_analysis

    _headers, job_id = trained
    with db() as session:
        job = session.get(Job, job_id)
        gone = Epoch(epoch=9, checkpoint_key=f"jobs/{job_id}/epoch-0009")  # never stored
        analysis = lifecycle.create_analysis(session, job.owner_id, job, gone, "x = (1, 2)\n")
        analysis_id, token = analysis.id, analysis.dispatch_token
    celery = make_celery(worker_settings)
    try:
        send_analysis(celery, analysis_id, token)
    finally:
        celery.close()

    def ended():
        with db() as session:
            row = session.get(Analysis, analysis_id)
            return (row.status.value, row.error) if row.status.finished else None

    status, error = wait_for(ended, 120, f"analysis {analysis_id} to finish", interval=0.3)
    assert status == "failed" and "missing from object storage" in error


def test_charlstm_analyze_a_job_on_the_service(worker_settings, trained, sampling_worker, tmp_path, capsys):
    """The CLI's service path: POST, poll, download the result and the chart, write the report."""
    import json
    import threading

    from werkzeug.serving import make_server

    from services.app import create_app
    from services.cli.main import main

    headers, job_id = trained
    server = make_server("127.0.0.1", 0, create_app(worker_settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    given = tmp_path / "given.py"
    given.write_text("def g(a):\n    return {a: [a, (a,)]}\n", encoding="utf-8")
    out = tmp_path / "job.html"
    try:
        url, token = f"http://127.0.0.1:{server.server_port}", headers["Authorization"].split()[1]
        argv = ["analyze", str(job_id), "--text", str(given), "--out", str(out), "--interval", "0.2"]
        code = main([*argv, "--url", url, "--token", token])
    finally:
        server.shutdown()
        thread.join()
    assert code == 0, capsys.readouterr().err
    html = out.read_text(encoding="utf-8")
    start = html.index('id="analysis-data">') + len('id="analysis-data">')
    result = json.loads(html[start : html.index("</script>", start)])
    assert result["text"] == given.read_text() and f"job {job_id}, epoch 1" in html
    assert 'id="next-char-data"' in html
