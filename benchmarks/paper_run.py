"""`make bench-gpu`: the paper's run, for a time budget, on whatever device Keras's backend trains on.

The paper: 3 x 512 stateful LSTM, dropout 0.5, RMSprop 0.0015, clipnorm 5, batch 128, sequences of
100, about 4 MB of Python (here: this machine's standard library sources), early stopping on
validation loss (patience 5). The paper's run took about 2 hours on a Colab GPU.

Prints, as they happen: the device, each epoch's time, training characters per second and
validation bits/char; at the end (budget spent, early stop or last epoch) the time to sample
50,000 characters from the best checkpoint (float32, the exact path) on the CPU.

Environment (all optional):
    BENCH_GPU_BUDGET        training seconds (default 7200); the epoch running at the deadline is dropped
    BENCH_GPU_CHARS         corpus characters (default 4,000,000)
    BENCH_GPU_SAMPLE_CHARS  characters sampled at the end (default 50,000)
    BENCH_GPU_LAYERS, BENCH_GPU_UNITS, BENCH_GPU_EPOCHS   override the model / epochs (a CPU smoke run)

Run: python -m benchmarks.paper_run   (`make bench-gpu`)
"""

import os
import tempfile
import time
from pathlib import Path

from shared.engine.config import Hyperparameters
from shared.engine.data.assembly import builtin_python_corpus
from shared.engine.training import devices
from shared.engine.training.train import EpochReport, TrainingCallbacks, TrainingPlan, train

from .common import print_table, write_results


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Budget(TrainingCallbacks):
    """Stops at a wall-clock deadline; prints every epoch; counts batches for the rate."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.began = time.perf_counter()
        self.batches = 0
        self.targets_per_batch = 0.0

    def on_train_begin(self, plan: TrainingPlan) -> None:
        self.targets_per_batch = plan.targets_per_epoch / plan.batches_per_epoch
        print(
            f"corpus {plan.corpus_chars:,} chars, vocabulary {len(plan.vocabulary)}, "
            f"{plan.batches_per_epoch} batches of {plan.hyperparameters.batch_size} x {plan.hyperparameters.seq_len} "
            f"per epoch, budget {self.seconds:.0f} s",
            flush=True,
        )
        self.began = time.perf_counter()

    def on_batch_end(self, epoch, batch, batches_per_epoch):
        self.batches += 1

    def should_stop(self) -> bool:
        return time.perf_counter() - self.began >= self.seconds

    def on_epoch_end(self, report: EpochReport, checkpoint_dir: Path) -> None:
        val = "-" if report.val_loss_bits is None else f"{report.val_loss_bits:.3f}"
        print(
            f"epoch {report.epoch}: {report.seconds:.1f} s, {report.chars_per_second:,.0f} chars/s, "
            f"train {report.loss_bits:.3f} bits/char, val {val} bits/char",
            flush=True,
        )

    @property
    def chars_per_second(self) -> float:
        return self.batches * self.targets_per_batch / max(1e-9, time.perf_counter() - self.began)


def sample_seconds(run_dir: Path, model, length: int) -> tuple[float, str]:
    """Seconds to sample `length` characters (temperature 1) from the best checkpoint, or from the
    weights as they ended when no epoch finished; and where the weights came from."""
    from shared.engine.inference.numpy_lstm import NumpyLSTM
    from shared.engine.inference.sample import generate
    from shared.engine.training import checkpoint as ckpt

    if ckpt.latest_checkpoint(run_dir) is not None:
        saved = ckpt.load(run_dir, compile=False)
        net, source = NumpyLSTM.from_model(saved.model), f"checkpoint epoch {saved.epoch}"
    else:
        net, source = NumpyLSTM.from_model(model), "the last batch's weights (no epoch finished)"
    began = time.perf_counter()
    generate(net, [0], length, 1.0, random_seed=0)
    return time.perf_counter() - began, source


def main() -> dict:
    budget = _env("BENCH_GPU_BUDGET", 7200)
    chars = int(_env("BENCH_GPU_CHARS", 4_000_000))
    sample_chars = int(_env("BENCH_GPU_SAMPLE_CHARS", 50_000))
    hp = Hyperparameters(
        layers=int(_env("BENCH_GPU_LAYERS", 3)),
        units=int(_env("BENCH_GPU_UNITS", 512)),
        epochs=int(_env("BENCH_GPU_EPOCHS", 150)),
        batch_size=128,
        seq_len=100,
        patience=5,
    )
    print(f"paper run: {hp.layers} x {hp.units}, training with {devices.describe()}", flush=True)
    text = builtin_python_corpus(max_chars=chars)
    clock = Budget(budget)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(text, hp, Path(tmp) / "run", clock)
        trained = time.perf_counter() - clock.began
        sampled, source = sample_seconds(Path(tmp) / "run", result.model, sample_chars)
    history = [r.to_dict() for r in result.history]
    results = {
        "device": devices.describe(),
        "hyperparameters": hp.model_dump(),
        "corpus_chars": len(text),
        "budget_seconds": budget,
        "training_seconds": trained,
        "stopped": result.stopped if result.stopped != "callback" else "budget",
        "chars_per_second": clock.chars_per_second,
        "epochs": history,
        "best_epoch": result.best_epoch,
        "sample_chars": sample_chars,
        "sample_seconds": sampled,
        "sampled_from": source,
    }
    best = next((r for r in result.history if r.epoch == result.best_epoch), None)
    rows = [
        ("device", results["device"]),
        ("training", f"{trained:,.0f} s, stopped: {results['stopped']}, {len(history)} epoch(s)"),
        ("training chars/s", f"{clock.chars_per_second:,.0f}"),
        ("time per epoch", f"{sum(r.seconds for r in result.history) / len(history):,.1f} s" if history else "-"),
        (
            "best val bits/char",
            f"{best.val_loss_bits:.3f} (epoch {best.epoch})" if best and best.val_loss_bits else "-",
        ),
        (f"sample {sample_chars:,} chars (float32, CPU)", f"{sampled:.1f} s from {source}"),
        ("the paper", "about 2 h on a Colab GPU"),
    ]
    write_results("paper_run", results)
    print_table("paper run (make bench-gpu)", rows)
    return results


if __name__ == "__main__":
    main()
