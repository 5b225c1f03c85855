"""`charlstm continue`, `fork`, `label`, `delete` and the tag flags of `submit`/`jobs`/`corpora`
against the real API served over HTTP."""

from shared import lifecycle
from shared.db.models import Job
from shared.engine.training.train import EpochReport
from tests.cli.test_cli_client_api import SMALL, run


def test_continue_fork_label_delete(service, tmp_path, capsys, db_session, store):
    corpus = tmp_path / "code.py"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 300, encoding="utf-8")
    _, out, _ = run(capsys, "upload", str(corpus), "-q")
    corpus_id = int(out)
    code, out, _ = run(
        capsys, "submit", str(corpus_id), "-q", *SMALL, "--name", "base", "--tag", "study", "--keep-every", "3"
    )
    job_id = int(out)
    assert code == 0 and db_session.get(Job, job_id).retention == {"keep_every": 3}
    run(capsys, "submit", str(corpus_id), "-q", *SMALL, "--name", "no tag", "--tag", "other")
    code, out, _ = run(capsys, "jobs", "--tag", "study")
    head, row = out.splitlines()
    assert code == 0 and row.split()[0] == str(job_id) and head.split()[-2:] == ["TAGS", "NAME"]
    assert row.split()[-2:] == ["study", "base"]
    code, out, _ = run(capsys, "jobs", "--status", "queued")
    rows = out.splitlines()[1:]
    assert code == 0 and len(rows) == 2 and rows[0].endswith("other  no tag") and rows[1].endswith("study  base")
    assert run(capsys, "jobs", "--tag", "none")[1] == "no jobs\n"

    code, _, err = run(capsys, "continue", str(job_id), "--epochs", "2")
    assert code == 2 and "(HTTP 409)" in err and "queued" in err
    run(capsys, "cancel", str(job_id))
    lifecycle.record_vocabulary(db_session, job_id, list(db_session.get(Job, job_id).corpus.vocabulary))
    lifecycle.record_epoch(db_session, job_id, EpochReport(1, 2.0, 2.1, 1.0, 9.0), f"jobs/{job_id}/epoch-0001")
    db_session.commit()

    code, out, _ = run(capsys, "continue", str(job_id), "--epochs", "2")
    assert code == 0 and f"continues job {job_id} from its epoch 1, up to epoch 3" in out
    code, _, err = run(capsys, "fork", str(job_id), "--layers", "2")
    assert code == 2 and "(HTTP 422)" in err and "architectural" in err
    code, out, _ = run(capsys, "fork", str(job_id), "--learning-rate", "0.01", "--optimizer", "adam", "-q")
    fork_id = int(out)
    assert db_session.get(Job, fork_id).hyperparameters.optimizer == "adam"

    code, out, _ = run(capsys, "label", "job", str(fork_id), "--name", "adam fork", "--tag", "adam")
    assert code == 0 and out == f"job {fork_id}: name adam fork, tags adam\n"
    code, out, _ = run(capsys, "show", str(fork_id))
    assert f"continues job {job_id} from epoch 1" in out

    code, _, err = run(capsys, "delete", "corpus", str(corpus_id))
    assert code == 2 and "(HTTP 409)" in err
    code, out, _ = run(capsys, "delete", "corpus", str(corpus_id), "--with-jobs")
    assert code == 0 and out == f"corpus {corpus_id} deleted\n"
    assert run(capsys, "jobs")[1] == "no jobs\n"
