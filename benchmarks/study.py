"""The paper's open questions, answered by one reproducible study:

- RMSprop (the paper's) or Adam?
- indentation as 4 spaces or as tabs (fewer characters to predict)?
- sequence length 50, 100 (the paper's) or 200 with stateful training?
- 2 or 3 layers at equal parameter count?

One factor at a time from a base (RMSprop, spaces, length 100, 2 layers), each variant with two
seeds, trained by the engine on the built-in corpus (this machine's Python standard library). The
scales, seeds and variants are shared/research/study.py's (no Keras there: the service's sweep of the same
study, `charlstm sweep CORPUS --study SCALE` or the sweeps page's study preset, reads them too).
Written to bench-results/: study.md (the answers, one SVG of overlaid validation curves per
question, the comparison table of shared/research/comparison.py), study.json, the SVGs, and
study-variants.json (the sweep's variants; `python -m benchmarks.study --sweep-body CORPUS_ID`
prints POST /api/v1/sweeps's body).

STUDY_SCALE: `full` (default; sized for about 30 minutes on 2 CPU cores), `tiny` (a smoke run of a
few minutes: the same code, too small to answer anything) or `paper` (3 x 512 against 2 x 627 on 10
MB, for a GPU). Bits/char of the tabs variant are also given per character of the space-indented
text (the same information over fewer characters), so that the comparison is fair.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from shared.engine.config import Hyperparameters
from shared.engine.training.train import TrainingCallbacks, TrainingPlan
from shared.research.comparison import Run, compare, figures, mean_quality
from shared.research.study import QUESTIONS, SCALES, SEEDS, Scale, parameters, runs_of, sweep_body, sweep_variants

from .common import RESULTS_DIR, machine, write_results


class _Plan(TrainingCallbacks):
    plan: TrainingPlan | None = None

    def on_train_begin(self, plan: TrainingPlan) -> None:
        self.plan = plan


def train_one(text: str, hp: Hyperparameters, scale: Scale, folder: Path) -> dict:
    from shared.engine.inference.sample import load_sampler, sample_texts
    from shared.engine.measures.quality import measure_quality
    from shared.engine.training.train import train

    callbacks = _Plan()
    began = time.perf_counter()
    result = train(text, hp, folder, callbacks=callbacks)
    seconds = time.perf_counter() - began
    sampler = load_sampler(folder)
    sample = sample_texts(sampler, scale.sample_chars, 0.75, random_seed=1)[0]
    quality = measure_quality(sample).to_dict()
    plan = callbacks.plan
    return {
        "history": [r.to_dict() for r in result.history],
        "seconds": seconds,
        "corpus_chars": plan.corpus_chars if plan else None,
        "quality": quality,
    }


def main() -> None:
    argv = sys.argv[1:]
    scale_name = os.environ.get("STUDY_SCALE", "full")
    scale = SCALES[scale_name]
    if argv[:1] == ["--sweep-body"]:
        print(json.dumps(sweep_body(scale_name, int(argv[1])), indent=2))
        return
    from shared.engine.data.assembly import builtin_python_corpus

    text = builtin_python_corpus(max_chars=scale.corpus_chars)
    print(f"study ({scale_name}: {scale.note}): {len(text):,} characters, {len(runs_of(scale))} runs", flush=True)
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="study-") as scratch:
        for index, (name, seed, hp) in enumerate(runs_of(scale)):
            outcome = train_one(text, hp, scale, Path(scratch) / f"run-{index}")
            best = min((r["val_loss_bits"] for r in outcome["history"] if r["val_loss_bits"] is not None), default=None)
            print(
                f"  {name:12s} seed {seed}: best val {best:.3f} bits/char, {outcome['seconds']:.0f} s, "
                f"parse rate {outcome['quality'].get('parse_rate')}",
                flush=True,
            )
            results.append({"variant": name, "seed": seed, "hyperparameters": hp.model_dump(), **outcome})
    total = time.perf_counter() - started
    report = write_report(scale_name, scale, results, total, len(text))
    print(f"study: {total:.0f} s; report in {report}")


# ---- the report -------------------------------------------------------------------------------


def to_run(index: int, result: dict) -> Run:
    from shared.engine.training.train import EpochReport

    reports = [EpochReport.from_dict(r) for r in result["history"]]
    quality, count = mean_quality([result["quality"]])
    hp = {"variant": result["variant"], **result["hyperparameters"]}
    return Run(index + 1, hp, figures(reports), "succeeded", quality, count)


def source_bits(result: dict, base_chars: int | None) -> float | None:
    """Best validation bits per character of the space-indented text (a tabs run predicts fewer
    characters: its bits/char times its characters / the spaces text's characters)."""
    bits = [r["val_loss_bits"] for r in result["history"] if r["val_loss_bits"] is not None]
    if not bits or not base_chars or not result.get("corpus_chars"):
        return None
    return min(bits) * result["corpus_chars"] / base_chars


def _mean_spread(values: list[float]) -> str:
    if not values:
        return "-"
    mean = sum(values) / len(values)
    return f"{mean:.3f} (±{(max(values) - min(values)) / 2:.3f})" if len(values) > 1 else f"{mean:.3f}"


def write_report(scale_name: str, scale: Scale, results: list[dict], total: float, chars: int) -> Path:
    from services.web.overlay import overlay_chart_svg

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    base_chars = next((r["corpus_chars"] for r in results if r["variant"] == "base"), None)
    runs = [to_run(i, r) for i, r in enumerate(results)]
    comparison = compare(runs)
    labels = {
        r["id"]: f"{res['variant']}, seed {res['seed']}" for r, res in zip(comparison["curves"], results, strict=True)
    }
    for curve, res in zip(comparison["curves"], results, strict=True):
        curve.update(label=labels[curve["id"]], group=res["variant"], dashed=res["seed"] != SEEDS[0])
    by_variant: dict[str, list[int]] = {}
    for i, res in enumerate(results):
        by_variant.setdefault(res["variant"], []).append(i)

    lines = [
        "# The paper's open questions: the study",
        "",
        f"`STUDY_SCALE={scale_name}` ({scale.note}); {datetime_now()}; {machine_line()}; total {total / 60:.1f} min.",
        f"Built-in corpus (this machine's Python standard library), first {chars:,} characters; base "
        f"{', '.join(f'{k} {v}' for k, v in scale.base.items())}; RMSprop, spaces, seq_len 100; "
        f"two seeds ({', '.join(map(str, SEEDS))}) per variant; validation: the last 5% of every row.",
        "",
        "## Answers (best validation bits/char, mean over seeds, ± half the spread)",
        "",
        "| question | variant | best val bits/char | per space-indented char | s/epoch | chars/s | parse rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for question, names in QUESTIONS.items():
        for name in names:
            idx = by_variant.get(name, [])
            rows = [next(t for t in comparison["table"] if t["id"] == i + 1) for i in idx]
            best = [r["best_val_bits"] for r in rows if r["best_val_bits"] is not None]
            fair = [b for i in idx if (b := source_bits(results[i], base_chars)) is not None]
            speed = [r["seconds_per_epoch"] for r in rows if r["seconds_per_epoch"]]
            cps = [r["chars_per_second"] for r in rows if r["chars_per_second"]]
            parse = [
                r["quality"]["parse_rate"] for r in rows if r["quality"] and r["quality"].get("parse_rate") is not None
            ]
            hp = results[idx[0]]["hyperparameters"] if idx else {}
            shape = (
                f" ({hp.get('layers')} x {hp.get('units')}, {parameters(hp['layers'], hp['units']):,} weights)"
                if name in ("base", "3 layers") and hp
                else ""
            )
            lines.append(
                f"| {question} | {name}{shape} | {_mean_spread(best)} | {_mean_spread(fair)} | "
                f"{_mean_spread(speed)} | {f'{sum(cps) / len(cps):,.0f}' if cps else '-'} | "
                f"{_mean_spread(parse)} |"
            )
    lines += ["", "## Validation curves", ""]
    for question, names in QUESTIONS.items():
        curves = [comparison["curves"][i] for name in names for i in by_variant.get(name, [])]
        svg = overlay_chart_svg(curves, 760, 320, title=f"{question}: validation bits/char")
        file = f"study-{question.replace(' ', '-')}.svg"
        (RESULTS_DIR / file).write_text(svg)
        lines.append(f"![{question}]({file})")
        lines.append("")
    lines += [
        "## Every run (shared/research/comparison.py's table, best validation first)",
        "",
        "| run | best val bits/char | at epoch | epochs | s/epoch | chars/s | parse rate | balanced lines |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in comparison["table"]:
        q = row["quality"] or {}
        lines.append(
            f"| {labels[row['id']]} | {_fmt(row['best_val_bits'])} | {row['best_epoch']} | {row['epochs']} | "
            f"{_fmt(row['seconds_per_epoch'], '.1f')} | {_fmt(row['chars_per_second'], ',.0f')} | "
            f"{_fmt(q.get('parse_rate'))} | {_fmt(q.get('balanced_lines'))} |"
        )
    lines += [
        "",
        "Parse rate and balanced lines: one sample per run of "
        f"{scale.sample_chars:,} characters at temperature 0.75 (shared/engine/measures/quality.py).",
        f"As a sweep on the service: `charlstm sweep CORPUS_ID --study {scale_name}` (or the sweeps page's preset).",
        "",
    ]
    (RESULTS_DIR / "study-variants.json").write_text(json.dumps(sweep_variants(scale), indent=1))
    report = RESULTS_DIR / "study.md"
    report.write_text("\n".join(lines))
    write_results("study", {"scale": scale_name, "seconds": total, "runs": results, "table": comparison["table"]})
    return report


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def datetime_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine_line() -> str:
    info = machine()
    load = info.get("load_average_1min")
    return (
        f"{info.get('cores')}-core {info.get('cpu')}, 1-minute load average {load:.1f} at the end"
        if load
        else str(info)
    )


if __name__ == "__main__":
    main()
