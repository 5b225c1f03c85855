"""`charlstm sweep` and `charlstm compare` against the real API served over HTTP (the fixtures of
tests/cli/test_cli_client_api.py): comma lists become a grid, one value the base; a variants
file; the budget; the comparison table."""

import json

import pytest

from services.cli.main import build_parser
from shared.db.models import Job
from tests.cli.test_cli_client_api import run

TEXT = "def add(a, b):\n    return a + b\n" * 600


@pytest.fixture
def corpus_id(service, tmp_path, capsys):
    path = tmp_path / "code.py"
    path.write_text(TEXT)
    code, out, _ = run(capsys, "upload", str(path), "-q")
    assert code == 0
    return int(out)


def test_comma_lists_make_the_grid_and_single_values_the_base(corpus_id, capsys, db_session, broker):
    code, out, err = run(
        capsys, "sweep", str(corpus_id), "--layers", "1", "--units", "8", "--seq-len", "10,20",
        "--batch-size", "4", "--epochs", "5", "--optimizer", "rmsprop,adam", "--tabs", "--max-epochs", "2",
        "--name", "cli sweep",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"sweep 1: 4 jobs queued (corpus {corpus_id})")
    assert "optimizer=adam seq_len=10" in out and "charlstm compare --sweep 1" in out
    jobs = db_session.query(Job).order_by(Job.id).all()
    assert [(j.hyperparameters.seq_len, j.hyperparameters.optimizer) for j in jobs] == [
        (10, "rmsprop"), (10, "adam"), (20, "rmsprop"), (20, "adam")
    ]  # fmt: skip
    assert all(j.hyperparameters.tabs and j.hyperparameters.epochs == 2 and j.sweep_id == 1 for j in jobs)
    assert broker.llen("training") == 1

    code, out, _ = run(capsys, "compare", "--sweep", "1")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["JOB", "STATUS", "SEQ_LEN", "OPTIMIZER"]
    assert len(lines) == 5 and all(" queued " in line for line in lines[1:])
    code, out, _ = run(capsys, "compare", "1", "2", "--json")
    assert code == 0 and json.loads(out)["varying"] == ["optimizer"]


def test_variants_file_and_errors(corpus_id, capsys, tmp_path, db_session):
    variants = tmp_path / "variants.json"
    variants.write_text(json.dumps([{"layers": 1, "units": 8}, {"layers": 2, "units": 6}]))
    small = ["--seq-len", "10", "--batch-size", "4", "--epochs", "1"]
    code, out, err = run(capsys, "sweep", str(corpus_id), "--variants", str(variants), "-q", *small)
    assert code == 0, err
    assert [(j.hyperparameters.layers, j.hyperparameters.units) for j in db_session.query(Job).order_by(Job.id)] == [
        (1, 8), (2, 6)
    ]  # fmt: skip
    code, _, err = run(capsys, "sweep", str(corpus_id), "--units", "8,9", "--max-jobs", "1", *small)
    assert code == 2 and "(HTTP 422)" in err and "budget.max_jobs allows 1" in err
    code, _, err = run(capsys, "sweep", str(corpus_id), "--variants", str(variants), "--units", "8,9")
    assert code == 2 and "either --variants or comma lists" in err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "1", "--optimizer", "rmsprop,sgd"])
    args = build_parser().parse_args(["sweep", "1", "--tabs", "true,false", "--lr", "0.001,0.002"])
    assert args.tabs == [True, False] and args.learning_rate == [0.001, 0.002]


def test_the_study_as_a_sweep(service, capsys, tmp_path, db_session):
    from shared.db.models import Sweep
    from shared.research.study import SCALES, runs_of

    path = tmp_path / "code.py"
    path.write_text("def f(x):\n    return x * 2\n\n" * 2500)  # 75,000 characters: the tiny scale's rows fit
    corpus = int(run(capsys, "upload", str(path), "-q")[1])
    code, _, err = run(capsys, "sweep", str(corpus), "--study", "tiny", "--units", "8")
    assert code == 2 and "--study is a whole sweep" in err and "--units" in err and db_session.query(Job).count() == 0
    code, out, err = run(capsys, "sweep", str(corpus), "--study", "tiny", "--max-epochs", "1", "-q")
    assert code == 0, err
    sweep = db_session.get(Sweep, int(out))
    assert sweep.name == "paper questions study (tiny)" and sweep.corpus_id == corpus
    expected = [hp.model_copy(update={"epochs": 1}) for _, _, hp in runs_of(SCALES["tiny"])]
    assert [j.hyperparameters for j in sorted(sweep.jobs, key=lambda j: j.id)] == expected  # the budget applies
