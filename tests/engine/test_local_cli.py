"""The local commands of the `charlstm` CLI on the engine: corpus build, train, sample a folder."""

import re

import pytest

from services.cli.main import main

TINY = ["--layers", "1", "--units", "8", "--seq-len", "10", "--batch-size", "4", "--epochs", "1", "--tabs"]


def test_corpus_build_caps_characters(tmp_path, capsys):
    out = tmp_path / "python.txt"
    assert main(["corpus", "build", "--builtin", "python", "--max-chars", "5000", "--out", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8")) == 5000
    assert "characters: 5,000 ->" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the old name, which counted characters too, is gone
        main(["corpus", "build", "--builtin", "python", "--max-bytes", "5000", "--out", str(out)])


def test_train_then_sample_the_run_folder(tmp_path, capsys):
    corpus = tmp_path / "code.py"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 40, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert "1,160 characters (17 distinct)" in out  # the plan: 40 x 32 characters, 4 spaces one tab
    assert "epoch 1: loss" in out and f"completed after epoch 1, best epoch 1; checkpoints in {run}" in out
    assert "27 batches per epoch\nwarning: only 27 training batches per epoch" in out  # sizing advice first

    sample = tmp_path / "sample.txt"
    argv = ["sample", str(run), "--length", "300", "--random-seed", "1", "--out", str(sample)]
    assert main(argv) == 0
    text = sample.read_text(encoding="utf-8")
    # 300 new characters, leading tabs back to 4 spaces (the first line continues the seed's)
    assert len(text) >= 300 and not any(re.match(r" *\t", line) for line in text.split("\n")[1:])
    assert main(argv) == 0 and sample.read_text(encoding="utf-8") == text  # reproducible
    assert main([*argv[:-2], "--temperature", "0.5", "--temperature", "1.5", "--out", str(sample)]) == 0
    # several texts: one file each, named as the service names them in its zip (sample_names)
    assert sorted(p.name for p in tmp_path.glob("sample-1-t*.txt")) == ["sample-1-t0.5.txt", "sample-1-t1.5.txt"]
    capsys.readouterr()
    greedy = ["sample", str(run), "--length", "200", "--greedy", "--random-seed"]
    assert main([*greedy, "1"]) == 0
    first = capsys.readouterr().out
    assert main([*greedy, "2"]) == 0 and capsys.readouterr().out == first  # temperature 0: no randomness
    assert main(["sample", str(run), "--length", "50", "--top-k", "2", "--top-p", "0.9"]) == 0
    capsys.readouterr()
    low = tmp_path / "int8.txt"  # int8 weights: a text as long, reproducible
    assert main([*argv[:-2], "--precision", "int8", "--out", str(low)]) == 0
    low_text = low.read_text(encoding="utf-8")
    assert len(low_text) >= 300
    assert main([*argv[:-2], "--precision", "int8", "--out", str(low)]) == 0
    assert low.read_text(encoding="utf-8") == low_text
    assert main(["sample", "7", "--service", "--corpus", str(corpus)]) == 2  # local only
    assert "--corpus is for local sampling" in capsys.readouterr().err
    # an epoch's checkpoint, and the figures against the corpus (on stderr, after every sample)
    assert main([*argv[:-2], "--epoch", "1", "--corpus", str(corpus), "--out", str(sample)]) == 0
    err = capsys.readouterr().err
    assert "epoch 1, precision float32" in err and "sample-1-t0.75.txt: " in err
    assert "bits/char" in err and ("blocks parse" in err or "no top-level blocks" in err)
    assert "lines copied" in err and "char divergence" in err
    assert main([*argv[:-2], "--epoch", "9"]) == 2
    assert f"{run} has no checkpoint of epoch 9" in capsys.readouterr().err
    assert main(["sample", str(run), "--length", "10", "--seed-text", "XYZ"]) == 2
    assert "the seed text has no character of the model's vocabulary" in capsys.readouterr().err


def test_resume_takes_the_architecture_from_the_checkpoint(tmp_path, capsys):
    """The README's resume example: `--resume --epochs N` alone continues a run trained with other
    layers/units; an architecture flag that contradicts the checkpoint is still refused."""
    corpus = tmp_path / "code.py"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 40, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    assert main(["train", str(corpus), "--out", str(run), "--epochs", "2", "--resume"]) == 0
    assert "completed after epoch 2" in capsys.readouterr().out
    assert main(["train", str(corpus), "--out", str(run), "--epochs", "3", "--units", "16", "--resume"]) == 2
    assert "cannot resume: the checkpoint was trained with units=8 (asked 16)" in capsys.readouterr().err


def test_train_with_a_budget_prints_what_the_recipe_chose_and_why(tmp_path, capsys):
    corpus = tmp_path / "code.py"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 40, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY, "--budget", "1m"]) == 0
    out = capsys.readouterr().out
    assert "budgeted recipe for 60 s:" in out
    assert "adam, learning rate" in out and "cosine decay to a tenth" in out
    assert "1 x 8, batch 4, sequences of 10, dropout 0;" in out  # the flags given are kept
    assert "completed after epoch 1" in out


@pytest.mark.parametrize("text", ["0.5m", "15 minutes", "", "-5"])
def test_a_budget_that_is_not_a_duration_is_a_usage_error(text, capsys):
    with pytest.raises(SystemExit):
        main(["train", "corpus.txt", "--out", "run", "--budget", text])
    assert "--budget" in capsys.readouterr().err


def test_a_budget_under_ten_seconds_is_refused_by_the_hyperparameters(tmp_path, capsys):
    corpus = tmp_path / "code.py"
    corpus.write_text("x = 1\n" * 100, encoding="utf-8")
    assert main(["train", str(corpus), "--out", str(tmp_path / "run"), "--budget", "5s"]) == 2
    assert "budget_seconds" in capsys.readouterr().err
