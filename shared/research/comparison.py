"""Run comparison: the validation curves of several training runs in bits per
character, optionally smoothed (an exponential moving average, as TensorBoard's slider), and one
table row per run: the hyperparameters that vary between them, the best validation bits/char and
its epoch (the engine's `best_epoch`), mean seconds per epoch, mean characters per second, and
sample quality where samples were measured.

Plain data in and out: the API, the pages and the study (benchmarks/study.py) build `Run`s from
database jobs (`run_from_job`) or from the engine's epoch reports and call `compare`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engine.measures.verdict import VERDICTS
from ..engine.training.train import best_epoch
from ..engine.units import LN2

# quality figures shown in the table, when a run's samples carry them (higher is better except bits)
QUALITY_KEYS = ("parse_rate", "balanced_lines", "indent_multiple_of_4", "identifiers_defined", "bits_per_char")


@dataclass(frozen=True)
class EpochFigures:
    """One finished epoch (an engine EpochReport or an Epoch row has these attributes)."""

    epoch: int
    loss: float
    val_loss: float | None
    seconds: float
    chars_per_second: float


@dataclass
class Run:
    id: int | str
    hyperparameters: dict
    epochs: list[EpochFigures]
    status: str = "succeeded"
    quality: dict[str, float] | None = None
    samples: int = 0  # sample texts the quality figures come from
    live: list[tuple[float, float]] = field(default_factory=list)  # (position in epochs, loss nats)
    verdicts: dict[str, int] = field(default_factory=dict)  # sample texts per verdict (measures/verdict.py)
    start_epoch: int = 0  # a continued run's parent's epoch it starts from (its epochs follow it)


def figures(items: Iterable[Any]) -> list[EpochFigures]:
    """EpochFigures of anything with the five attributes, in epoch order."""
    rows = [
        EpochFigures(int(e.epoch), float(e.loss), _finite(e.val_loss), float(e.seconds), float(e.chars_per_second))
        for e in items
    ]
    return sorted(rows, key=lambda r: r.epoch)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def ema(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average with weight `weight` in [0, 1)
    (0: unchanged), debiased so the first points are not pulled toward zero."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {weight}")
    out, last = [], 0.0
    for n, value in enumerate(values, start=1):
        last = last * weight + (1.0 - weight) * value
        out.append(last / (1.0 - weight**n) if weight else value)
    return out


def varying(hyperparameters: Sequence[dict]) -> list[str]:
    """The hyperparameter names whose values differ between runs, in the first run's order."""
    if len(hyperparameters) < 2:
        return []
    names = list(dict.fromkeys(name for hp in hyperparameters for name in hp))
    return [name for name in names if len({repr(hp.get(name)) for hp in hyperparameters}) > 1]


# hyperparameters the table shows in a column of its own (epochs: reached / planned), never again
# among the varying ones
OWN_COLUMNS = ("epochs",)


def varying_columns(names: Sequence[str]) -> list[str]:
    """The varying hyperparameters the table gives a column each: those it does not show anyway."""
    return [name for name in names if name not in OWN_COLUMNS]


def epochs_label(run: Run) -> str:
    """`4 / 5`: the last epoch reached (a continued run counts its parent's) of the planned ones."""
    reached = max([run.start_epoch] + [e.epoch for e in run.epochs])
    planned = run.hyperparameters.get("epochs")
    return f"{reached} / {planned}" if planned else str(reached)


def label(run: Run, names: Sequence[str]) -> str:
    """`optimizer=adam seed=1`: the run's values of the varying names (else `job N`)."""
    if not names:
        return f"job {run.id}" if isinstance(run.id, int) else str(run.id)
    return " ".join(f"{name}={run.hyperparameters.get(name)}" for name in names)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def table_row(run: Run, names: Sequence[str]) -> dict:
    best = best_epoch(run.epochs)
    return {
        "id": run.id,
        "label": label(run, names),
        "status": run.status,
        "varying": {name: run.hyperparameters.get(name) for name in names},
        "epochs": len(run.epochs),
        "epochs_label": epochs_label(run),
        "best_epoch": best.epoch if best else None,
        "best_val_bits": None if best is None or best.val_loss is None else best.val_loss / LN2,
        "last_loss_bits": run.epochs[-1].loss / LN2 if run.epochs else None,
        "seconds_per_epoch": _mean([e.seconds for e in run.epochs]),
        "chars_per_second": _mean([e.chars_per_second for e in run.epochs]),
        "quality": run.quality,
        "samples": run.samples,
        "verdicts": run.verdicts,
        "verdicts_line": verdicts_line(run.verdicts),
    }


def compare(runs: Sequence[Run], smoothing: float = 0.0) -> dict:
    """{"varying": names, "columns": the varying names the table shows, "smoothing": weight,
    "curves": [...], "table": [...]}: per run its
    validation curve [[epoch, bits], ...] (raw and smoothed), its training curve per epoch, its
    live points (training loss within epochs, [[position, bits], ...]) and its table row. The table
    is sorted by best validation bits/char (runs without one last); curves keep the runs' order."""
    names = varying([r.hyperparameters for r in runs])
    curves = []
    for run in runs:
        val = [(e.epoch, e.val_loss / LN2) for e in run.epochs if e.val_loss is not None]
        train = [(e.epoch, e.loss / LN2) for e in run.epochs]
        curves.append(
            {
                "id": run.id,
                "label": label(run, names),
                "val_bits": [[x, y] for x, y in val],
                "val_bits_smoothed": [
                    [x, y] for (x, _), y in zip(val, ema([y for _, y in val], smoothing), strict=True)
                ],
                "train_bits": [[x, y] for x, y in train],
                "live_bits": [[x, loss / LN2] for x, loss in run.live],
            }
        )
    rows = [table_row(run, names) for run in runs]
    rows.sort(key=lambda r: (r["best_val_bits"] is None, r["best_val_bits"] or 0.0, str(r["id"])))
    return {
        "varying": names,
        "columns": varying_columns(names),
        "smoothing": smoothing,
        "curves": curves,
        "table": rows,
    }


def mean_quality(measures: Iterable[dict]) -> tuple[dict[str, float] | None, int]:
    """The mean of each QUALITY_KEYS figure over the texts that have it, and the number of texts."""
    texts = [m for m in measures if isinstance(m, dict)]
    means = {}
    for key in QUALITY_KEYS:
        values = [float(m[key]) for m in texts if isinstance(m.get(key), (int, float)) and math.isfinite(m[key])]
        if values:
            means[key] = sum(values) / len(values)
    return (means or None), len(texts)


def verdict_counts(measures: Iterable[dict]) -> dict[str, int]:
    """How many texts got each verdict, best first (texts measured before verdicts existed have none)."""
    counts: dict[str, int] = {}
    for m in measures:
        if isinstance(m, dict) and isinstance(m.get("verdict"), str):
            counts[m["verdict"]] = counts.get(m["verdict"], 0) + 1
    order = {name: i for i, name in enumerate(reversed(VERDICTS))}
    return dict(sorted(counts.items(), key=lambda item: order.get(item[0], len(order))))


def verdicts_line(counts: dict[str, int]) -> str:
    """`2 parses, 1 degenerate`; `-` when no text has a verdict."""
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "-"


def run_from_job(job: Any, samples: Iterable[Any] = (), live: list[tuple[float, float]] | None = None) -> Run:
    """A Run of a database Job (its Epoch rows) and its samples: the quality figures are read from
    a sample's `quality` (a list of dicts, one per text) where the column exists and is filled."""
    measures: list[dict] = []
    for sample in samples:
        quality = getattr(sample, "quality", None)
        if isinstance(quality, list):
            measures.extend(quality)
        elif isinstance(quality, dict):
            measures.append(quality)
    quality, count = mean_quality(measures)
    status = getattr(job.status, "value", job.status)
    return Run(
        job.id, dict(job.hyperparameters_json), figures(job.epochs), str(status), quality, count, live or [],
        verdict_counts(measures), getattr(job, "parent_epoch", None) or 0,
    )  # fmt: skip
