"""Training benchmarks, each a ratio measured in one run.

1. Stateful many-to-many vs the stateless windowed baseline: the same 1,000,000 characters of the
   built-in Python corpus, the same 2 x 128 model, the same wall-clock budget each. Each trains as
   its method prescribes: stateful on interleaved batches in order, stateless on windows shuffled
   every epoch (as the Keras example does). Reported: training targets per second, and bits per
   character on the same held-out text (the 50,000 characters that follow the training ones), each
   model evaluated the way it generates (stateful: state carried through the text; stateless:
   every character predicted from the 40 before it).
2. Training throughput as a fraction of this machine's float32 matrix-multiply peak, measured in
   the same run: model FLOPs per character x characters per second / GEMM FLOP/s.

Run: python -m benchmarks.training   (BENCH_BUDGET=seconds per model, default 120)
"""

import math
import os
import time
from typing import Any

import numpy as np

from shared.engine import corpus
from shared.engine.config import Hyperparameters
from shared.engine.numpy_lstm import NumpyLSTM
from shared.engine.train import TrainingCallbacks, TrainingPlan, train

from .common import measure_gemm_flops, print_table, write_results

TRAIN_CHARS = 1_000_000
HELDOUT_CHARS = 50_000


class Deadline(TrainingCallbacks):
    """Stops training at a wall-clock deadline and counts the targets trained on."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.batches = 0
        self.targets_per_batch = 0.0
        self.began = time.perf_counter()

    def on_train_begin(self, plan: TrainingPlan) -> None:
        self.targets_per_batch = plan.targets_per_epoch / plan.batches_per_epoch
        self.began = time.perf_counter()

    def on_batch_end(self, epoch, batch, batches_per_epoch):
        self.batches += 1

    def should_stop(self):
        return time.perf_counter() - self.began >= self.seconds

    @property
    def targets_per_second(self) -> float:
        return self.batches * self.targets_per_batch / (time.perf_counter() - self.began)


def heldout_bits(net: NumpyLSTM, ids: np.ndarray, window: int | None) -> float:
    """Mean bits per character of predicting ids[1:] (ids[window:] for windowed models)."""
    return net.cross_entropy(ids, window=window) / math.log(2)


def flops_per_char(hp: Hyperparameters, vocab: int) -> float:
    """Training FLOPs per target character of a stateful model: forward multiply-adds x 2,
    backward ~2x forward."""
    forward = 0
    width_in = vocab
    for _ in range(hp.layers):
        forward += 2 * 4 * hp.units * (width_in + hp.units)
        width_in = hp.units
    forward += 2 * hp.units * vocab
    return 3 * forward


def stateful_vs_stateless(text: str, heldout: str, budget: float, workdir) -> dict:
    ids, vocab = corpus.prepare(text + heldout)
    held = ids[len(ids) - len(heldout) :]
    train_text = text
    results: dict[str, Any] = {}
    for hp in (
        Hyperparameters(
            mode="stateful",
            layers=2,
            units=128,
            seq_len=100,
            batch_size=64,
            epochs=10_000,
            validation_split=0.0,
            patience=0,
        ),
        Hyperparameters(
            mode="stateless",
            layers=2,
            units=128,
            seq_len=40,
            step=3,
            batch_size=128,
            epochs=10_000,
            validation_split=0.0,
            patience=0,
        ),
    ):
        clock = Deadline(budget)
        result = train(train_text, hp, workdir / hp.mode, clock)
        rate = clock.targets_per_second
        net = NumpyLSTM.from_model(result.model)
        bits = heldout_bits(net, held, None if hp.stateful else hp.seq_len)
        results[hp.mode] = {
            "targets_per_second": rate,
            "heldout_bits_per_char": bits,
            "epochs_completed": len(result.history),
            "seconds": budget,
        }
    results["speedup"] = results["stateful"]["targets_per_second"] / results["stateless"]["targets_per_second"]
    return results


def throughput(text: str, seconds: float, workdir, peak: float) -> dict:
    out = {}
    for layers, units in ((2, 128), (3, 512)):
        hp = Hyperparameters(
            layers=layers, units=units, seq_len=100, batch_size=64, epochs=10_000, validation_split=0.0, patience=0
        )
        clock = Deadline(seconds)
        train(text, hp, workdir / f"{layers}x{units}", clock)
        _, vocab = corpus.prepare(text)
        rate = clock.targets_per_second
        fpc = flops_per_char(hp, len(vocab))
        out[f"{layers}x{units}"] = {
            "chars_per_second": rate,
            "flops_per_char": fpc,
            "model_flops": fpc * rate,
            "fraction_of_peak": fpc * rate / peak,
        }
    return out


def main() -> dict:
    import tempfile
    from pathlib import Path

    budget = float(os.environ.get("BENCH_BUDGET", 120))
    full = corpus.builtin_python_corpus(max_chars=TRAIN_CHARS + HELDOUT_CHARS)
    text, heldout = full[:TRAIN_CHARS], full[TRAIN_CHARS : TRAIN_CHARS + HELDOUT_CHARS]
    peak = measure_gemm_flops()
    with tempfile.TemporaryDirectory() as tmp:
        compare = stateful_vs_stateless(text, heldout, budget, Path(tmp))
        speed = throughput(text, max(20.0, budget / 4), Path(tmp), peak)
    results = {"gemm_flops": peak, "stateful_vs_stateless": compare, "throughput": speed}
    rows = [
        ("stateful targets/s", f"{compare['stateful']['targets_per_second']:,.0f}"),
        ("stateless targets/s", f"{compare['stateless']['targets_per_second']:,.0f}"),
        ("speedup (>= 30x)", f"{compare['speedup']:.1f}x"),
        ("stateful held-out bits/char", f"{compare['stateful']['heldout_bits_per_char']:.3f}"),
        ("stateless held-out bits/char", f"{compare['stateless']['heldout_bits_per_char']:.3f}"),
        ("float32 GEMM peak", f"{peak / 1e9:.0f} GFLOP/s"),
    ] + [
        (f"train {name}: chars/s, fraction of peak", f"{r['chars_per_second']:,.0f}, {r['fraction_of_peak']:.2f}")
        for name, r in speed.items()
    ]
    write_results("training", results)
    print_table(f"training (budget {budget:.0f} s per model)", rows)
    return results


if __name__ == "__main__":
    main()
