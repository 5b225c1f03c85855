"""The measurements behind the budgeted recipe (shared/engine/training/budget.py): each row trains
the recipe with one choice changed, through the recipe's own planning (timed batches, whole
epochs fitted to the budget, the budget enforced), on third-party Python the built-in corpus does
not hold (benchmarks/thirdparty.py), and scores it on held-out files it never saw.

The rows run at a sixth of the 15-minute budget on a quarter of the corpus (RECIPE_BUDGET=150
seconds, RECIPE_CHARS=500,000 characters: about the epochs the 15-minute run gets), so that the
rows fit in half an hour. Such short runs misjudge one choice: the schedule (a constant rate won
at 150 s and lost at 15 minutes, docs/recipe.md). `RECIPE_EPOCHS=N` trains every row N epochs
(equal work whatever this machine's speed), `RECIPE_SEEDS=0,1` repeats every row with each seed
(the spread between seeds is the noise a difference must beat).

Run: python -m benchmarks.recipe   (RECIPE_ROWS=name,name: only those rows; BENCH_QUICK=1: a smoke
run). Writes bench-results/recipe.json and bench-results/recipe.md (the table for docs/recipe.md).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import clean, prepare
from shared.engine.inference.sample import encode_seed, load_sampler
from shared.engine.training.budget import RECIPE, measure_speed
from shared.engine.training.train import TrainingCallbacks, train

from .common import RESULTS_DIR, print_table, quick, write_results
from .thirdparty import third_party_python

# name -> (what changes, recipe overrides, fixed hyperparameters)
ROWS: dict[str, tuple[str, dict, dict]] = {
    "recipe": ("the recipe (2 x 256)", {}, {"layers": 2, "units": 256}),
    "constant": ("a constant learning rate (no warm-up, no decay)", {"schedule": "constant"},
                 {"layers": 2, "units": 256}),
    "readme": (
        "today's README recipe: RMSprop 0.0015 constant, sequences of 100, dropout 0.2",
        {"optimizer": "rmsprop", "learning_rate": 0.0015, "schedule": "constant",
         "seq_len": 100, "dropout": 0.2},
        {"layers": 2, "units": 256},
    ),
    "rmsprop": ("RMSprop at the same rate", {"optimizer": "rmsprop"}, {"layers": 2, "units": 256}),
    "lr0.002": ("learning rate 0.002", {"learning_rate": 0.002}, {"layers": 2, "units": 256}),
    "lr0.005": ("learning rate 0.005", {"learning_rate": 0.005}, {"layers": 2, "units": 256}),
    "dropout0.1": ("dropout 0.1", {"dropout": 0.1}, {"layers": 2, "units": 256}),
    "seq100": ("sequences of 100", {"seq_len": 100}, {"layers": 2, "units": 256}),
    "batch32": ("batch 32, rate x 0.71", {"batch_size": 32, "learning_rate": RECIPE["learning_rate"] * 0.5**0.5},
                {"layers": 2, "units": 256}),
    "2x128": ("2 x 128", {}, {"layers": 2, "units": 128}),
    "2x384": ("2 x 384", {}, {"layers": 2, "units": 384}),
}  # fmt: skip


SPEED_SHAPES = ((2, 256), (2, 512))


def speed_rows(vocab: int) -> list[dict]:
    """Training speed of the recipe's networks in float32, in mixed bfloat16 (Keras's policy: faster
    where the matrix products dominate and the CPU has bfloat16 instructions) and compiled by XLA,
    each the fastest of measure_speed's rounds, alternated twice."""
    import keras

    from shared.engine.training import model as engine_model

    rows = []
    for layers, units in SPEED_SHAPES:
        hp = Hyperparameters(**{**RECIPE, "layers": layers, "units": units})
        found: dict[str, float] = {}
        for _ in range(2):
            for variant in ("float32", "mixed_bfloat16", "xla"):
                keras.mixed_precision.set_global_policy("mixed_bfloat16" if variant == "mixed_bfloat16" else "float32")
                built = engine_model.build_model
                if variant == "xla":

                    def jit(hp, vocab_size, steps=None, _built=built):
                        model = _built(hp, vocab_size, steps)
                        model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=True)
                        return model

                    engine_model.build_model = jit
                try:
                    found[variant] = max(found.get(variant, 0.0), measure_speed(hp, vocab))
                finally:
                    engine_model.build_model = built
                    keras.mixed_precision.set_global_policy("float32")
        rows += [{"shape": f"{layers} x {units}", "variant": v, "chars_per_second": c} for v, c in found.items()]
    return rows


def heldout_bits(run_dir: Path, heldout: str) -> float:
    sampler = load_sampler(run_dir)
    ids = encode_seed(clean(heldout), sampler.vocabulary, sampler.hyperparameters)
    return sampler.net.clone().cross_entropy(ids) / math.log(2)


def run_row(name: str, text: str, heldout: str, budget: int, seed: int, epochs: int | None = None) -> dict:
    """One row: trained for the budget (the recipe plans its epochs), or for `epochs` epochs
    whatever the machine's speed (RECIPE_EPOCHS: rows compared at equal work, where the speed does
    not change between them)."""
    _, overrides, fixed = ROWS[name]
    recipe = {**RECIPE, **overrides}
    hp = Hyperparameters(**fixed, budget_seconds=budget, seed=seed, **({"epochs": epochs} if epochs else {}))
    plans = []

    class Plan(TrainingCallbacks):
        def on_train_begin(self, plan):
            plans.append(plan.budget)

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        result = train(text, hp, Path(tmp), Plan(), recipe=recipe)
        seconds = time.perf_counter() - began
        if result.best_epoch is None:
            raise RuntimeError(f"row {name}: no epoch finished within {budget} s")
        bits = heldout_bits(Path(tmp), heldout)
    planned = {"plan": plans[0]}
    chosen = planned["plan"].hyperparameters
    return {
        "row": name,
        "seed": seed,
        "change": ROWS[name][0],
        "hyperparameters": chosen.model_dump(),
        "chars_per_second": planned["plan"].chars_per_second,
        "epochs": len(result.history),
        "stopped": result.stopped,
        "seconds": seconds,
        "heldout_bits": bits,
        "val_bits": [r.val_loss_bits for r in result.history],
        "best_val_bits": min(r.val_loss_bits for r in result.history if r.val_loss_bits is not None),
    }


def main() -> dict:
    short = quick()
    budget = int(os.environ.get("RECIPE_BUDGET", 60 if short else 150))
    chars = int(os.environ.get("RECIPE_CHARS", 100_000 if short else 500_000))
    seeds = [int(s) for s in os.environ.get("RECIPE_SEEDS", "0").split(",")]
    names = [n for n in os.environ.get("RECIPE_ROWS", ",".join(ROWS)).split(",") if n]
    epochs = int(os.environ["RECIPE_EPOCHS"]) if os.environ.get("RECIPE_EPOCHS") else None
    corpus = third_party_python(chars, 20_000 if short else 100_000)
    vocab = len(prepare(corpus.train)[1])
    speeds = speed_rows(vocab) if os.environ.get("RECIPE_SPEEDS", "1") not in ("", "0") else []
    for row in speeds:
        print(f"{row['shape']} {row['variant']}: {row['chars_per_second']:,.0f} chars/s", flush=True)
    rows = []
    for name in names:
        for seed in seeds:
            row = run_row(name, corpus.train, corpus.heldout, budget, seed, epochs)
            rows.append(row)
            print(f"{name} seed {seed}: {row['heldout_bits']:.3f} bits/char, {row['epochs']} epochs", flush=True)
    results = {
        "budget_seconds": budget,
        "epochs": epochs,
        "train_chars": len(corpus.train),
        "heldout_chars": len(corpus.heldout),
        "vocabulary": vocab,
        "packages": list(corpus.packages),
        "rows": rows,
        "speeds": speeds,
    }
    write_results("recipe", results)
    table = markdown(results)
    (RESULTS_DIR / "recipe.md").write_text(table)
    print_table(
        f"the recipe's choices: {budget} s on {len(corpus.train):,} characters, held-out {len(corpus.heldout):,}",
        [(r["row"], r["seed"], f"{r['chars_per_second']:,.0f}", r["epochs"], f"{r['heldout_bits']:.3f}") for r in rows],
        ("row", "seed", "chars/s", "epochs", "held-out bits/char"),
    )
    return results


def markdown(results: dict) -> str:
    """The table of docs/recipe.md: one line per row, seeds averaged, the difference to the recipe."""
    by_row: dict[str, list[dict]] = {}
    for row in results["rows"]:
        by_row.setdefault(row["row"], []).append(row)
    base = by_row.get("recipe")
    base_bits = sum(r["heldout_bits"] for r in base) / len(base) if base else None
    lines = [
        "| row | change from the recipe | chars/s | epochs | held-out bits/char | vs the recipe |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in by_row.items():
        bits = [r["heldout_bits"] for r in rows]
        mean = sum(bits) / len(bits)
        shown = f"{mean:.3f}" + (f" ({min(bits):.3f}-{max(bits):.3f})" if len(bits) > 1 else "")
        delta = "-" if base_bits is None or name == "recipe" else f"{mean - base_bits:+.3f}"
        speed = sum(r["chars_per_second"] for r in rows) / len(rows)
        epochs = "/".join(str(r["epochs"]) for r in rows)
        lines.append(f"| {name} | {rows[0]['change']} | {speed:,.0f} | {epochs} | {shown} | {delta} |")
    if results.get("speeds"):
        lines += ["", "| network | float32 | mixed bfloat16 | XLA |", "|---|---|---|---|"]
        by_shape: dict[str, dict[str, float]] = {}
        for row in results["speeds"]:
            by_shape.setdefault(row["shape"], {})[row["variant"]] = row["chars_per_second"]
        for shape, found in by_shape.items():
            plain = found["float32"]
            cells = [f"{found[v]:,.0f} ({found[v] / plain:.2f}x)" for v in ("mixed_bfloat16", "xla")]
            lines.append(f"| {shape} | {plain:,.0f} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
