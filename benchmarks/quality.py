"""Quality benchmark: what a small model writes after a few minutes, next to the paper's sample.

A 2 x 128 stateful model (the default recipe otherwise, but 32 rows per batch: four times the
weight updates of the default 128 in the same time, which a few minutes need) trains for a fixed wall-clock budget on
1,000,000 characters of a Python corpus that is not in the built-in one (the installed
SQLAlchemy package's source); the 50,000 characters after them are held out. Then, at
temperatures 0.5, 0.75 and 1.0, one 50,000-character sample each (seeded with the corpus start),
and for each: bits/char of the sample under the model, top-level blocks parsing, balanced lines,
indented lines at multiples of 4, identifiers defined in their block, character divergence from
the corpus, and novelty against the training text (lines of 20+ characters copied, longest copy,
characters in copies holding 20+ characters other than whitespace). The paper's published
50,000-character sample: 35% of blocks parse, 97.7% of lines balance, 98.5% of indented lines at
multiples of 4.

The training text's own Python figures are shown beside them; the samples are written to
bench-results/quality-samples/. Also: the model's held-out bits/char, and neuron discovery on
10,000 held-out characters (the best cell per feature with its correlation).

Run: python -m benchmarks.quality   (BENCH_BUDGET=training seconds, default 180; BENCH_QUICK=1: a
short smoke run)
"""

from __future__ import annotations

import importlib.util
import math
import os
import tempfile
import time
from pathlib import Path

from shared.engine.config import Hyperparameters
from shared.engine.data.assembly import build_from_folder
from shared.engine.data.corpus import clean
from shared.engine.inference.sample import encode_seed, load_sampler, sample_texts
from shared.engine.inspection.activations import record_text
from shared.engine.inspection.neurons import FEATURES, discover, text_features
from shared.engine.measures.corpus_profile import profile_corpus
from shared.engine.measures.novelty import CorpusIndex
from shared.engine.measures.quality import measure_quality, python_measures
from shared.engine.training.train import TrainingCallbacks, train

from .common import RESULTS_DIR, print_table, quick, write_results

PAPER = {"parse_rate": 0.35, "balanced_lines": 0.977, "indent_multiple_of_4": 0.985}
TEMPERATURES = (0.5, 0.75, 1.0)
PACKAGE = "sqlalchemy"


class Deadline(TrainingCallbacks):
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.began = time.perf_counter()

    def should_stop(self) -> bool:
        return time.perf_counter() - self.began >= self.seconds


def package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def main() -> dict:
    short = quick()
    budget = float(os.environ.get("BENCH_BUDGET", 20 if short else 180))
    train_chars, heldout_chars = (200_000, 20_000) if short else (1_000_000, 50_000)
    length = 5_000 if short else 50_000
    raw = build_from_folder(package_folder(PACKAGE), max_chars=train_chars + heldout_chars)
    train_text, heldout = raw[:train_chars], clean(raw[train_chars:])
    hp = Hyperparameters(layers=2, units=128, batch_size=32, epochs=1000, patience=0)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        result = train(train_text, hp, Path(tmp), Deadline(budget))
        train_seconds = time.perf_counter() - began
        if not result.history:
            raise RuntimeError(f"no epoch finished within {budget:.0f} s: raise BENCH_BUDGET")
        sampler = load_sampler(tmp)
    epochs = len(result.history)
    heldout_ids = encode_seed(heldout, sampler.vocabulary, hp)
    heldout_bits = sampler.net.clone().cross_entropy(heldout_ids) / math.log(2)

    corpus = clean(train_text)
    profile = profile_corpus(corpus)
    began = time.perf_counter()
    index = CorpusIndex.build(corpus)
    index_seconds = time.perf_counter() - began
    began = time.perf_counter()
    texts = sample_texts(sampler, length, list(TEMPERATURES), random_seed=0)
    sample_seconds = time.perf_counter() - began
    reference = python_measures(corpus).__dict__  # the training text itself, for comparison
    samples_dir = RESULTS_DIR / "quality-samples"
    samples_dir.mkdir(parents=True, exist_ok=True)
    per_temperature = {}
    for temperature, text in zip(TEMPERATURES, texts, strict=True):
        (samples_dir / f"T{temperature}.py.txt").write_text(text)
        quality = measure_quality(text, sampler=sampler, corpus=profile).to_dict()
        began = time.perf_counter()
        novelty = index.novelty(text)
        quality["novelty_seconds"] = time.perf_counter() - began
        quality["novelty"] = {k: v for k, v in novelty.to_dict().items() if k != "spans"}
        quality["copied_spans"] = len(novelty.spans)
        per_temperature[str(temperature)] = quality

    analysed = record_text(sampler, heldout[: 2_000 if short else 10_000])
    table = discover(analysed.values, text_features(analysed.text))
    best = {f: table.top(f, 1)[0].to_dict() for f in FEATURES}

    results = {
        "corpus": f"site-packages/{PACKAGE}",
        "train_chars": len(corpus),
        "hyperparameters": hp.model_dump(),
        "budget_seconds": budget,
        "train_seconds": train_seconds,
        "epochs": epochs,
        "best_epoch": result.best_epoch,
        "heldout_bits_per_char": heldout_bits,
        "sample_chars": length,
        "sample_seconds": sample_seconds,
        "index_seconds": index_seconds,
        "paper": PAPER,
        "training_text": reference,
        "temperatures": per_temperature,
        "neurons": {"chars": len(analysed.text), "best": best},
    }
    write_results("quality", results)
    header = ("figure", "paper", "corpus", *(f"T={t}" for t in TEMPERATURES))
    q = [per_temperature[str(t)] for t in TEMPERATURES]
    rows = [
        ("model's confidence, bits/char", "-", "-", *(f"{x['bits_per_char']:.3f}" for x in q)),
        (
            "top-level blocks parsing",
            _pct(PAPER["parse_rate"]),
            _pct(reference["parse_rate"]),
            *(_pct(x["parse_rate"]) for x in q),
        ),
        ("(blocks)", "-", str(reference["blocks"]), *(str(x["blocks"]) for x in q)),
        (
            "lines balanced",
            _pct(PAPER["balanced_lines"]),
            _pct(reference["balanced_lines"]),
            *(_pct(x["balanced_lines"]) for x in q),
        ),
        (
            "indented lines at 4k",
            _pct(PAPER["indent_multiple_of_4"]),
            _pct(reference["indent_multiple_of_4"]),
            *(_pct(x["indent_multiple_of_4"]) for x in q),
        ),
        (
            "identifiers defined in block",
            "-",
            _pct(reference["identifiers_defined"]),
            *(_pct(x["identifiers_defined"]) for x in q),
        ),
        ("char divergence (JS, bits)", "-", "-", *(f"{x['char_divergence']:.4f}" for x in q)),
        ("verdict", "-", "-", *(x["verdict"] for x in q)),
        ("in repeated runs", "-", _pct(profile.repeated_share), *(_pct(x["repeated_share"]) for x in q)),
        ("lines (20+) copied from corpus", "-", "-", *(_pct(x["novelty"]["copied_lines"]) for x in q)),
        ("longest copy (chars)", "-", "-", *(str(x["novelty"]["longest_copy"]) for x in q)),
        ("chars in copies (20+ non-space)", "-", "-", *(_pct(x["novelty"]["copied_chars"] / x["chars"]) for x in q)),
    ]
    print_table(
        f"quality: 2 x 128 on {len(corpus):,} chars of {PACKAGE}, {epochs} epochs in {train_seconds:.0f} s, "
        f"held-out {heldout_bits:.3f} bits/char",
        rows,
        header,
    )
    print_table(
        f"discovered neurons ({len(analysed.text):,} held-out chars; cell state c)",
        [
            (f, f"layer {b['layer']} unit {b['unit']}", f"{b['correlation']:+.3f}")
            if b["correlation"]
            else (f, "-", "constant in this text")
            for f, b in best.items()
        ],
        ("feature", "best cell", "correlation"),
    )
    print(f"novelty index {index_seconds:.2f} s for {index.size:,} bytes; sampling {sample_seconds:.1f} s")
    return results


if __name__ == "__main__":
    main()
