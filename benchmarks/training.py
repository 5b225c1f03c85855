"""Training benchmarks, each a ratio measured in one run.

1. Stateful many-to-many vs the stateless windowed baseline: the same 1,000,000 characters of the
   built-in Python corpus, the same 2 x 128 model, the same wall-clock budget each. Each trains as
   its method prescribes: stateful on interleaved batches in order, stateless on windows shuffled
   every epoch (as the Keras example does, batches of 128). Stateful batches hold 64 sequences: in
   a 2-minute budget that is twice the updates of batches of 128, which learn less in that time
   (batch 128 gave 3.135 held-out bits/char against the baseline's 3.075 on 2026-11-30; batch 64
   gave 2.4-3.3 against 2.8-3.5 in three runs). Reported: training targets per second, and bits
   per character on the same held-out text (the 50,000 characters that follow the training ones),
   each model evaluated the way it generates (stateful: state carried through the text;
   stateless: every character predicted from the 40 before it).
2. Training throughput as a fraction of this machine's float32 matrix-multiply peak, measured in
   the same run: model FLOPs per character x characters per second / GEMM FLOP/s. The rate is
   the steady one: from the end of the first batch (which traces and compiles the step) to the end
   of the last, checkpoints included, at the product's default batch size (128).
   Targets: 3 x 512 >= 0.5, 2 x 128 >= 0.35.
   The peak is measured before and after each model and the highest is used (other work on the
   machine lowers a single measurement, which would flatter the fractions).

Each figure is stored with the 1-minute load average when it was measured: figures from a busy
machine (load above its 2 cores) are not comparable with a quiet one's.

Run: python -m benchmarks.training   (BENCH_BUDGET=seconds per model, default 120)
"""

import math
import os
import time
from typing import Any

import numpy as np

from shared.engine.config import Hyperparameters
from shared.engine.data import corpus
from shared.engine.data.assembly import builtin_python_corpus
from shared.engine.inference.numpy_lstm import NumpyLSTM
from shared.engine.training.train import TrainingCallbacks, TrainingPlan, train

from . import targets
from .common import measure_gemm_flops, print_table, quick, write_results

TRAIN_CHARS = 1_000_000
HELDOUT_CHARS = 50_000


class Deadline(TrainingCallbacks):
    """Stops training at a wall-clock deadline and counts the targets trained on."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.batches = 0
        self.targets_per_batch = 0.0
        self.began = time.perf_counter()
        self.first_batch_done = self.began
        self.last_batch_done = self.began

    def on_train_begin(self, plan: TrainingPlan) -> None:
        self.targets_per_batch = plan.targets_per_epoch / plan.batches_per_epoch
        self.began = time.perf_counter()

    def on_batch_end(self, epoch, batch, batches_per_epoch):
        self.batches += 1
        self.last_batch_done = time.perf_counter()
        if self.batches == 1:
            self.first_batch_done = self.last_batch_done

    def should_stop(self):
        return time.perf_counter() - self.began >= self.seconds

    @property
    def targets_per_second(self) -> float:
        """The rate from the start of training to the end of its last batch (what follows the last
        batch, such as building the result, is not training)."""
        return self.batches * self.targets_per_batch / (self.last_batch_done - self.began)

    @property
    def steady_targets_per_second(self) -> float:
        """The rate from the end of the first batch (which traces and compiles the training step) to
        the end of the last one, epoch ends and checkpoints between them included; the whole run's
        rate when only one batch ran."""
        if self.batches < 2:
            return self.targets_per_second
        return (self.batches - 1) * self.targets_per_batch / (self.last_batch_done - self.first_batch_done)


def load_average() -> float:
    return os.getloadavg()[0]


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
            "load_average_1min": load_average(),
        }
    results["speedup"] = results["stateful"]["targets_per_second"] / results["stateless"]["targets_per_second"]
    return results


def throughput(text: str, seconds: float, workdir, peaks: list[float]) -> dict:
    """Each model's steady rate; the fractions are of the highest GEMM peak of the run (`peaks`,
    which this extends with one measurement after each model)."""
    out = {}
    for layers, units in ((2, 128), (3, 512)):
        hp = Hyperparameters(
            layers=layers, units=units, seq_len=100, epochs=10_000, validation_split=0.0, patience=0
        )  # the default batch size
        clock = Deadline(seconds)
        train(text, hp, workdir / f"{layers}x{units}", clock)
        _, vocab = corpus.prepare(text)
        rate = clock.steady_targets_per_second
        fpc = flops_per_char(hp, len(vocab))
        peaks.append(measure_gemm_flops())
        out[f"{layers}x{units}"] = {
            "chars_per_second": rate,
            "batches": clock.batches,
            "flops_per_char": fpc,
            "model_flops": fpc * rate,
            "load_average_1min": load_average(),
        }
    for r in out.values():
        r["fraction_of_peak"] = r["model_flops"] / max(peaks)
    return out


THROUGHPUT_TARGETS = {"3x512": ("3 x 512", 0.5), "2x128": ("2 x 128", 0.35)}  # fraction of the GEMM peak


def main() -> dict:
    import tempfile
    from pathlib import Path

    budget = float(os.environ.get("BENCH_BUDGET", 10 if quick() else 120))
    chars = TRAIN_CHARS // 10 if quick() else TRAIN_CHARS
    full = builtin_python_corpus(max_chars=chars + HELDOUT_CHARS)
    text, heldout = full[:chars], full[chars : chars + HELDOUT_CHARS]
    peaks = [measure_gemm_flops()]
    with tempfile.TemporaryDirectory() as tmp:
        compare = stateful_vs_stateless(text, heldout, budget, Path(tmp))
        speed = throughput(text, max(10.0 if quick() else 30.0, budget / 4), Path(tmp), peaks)
    peak = max(peaks)
    results = {"gemm_flops": peak, "gemm_flops_measured": peaks, "stateful_vs_stateless": compare, "throughput": speed}
    stateful, stateless = compare["stateful"], compare["stateless"]
    targets.check("training", "stateful vs stateless, same budget: targets/s", compare["speedup"], 30)
    targets.check(
        "training",
        "stateful / stateless held-out bits/char",
        stateful["heldout_bits_per_char"] / stateless["heldout_bits_per_char"],
        1.0,
        higher_is_better=False,
    )
    for name, (label, goal) in THROUGHPUT_TARGETS.items():
        fraction = speed[name]["fraction_of_peak"]
        targets.check(
            "training", f"{label} training: fraction of the same-run GEMM peak", fraction, goal, goal_of="throughput"
        )
    rows = [
        ("stateful targets/s", f"{stateful['targets_per_second']:,.0f} (load {stateful['load_average_1min']:.1f})"),
        ("stateless targets/s", f"{stateless['targets_per_second']:,.0f} (load {stateless['load_average_1min']:.1f})"),
        ("speedup (>= 30x)", f"{compare['speedup']:.1f}x"),
        ("stateful held-out bits/char", f"{stateful['heldout_bits_per_char']:.3f}"),
        ("stateless held-out bits/char", f"{stateless['heldout_bits_per_char']:.3f}"),
        ("float32 GEMM peak (highest of the run)", " / ".join(f"{p / 1e9:.0f}" for p in peaks) + " GFLOP/s"),
    ] + [
        (
            f"train {name}: chars/s, fraction of peak (target)",
            f"{r['chars_per_second']:,.0f}, {r['fraction_of_peak']:.2f} (>= {THROUGHPUT_TARGETS[name][1]}), "
            f"load {r['load_average_1min']:.1f}",
        )
        for name, r in speed.items()
    ]
    write_results("training", results)
    print_table(f"training (budget {budget:.0f} s per model)", rows)
    return results


if __name__ == "__main__":
    main()
