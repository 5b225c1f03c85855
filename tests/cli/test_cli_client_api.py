"""The client commands against the real API (services.api.create_app on the test PostgreSQL and
Redis from tests/conftest.py), served over HTTP in a thread. Skipped when those are unreachable."""

import contextlib
import threading

import pytest

from services.cli.main import main
from shared.db.models import Job, Sample, WorkStatus
from tests.factories import epoch_row
from tests.waiting import wait_for

SMALL = ["--layers", "1", "--units", "8", "--seq-len", "10", "--batch-size", "4", "--epochs", "3"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_upload_submit_list_cancel_watch(service, tmp_path, capsys, broker):
    corpus = tmp_path / "code.py"
    corpus.write_text("def add(a, b):\n    return a + b  # café\n" * 500, encoding="utf-8")
    code, out, _ = run(capsys, "upload", str(corpus), "--name", "my code")
    assert code == 0 and "(my code): 20,500 bytes, 20,000 characters" in out

    code, out, _ = run(capsys, "upload", str(corpus), "-q")
    corpus_id = int(out)
    code, out, _ = run(capsys, "submit", str(corpus_id), "-q", *SMALL)
    job_id = int(out)
    assert code == 0 and broker.llen("training") == 1

    code, out, _ = run(capsys, "jobs", "--status", "queued")
    assert code == 0 and out.splitlines()[1].split()[:4] == [str(job_id), "queued", str(corpus_id), "0/3"]

    code, out, _ = run(capsys, "cancel", str(job_id))
    assert code == 0 and out.startswith(f"job {job_id} cancelled")
    code, _, err = run(capsys, "watch", str(job_id), "--interval", "0.01")
    assert code == 1 and f"job {job_id} cancelled" in err
    code, out, _ = run(capsys, "jobs", "--status", "queued")
    assert out == "no jobs queued\n"


def test_server_side_errors(service, tmp_path, capsys):
    binary = tmp_path / "image.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    code, _, err = run(capsys, "upload", str(binary))
    assert code == 2 and "(HTTP 422)" in err and err.count("contains NUL bytes") == 1  # said once, not twice
    code, _, err = run(capsys, "submit", "12345")
    assert code == 2 and "(HTTP 404)" in err
    code, _, err = run(capsys, "jobs", "--token", "not-a-token")
    assert code == 2 and "invalid token" in err and "(HTTP 401)" in err


def test_sample_downloads_a_finished_sample(service, tmp_path, capsys, db_session, store, broker):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world, hello charlstm\n" * 200)
    code, out, _ = run(capsys, "upload", str(corpus), "-q")
    code, out, _ = run(capsys, "submit", out.strip(), "-q", *SMALL)
    job_id = int(out)
    code, _, err = run(capsys, "sample", str(job_id), "--out", str(tmp_path / "s.txt"))
    assert code == 2 and "job has no checkpoint yet (HTTP 409)" in err

    db_session.add(epoch_row(job_id=job_id, checkpoint_key=f"jobs/{job_id}/epoch-1"))
    db_session.commit()

    def finish_sample():  # plays the sampling worker: waits for the request, then completes it
        def requested():
            found = db_session.query(Sample).filter_by(job_id=job_id).one_or_none()
            if found is None:
                db_session.rollback()  # the next read sees the request once it is committed
            return found

        with contextlib.suppress(TimeoutError):  # never requested: the CLI's answer below fails the test
            sample = wait_for(requested, 10, "the sample request", interval=0.05)
            store.put_bytes(f"samples/{sample.id}.txt", b"generated " * 5000)
            sample.status, sample.object_key = WorkStatus.succeeded, f"samples/{sample.id}.txt"
            db_session.commit()

    worker = threading.Thread(target=finish_sample)
    worker.start()
    out_file = tmp_path / "sample.txt"
    code, out, err = run(
        capsys,
        "sample",
        str(job_id),
        "--length",
        "100",
        "--temperature",
        "0.5",
        "--out",
        str(out_file),
        "--interval",
        "0.05",
    )
    worker.join()
    assert code == 0, err
    assert out_file.read_bytes() == b"generated " * 5000 and "wrote 50,000 characters" in err
    assert db_session.get(Job, job_id) is not None


def test_corpora_samples_show_json_version_and_global_flags(service, tmp_path, capsys, broker, monkeypatch):
    import json
    import os

    url, token = os.environ["CHARLSTM_URL"], os.environ["CHARLSTM_TOKEN"]
    monkeypatch.delenv("CHARLSTM_URL")
    monkeypatch.delenv("CHARLSTM_TOKEN")
    corpus = tmp_path / "code.py"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 200, encoding="utf-8")
    flags = ["--url", url, "--token", token]  # before the command, as `charlstm --url U jobs`
    code, out, _ = run(capsys, *flags, "upload", str(corpus), "-q")
    corpus_id = int(out)
    code, out, _ = run(capsys, *flags, "corpora")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["ID", "NAME"] and "code.py" in out
    code, out, _ = run(capsys, *flags, "corpora", "--json")
    assert [c["id"] for c in json.loads(out)] == [corpus_id]
    code, out, _ = run(capsys, *flags, "submit", str(corpus_id), "-q", *SMALL)
    job_id = int(out)
    code, out, _ = run(capsys, *flags, "show", str(job_id))
    assert code == 0 and out.startswith(f"job {job_id}: queued, epoch 0/3") and "units=8" in out
    code, out, _ = run(capsys, *flags, "show", str(job_id), "--json")
    assert json.loads(out)["hyperparameters"]["units"] == 8
    code, out, _ = run(capsys, *flags, "samples", str(job_id))
    assert code == 0 and out == f"no samples of job {job_id}\n"
    code, out, _ = run(capsys, "jobs", "--json", "--url", url, "--token", token)  # after the command too
    assert [j["id"] for j in json.loads(out)] == [job_id]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("charlstm ")


def test_cancel_a_sample_and_an_analysis(service, tmp_path, capsys, client, user_headers, db_session, store, broker):
    from tests.analysis_helpers import store_checkpoint

    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world, hello charlstm\n" * 200)
    code, out, _ = run(capsys, "upload", str(corpus), "-q")
    code, out, _ = run(capsys, "submit", out.strip(), "-q", *SMALL)
    job_id = int(out)
    db_session.add(epoch_row(job_id=job_id, checkpoint_key=store_checkpoint(store, job_id, 1)))
    db_session.commit()
    sample = client.post(f"/api/v1/jobs/{job_id}/samples", headers=user_headers, json={"length": 10}).get_json()
    analysis = client.post(f"/api/v1/jobs/{job_id}/analyses", headers=user_headers, json={}).get_json()
    assert (sample["status"], analysis["status"]) == ("queued", "queued")

    assert run(capsys, "cancel", str(sample["id"]), "--sample")[:2] == (0, f"sample {sample['id']} cancelled\n")
    assert run(capsys, "cancel", str(analysis["id"]), "--analysis")[:2] == (0, f"analysis {analysis['id']} cancelled\n")
    assert client.get(f"/api/v1/analyses/{analysis['id']}", headers=user_headers).get_json()["status"] == "cancelled"
    code, _, err = run(capsys, "cancel", "999999", "--analysis")
    assert code == 2 and "(HTTP 404)" in err
    with pytest.raises(SystemExit) as refused:
        run(capsys, "cancel", str(job_id), "--sample", "--analysis")
    assert refused.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    code, out, _ = run(capsys, "jobs", "--status", "queued")
    assert str(job_id) in out  # the job itself was not cancelled
