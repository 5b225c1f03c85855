"""Sampling benchmark: the numpy fast path vs the per-character `model.predict` loop.

Model: stateful 3 x 512 LSTM, vocabulary 100, random weights (timing does not depend on training);
warm-up seed of 100 characters, temperature 0.75.

(a) the reference loop (`predict_loop_generate`: batch-1 Keras copy, one `model.predict` per
    character) timed on LOOP_CHARS characters (plus the seed's calls) and extrapolated to a
    50,000-character sample;
(b) the fast path, one 50,000-character sample;
(c) the fast path, 16 samples of 50,000 characters generated together.
Also: 1 vs 2 BLAS threads on a short probe (the faster is used for (b) and (c)), the time of the
float32 matrix products alone (the floor for this model), and the float32 GEMM peak.

Reduced precision, in the same run: the int8 net (`lowp.QuantizedLSTM`: int8 weights with per-row
scales times int8 inputs with per-vector scales, integer sums (AVX-512 VNNI where the CPU has it),
one numba kernel call per chunk of sampled characters) for (b) and (c) as the product runs them:
(b) on the CLI's default threads (every usable core, `lowp.usable_cores`), (c) on a worker's lone
batch's share (`lowp.cores_each(1)`); 1 and every-core kernel threads probed too (details).
Against float32: 1 sample >= 3x faster; the per-step overhead outside the matrix products < 10%
of a step (from the thread probe: a step of `generate` against the products alone,
`QuantizedLSTM.products`, measured back to back; the products include their inputs'
quantization); 16 samples >= 0.5 of the GEMM peak or >= 3x faster. The local CLI: `charlstm
sample RUN --precision int8 --length 50000` on a checkpoint of the same model, a process timed end
to end (startup, loading, sampling and the quality figures), >= 2x faster than (b)'s float32
loop. Quality guard: a 2 x 256 model trained for BENCH_BUDGET seconds (default 150; quick 20) on
the SQLAlchemy source as benchmarks/quality trains, then over 10,000 teacher-forced held-out
characters the mean KL divergence of int8's next-character distributions from float32's (< 0.01
nats) and the bits/char of each (within 1%). Each comparison is checked against its target through
benchmarks/targets.py (printed, stored in the JSON, summed up at the end of `make bench`), with the
load average of the machine after the timed runs.

Run: python -m benchmarks.sampling   (BENCH_QUICK=1 or --quick: 2,000 characters, 10 loop chars)
"""

from __future__ import annotations

import os
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from shared.engine.inference.lowp import QuantizedLSTM, cores_each, usable_cores
from shared.engine.inference.numpy_lstm import NumpyLSTM
from shared.engine.inference.sample import generate, predict_loop_generate

from . import targets
from .common import best_time, blas_threads, limit_blas_threads, measure_gemm_flops, print_table, quick, write_results

VOCAB, LAYERS, UNITS, SEED_CHARS, COUNT, TEMPERATURE = 100, 3, 512, 100, 16, 0.75


@dataclass
class Threads:
    """BLAS threads for one row count: the faster choice and what each choice measured."""

    best: int
    seconds_per_step: dict[int, float]
    matmul_seconds_per_step: dict[int, float]


def build_model():
    from shared.engine.config import Hyperparameters
    from shared.engine.training.model import build_model as build

    hp = Hyperparameters(mode="stateful", layers=LAYERS, units=UNITS, batch_size=1, seq_len=100, seed=0)
    model = build(hp, VOCAB)
    rng = np.random.default_rng(0)
    # default init leaves biases at 0 / 1: give them values too
    model.set_weights(
        [w if w.ndim > 1 else rng.normal(0.0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def flops_per_char(net: NumpyLSTM) -> int:
    """Multiply-adds x 2 of one step for one stream (layer 0's input product is a row gather)."""
    return 2 * sum(w.size for w in net.matrices)


def matmul_floor(net: NumpyLSTM, rows: int, steps: int) -> float:
    """Seconds per step of the model's matrix products alone (the same matrices, `rows` columns)."""
    mats = [(w, np.ones((w.shape[1], rows), np.float32)) for w in net.matrices]
    outs = [np.empty((w.shape[0], rows), np.float32) for w, _ in mats]

    def run():
        for _ in range(steps):
            for (w, x), o in zip(mats, outs, strict=True):
                np.matmul(w, x, out=o)

    return best_time(run, repeats=2) / steps


def quantization_quality(short: bool) -> dict:
    """Train a small model for a few minutes, then compare int8 with float32 over teacher-forced
    held-out text: mean KL divergence (nats) and bits per character of each."""
    import math
    import tempfile
    from pathlib import Path

    from shared.engine.config import Hyperparameters
    from shared.engine.data.assembly import build_from_folder
    from shared.engine.data.corpus import clean
    from shared.engine.inference.sample import PRECISIONS, encode_seed, load_sampler
    from shared.engine.training.train import train

    from .quality import Deadline
    from .thirdparty import package_folder

    budget = float(os.environ.get("BENCH_BUDGET", 20 if short else 150))
    train_chars, heldout_chars = (100_000, 2_000) if short else (400_000, 10_000)
    raw = build_from_folder(package_folder("sqlalchemy"), max_chars=train_chars + 2 * heldout_chars)
    hp = Hyperparameters(layers=2, units=256, batch_size=32, epochs=1000, patience=0)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        result = train(raw[:train_chars], hp, Path(tmp), Deadline(budget))
        train_s = time.perf_counter() - began
        if not result.history:
            raise RuntimeError(f"no epoch finished within {budget:.0f} s: raise BENCH_BUDGET")
        sampler = load_sampler(tmp, precisions=PRECISIONS)
    ids = encode_seed(clean(raw[train_chars:]), sampler.vocabulary, hp)[: heldout_chars + 1]
    exact = sampler.net.clone()
    reduced = sampler.net_for("int8").clone()
    exact.reset(1)
    reduced.reset(1)
    log_p, log_q = (_log_softmax(n.sequence_logits(ids[:-1])[0]) for n in (exact, reduced))
    kl = float((np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean())
    at = np.arange(len(ids) - 1), ids[1:]
    bits_p, bits_q = (float(-lp[at].mean() / math.log(2)) for lp in (log_p, log_q))
    return {
        "model": f"{hp.layers} x {hp.units}",
        "train_seconds": train_s,
        "epochs": len(result.history),
        "chars": len(ids) - 1,
        "mean_kl_nats": kl,
        "bits_per_char_float32": bits_p,
        "bits_per_char_int8": bits_q,
        "bits_relative_difference": (bits_q - bits_p) / bits_p,
    }


def cli_sample_seconds(model, length: int) -> float:
    """Seconds of `charlstm sample RUN --precision int8 --length LENGTH` end to end, as a user runs
    it: a process that starts, loads the checkpoint of `model` (saved as training saves one), samples
    on the CLI's default threads and prints the quality figures."""
    from shared.engine.config import Hyperparameters

    from .sampling_service import write_checkpoint

    hp = Hyperparameters(mode="stateful", layers=LAYERS, units=UNITS, batch_size=1, seq_len=100, seed=0)
    chars = string.printable  # 100 characters: ids 0..99
    warmup = "".join(chars[i] for i in np.random.default_rng(1).integers(0, VOCAB, SEED_CHARS))
    with tempfile.TemporaryDirectory(prefix="charlstm-cli-bench-") as tmp:
        folder = write_checkpoint(Path(tmp) / "run", model, hp, chars, warmup)
        argv = [sys.executable, "-m", "services.cli.main", "sample", str(folder), "--precision", "int8"]
        argv += ["--length", str(length), "--random-seed", "0", "--out", str(Path(tmp) / "sample.txt")]
        began = time.perf_counter()
        done = subprocess.run(argv, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True)
        seconds = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"charlstm sample failed: {done.stderr[-2000:]}")
    return seconds


def check_targets(
    one: float, overhead: float, peak_fraction: float, many: float, quality: dict, length: int, load: float
) -> None:
    """The reduced-precision comparisons of this run, each with its target (benchmarks/targets.py)."""
    size, at = f"{LAYERS} x {UNITS}, {length:,} chars", f" (load {load:.1f})"
    targets.check("sampling", f"{size}, 1 sample: int8 / float32 speed-up{at}", one, 3.0, goal_of="int8 sampler")
    targets.check(
        "sampling", f"{size}, 1 sample: int8 step outside the products{at}", 100 * overhead, 10.0,
        higher_is_better=False, unit="%", goal_of="int8 sampler",
    )  # fmt: skip
    targets.check(
        "sampling", f"{size}, {COUNT} samples together: int8 fraction of the GEMM peak{at}", peak_fraction, 0.5,
        unit="", goal_of="int8 sampler",
    )  # fmt: skip
    targets.check(
        "sampling", f"{size}, {COUNT} samples together: int8 / float32 speed-up{at}", many, 3.0, goal_of="int8 sampler"
    )
    held_out = f"int8 vs float32 over {quality['chars']:,} teacher-forced chars ({quality['model']})"
    targets.check(
        "sampling", f"{held_out}: mean KL", quality["mean_kl_nats"], 0.01, higher_is_better=False, unit=" nats",
        goal_of="int8 sampler",
    )  # fmt: skip
    targets.check(
        "sampling", f"{held_out}: bits/char difference", 100 * abs(quality["bits_relative_difference"]), 1.0,
        higher_is_better=False, unit="%", goal_of="int8 sampler",
    )  # fmt: skip


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def main() -> dict:
    short = quick()
    length = 2_000 if short else 50_000
    loop_chars = 10 if short else 200
    probe = {1: 500 if short else 4_000, COUNT: 200 if short else 1_000}
    seed = np.random.default_rng(1).integers(0, VOCAB, SEED_CHARS)

    load_before = os.getloadavg()[0]
    peak = measure_gemm_flops()
    began = time.perf_counter()
    model = build_model()
    build_s = time.perf_counter() - began
    began = time.perf_counter()
    net = NumpyLSTM.from_model(model)
    extract_s = time.perf_counter() - began
    fpc = flops_per_char(net)

    # 1 vs 2 BLAS threads, per batch size; the faster is kept for the full runs
    threads: dict[int, Threads] = {}
    default_threads = blas_threads() or 1
    for rows in (1, COUNT):
        per_char = {}
        for n in sorted({1, default_threads}):
            with limit_blas_threads(n):
                per_char[n] = (
                    best_time(
                        lambda rows=rows: generate(net, seed, probe[rows], [TEMPERATURE], count=rows, random_seed=0),
                        repeats=2,
                    )
                    / probe[rows]
                )
        floor = {}
        for n in per_char:
            with limit_blas_threads(n):
                floor[n] = matmul_floor(net, rows, max(50, probe[rows] // 4))
        threads[rows] = Threads(min(per_char, key=lambda n: per_char[n]), per_char, floor)

    def timed_generate(rows: int, repeats: int = 1):
        with limit_blas_threads(threads[rows].best):
            return best_time(lambda: generate(net, seed, length, [TEMPERATURE], count=rows, random_seed=0), repeats)

    # one sample: the best of 2 runs, for float32 and int8 alike (this shared machine's load varies
    # by tens of percent between runs of a few seconds); 16 samples: one run each
    one_s = timed_generate(1, repeats=2)
    many_s = timed_generate(COUNT)

    # int8: quantize, compile (numba; cached on disk after the first run), then the same runs, with
    # 1 or 2 kernel threads as probed (the faster kept, as for BLAS above)
    began = time.perf_counter()
    lows = {1: QuantizedLSTM.from_model(model, threads=1)}
    quantize_s = time.perf_counter() - began
    # what runs: the CLI's lone sample on every usable core; the worker's one batch on its share
    cli_threads, worker_threads = usable_cores(), cores_each(1)
    for n in {cli_threads, worker_threads} - {1}:
        lows[n] = QuantizedLSTM.from_model(model, threads=n)
    began = time.perf_counter()
    for candidate in lows.values():
        for rows in (1, COUNT):
            generate(candidate, seed, 10, [TEMPERATURE], count=rows, random_seed=0)
        candidate.products(1)
    compile_s = time.perf_counter() - began
    low_threads: dict[int, Threads] = {}
    for rows in (1, COUNT):
        per_char, floor = {}, {}
        for n, candidate in lows.items():
            # a step of generate and the products alone, alternately, the best of 3 each: this
            # shared machine's load changes within seconds, and the overhead is their difference
            steps = max(50, probe[rows] // 4)
            per_char[n] = floor[n] = float("inf")
            for _ in range(3):
                per_char[n] = min(
                    per_char[n],
                    best_time(
                        lambda candidate=candidate, rows=rows: generate(
                            candidate, seed, probe[rows], [TEMPERATURE], count=rows, random_seed=0
                        ),
                        repeats=1,
                    )
                    / probe[rows],
                )
                candidate.reset(rows)
                floor[n] = min(
                    floor[n],
                    best_time(lambda candidate=candidate, steps=steps: candidate.products(steps), repeats=1) / steps,
                )
        low_threads[rows] = Threads(min(per_char, key=lambda n: per_char[n]), per_char, floor)

    def low_generate(rows: int, threads: int, repeats: int = 1) -> float:
        low = lows[threads]
        return best_time(lambda: generate(low, seed, length, [TEMPERATURE], count=rows, random_seed=0), repeats)

    low_one_s = low_generate(1, cli_threads, repeats=2)
    low_many_s = low_generate(COUNT, worker_threads)
    low = lows[1]
    low_products = {rows: choice.matmul_seconds_per_step[choice.best] * length for rows, choice in low_threads.items()}

    began = time.perf_counter()
    predict_loop_generate(model, seed, loop_chars, TEMPERATURE, random_seed=0)
    loop_measured_s = time.perf_counter() - began
    per_call = loop_measured_s / (SEED_CHARS + loop_chars)
    loop_s = per_call * (SEED_CHARS + length)  # the same seed and sample length as (b)

    floor1 = threads[1].matmul_seconds_per_step[threads[1].best] * length
    floor16 = threads[COUNT].matmul_seconds_per_step[threads[COUNT].best] * length
    many_flops = fpc * COUNT * length / many_s
    low_many_flops = fpc * COUNT * length / low_many_s

    def overhead(choice: Threads, n: int) -> float:
        """1 - products / step, both per step from the same probe (measured back to back)."""
        return 1.0 - choice.matmul_seconds_per_step[n] / choice.seconds_per_step[n]

    low_overhead = overhead(low_threads[1], low_threads[1].best)
    low_overhead_1 = overhead(low_threads[1], 1)
    f32_overhead = overhead(threads[1], threads[1].best)
    cli_s = cli_sample_seconds(model, length)
    load_timed = os.getloadavg()[0]  # after the timed runs
    quality = quantization_quality(short)
    check_targets(
        one_s / low_one_s, low_overhead, low_many_flops / peak, many_s / low_many_s, quality, length, load_timed
    )
    targets.check(
        "sampling", f"{LAYERS} x {UNITS}, {length:,} chars: `charlstm sample --precision int8` (startup and figures "
        f"included) vs the float32 numpy loop (load {load_timed:.1f})", one_s / cli_s, 2.0, goal_of="the local CLI",
    )  # fmt: skip
    results = {
        "quick": short,
        "load_average_before": load_before,
        "load_average_after_timing": load_timed,
        "model": {"layers": LAYERS, "units": UNITS, "vocab": VOCAB, "stateful": True},
        "seed_chars": SEED_CHARS,
        "length": length,
        "temperature": TEMPERATURE,
        "gemm_flops": peak,
        "flops_per_char": fpc,
        "build_model_seconds": build_s,
        "weight_extraction_seconds": extract_s,
        "blas_threads": {rows: asdict(choice) for rows, choice in threads.items()},
        "predict_loop": {
            "chars_measured": loop_chars,
            "seconds_measured": loop_measured_s,
            "seconds_per_predict": per_call,
            "extrapolated_seconds": loop_s,
            "chars_per_second": 1.0 / per_call,
        },
        "fast_count_1": {
            "seconds": one_s,
            "chars_per_second": length / one_s,
            "speedup_vs_loop": loop_s / one_s,
            "matmul_floor_seconds": floor1,
            "blas_threads": threads[1].best,
        },
        "fast_count_16": {
            "seconds": many_s,
            "chars_per_second": COUNT * length / many_s,
            "speedup_vs_loop": COUNT * loop_s / many_s,
            "matmul_floor_seconds": floor16,
            "flops_per_second": many_flops,
            "fraction_of_gemm_peak": many_flops / peak,
            "blas_threads": threads[COUNT].best,
        },
        "int8": {
            "threads": {rows: asdict(choice) for rows, choice in low_threads.items()},
            "weight_bytes": low.weight_bytes,
            "float32_weight_bytes": sum(w.nbytes for w in net.matrices),
            "quantize_seconds": quantize_s,
            "first_call_seconds": compile_s,
            "cli": {"threads": cli_threads, "process_seconds": cli_s, "vs_float32": one_s / cli_s},
            "count_1": {
                "threads": cli_threads,
                "seconds": low_one_s,
                "chars_per_second": length / low_one_s,
                "speedup_vs_float32": one_s / low_one_s,
                "products_seconds": low_products[1],
                "overhead_fraction": low_overhead,
                "overhead_fraction_1_thread": low_overhead_1,
                "float32_overhead_fraction": f32_overhead,
            },
            "count_16": {
                "threads": worker_threads,
                "seconds": low_many_s,
                "chars_per_second": COUNT * length / low_many_s,
                "speedup_vs_float32": many_s / low_many_s,
                "products_seconds": low_products[COUNT],
                "flops_per_second": low_many_flops,
                "fraction_of_gemm_peak": low_many_flops / peak,
            },
            "quality": quality,
        },
    }
    write_results("sampling", results)

    def row(name, seconds, chars, target=""):
        speedup = loop_s * chars / length / seconds
        return (name, f"{seconds:,.1f}", f"{chars / seconds:,.0f}", f"{speedup:,.0f}x", target)

    table = [
        row(f"predict loop ({loop_chars} chars, extrapolated)", loop_s, length),
        row("fast, 1 sample", one_s, length, "< 15 s, >= 100x" if not short else ""),
        row(f"fast, {COUNT} samples together", many_s, COUNT * length, "< 90 s" if not short else ""),
        row(f"CLI default: int8, {cli_threads} thread(s), 1 sample", low_one_s, length),
        row(f"worker: int8, {worker_threads} thread(s) per batch, {COUNT} together", low_many_s, COUNT * length),
        row("`charlstm sample --precision int8` process", cli_s, length, ">= 2x the fast 1 sample"),
    ]
    print_table(
        f"sampling {LAYERS} x {UNITS}, vocab {VOCAB}, {length:,} characters per sample",
        table,
        header=("", "seconds", "chars/s", "speedup", "target"),
    )
    notes = (
        [
            ("float32 GEMM peak", f"{peak / 1e9:.0f} GFLOP/s"),
            ("matrix products alone, 1 / 16 rows", f"{floor1:.1f} s / {floor16:.1f} s"),
            (
                f"{COUNT} rows: model FLOP/s, fraction of peak",
                f"{many_flops / 1e9:.0f} GFLOP/s, {many_flops / peak:.2f}",
            ),
        ]
        + [
            (f"{rows} row(s): s/50k chars with {n} BLAS thread(s)", f"{s * 50_000:.1f}")
            for rows, t in threads.items()
            for n, s in t.seconds_per_step.items()
        ]
        + [
            (f"int8, {rows} row(s): s/50k chars with {n} kernel thread(s)", f"{s * 50_000:.1f}")
            for rows, t in low_threads.items()
            for n, s in t.seconds_per_step.items()
        ]
    )
    print_table("details", notes)
    verdict = [
        (
            "int8 vs float32, 1 sample",
            f"{one_s / low_one_s:.2f}x faster ({low_one_s:.1f} s vs {one_s:.1f} s)",
            ">= 3x",
        ),
        (
            "int8 step outside the matrix products",
            f"{100 * low_overhead:.0f}% with {low_threads[1].best} thread(s), {100 * low_overhead_1:.0f}% with 1 "
            f"(float32: {100 * f32_overhead:.0f}%)",
            "< 10%",
        ),
        (
            f"int8, {COUNT} samples: fraction of GEMM peak",
            f"{low_many_flops / peak:.2f} ({many_s / low_many_s:.2f}x float32's {many_flops / peak:.2f})",
            ">= 0.5 (or >= 3x float32)",
        ),
        ("int8 weights read per character", f"{low.weight_bytes / 1e6:.1f} MB (float32 {fpc * 2 / 1e6:.1f} MB)", ""),
        (
            f"int8 vs float32, {quality['chars']:,} held-out chars "
            f"({quality['model']}, trained {quality['train_seconds']:.0f} s)",
            f"KL {quality['mean_kl_nats']:.2e} nats; bits/char {quality['bits_per_char_float32']:.4f} -> "
            f"{quality['bits_per_char_int8']:.4f} ({100 * quality['bits_relative_difference']:+.3f}%)",
            "KL < 0.01, bits < 1%",
        ),
    ]
    print_table("reduced precision (int8)", verdict, header=("", "measured", "target"))
    return results


if __name__ == "__main__":
    main()
