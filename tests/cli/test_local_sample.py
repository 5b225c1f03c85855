"""`charlstm sample DIR` (services/cli/local.py): the kernel threads it samples on, and the quality
step announced before it runs (it costs about as much as sampling in float32)."""

from services.cli.main import main
from shared.engine.inference.lowp import usable_cores

TINY = ["--layers", "1", "--units", "8", "--seq-len", "10", "--batch-size", "4", "--epochs", "1"]


def test_a_local_sample_names_its_threads_and_announces_its_figures(tmp_path, capsys):
    corpus = tmp_path / "code.py"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 40, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(corpus), "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    argv = ["sample", str(run), "--length", "200", "--random-seed", "1", "--precision", "int8"]

    assert main(argv) == 0
    captured = capsys.readouterr()
    cores = usable_cores()
    assert f"epoch 1, precision int8, {cores} kernel thread{'s' if cores > 1 else ''}" in captured.err
    announced = captured.err.index("measuring the figures of 1 text (the model's bits/char over the first 10,000")
    assert "--no-quality skips this" in captured.err
    assert captured.err.index("sample-1-t0.75.txt: ") > announced  # said before, figures after
    text = captured.out

    assert main([*argv, "--threads", "1", "--no-quality"]) == 0
    captured = capsys.readouterr()
    assert captured.out == text  # the same text on one thread
    assert "precision int8, 1 kernel thread\n" in captured.err and "measuring the figures" not in captured.err

    assert main(["sample", "7", "--service", "--threads", "2"]) == 2
    assert "--threads is for local sampling" in capsys.readouterr().err
