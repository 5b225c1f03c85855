"""Sample figures benchmark: what the sampling worker spends measuring a sample (quality and
novelty, workers/sampling.py `measure_texts`) against what it spends generating it.

Corpus: the built-in Python corpus, 10,000,000 characters (quick: 1,000,000), cleaned: the time to
build its novelty index (`CorpusIndex.build`), to save and load it (as the worker stores it next
to the corpus), and its character counts and Python check (`workers/corpus_index.py`).
Models: stateful 2 x 128 and 3 x 512 over the corpus's vocabulary, random weights (timing does not
depend on training). For each, one 50,000-character sample (quick: 5,000) at temperature 0.75 on
the service's default int8 path, then its figures: quality (bits/char under the float32 model,
the Python measures, the character divergence) and novelty (against the index), each timed, and
the ratio figures / generation. bits/char is measured by the worker on the first 10,000 characters
(`sample_report.BITS_CHARS`); the time over the whole text is reported too.

Run: python -m benchmarks.sample_figures   (BENCH_QUICK=1 or --quick: smaller corpus and sample)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from shared.engine.data.assembly import builtin_python_corpus
from shared.engine.data.corpus import Vocabulary, clean
from shared.engine.inference.lowp import QuantizedLSTM
from shared.engine.inference.numpy_lstm import NumpyLSTM
from shared.engine.inference.sample import Sampler, sample_texts
from shared.engine.measures.novelty import CorpusIndex
from shared.engine.measures.quality import measure_quality
from shared.engine.measures.sample_report import BITS_CHARS, cap_spans, counts_of_bytes, looks_like_python, measure_text

from .common import machine, print_table, quick, write_results

SIZES = ((2, 128), (3, 512))
TEMPERATURE = 0.75


def sampler_for(layers: int, units: int, vocabulary: Vocabulary, warmup: str) -> Sampler:
    from shared.engine.config import Hyperparameters
    from shared.engine.training.model import build_model

    hp = Hyperparameters(mode="stateful", layers=layers, units=units, batch_size=1, seq_len=100, seed=0)
    model = build_model(hp, len(vocabulary))
    rng = np.random.default_rng(0)
    model.set_weights(
        [w if w.ndim > 1 else rng.normal(0.0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return Sampler(
        net=NumpyLSTM.from_model(model),
        vocabulary=vocabulary,
        hyperparameters=hp,
        warmup_text=warmup,
        epoch=1,
        reduced={"int8": QuantizedLSTM.from_model(model)},
    )


def timed(fn):
    began = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - began


def main() -> dict:
    short = quick()
    corpus_chars, length = (1_000_000, 5_000) if short else (10_000_000, 50_000)
    corpus, prepare = timed(lambda: clean(builtin_python_corpus(max_chars=corpus_chars)))
    index, build = timed(lambda: CorpusIndex.build(corpus))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "index.npz"
        _, save = timed(lambda: index.save(path))
        size = path.stat().st_size
        _, load = timed(lambda: CorpusIndex.load(path))
    counts, count_seconds = timed(lambda: counts_of_bytes(corpus.encode("ascii")))
    python, python_seconds = timed(lambda: looks_like_python(corpus))
    results: dict = {
        "machine": machine(),
        "corpus_chars": len(corpus),
        "corpus_prepare_seconds": prepare,
        "index_build_seconds": build,
        "index_save_seconds": save,
        "index_load_seconds": load,
        "index_bytes": size,
        "counts_seconds": count_seconds,
        "python_check_seconds": python_seconds,
        "python": python,
        "sample_chars": length,
        "models": {},
    }
    vocabulary = Vocabulary.from_text(corpus)
    rows = []
    for layers, units in SIZES:
        sampler = sampler_for(layers, units, vocabulary, corpus[:100])
        sample_texts(sampler, 200, [TEMPERATURE], random_seed=0, precision="int8")  # compile the kernels
        (text,), generation = timed(
            lambda s=sampler: sample_texts(s, length, [TEMPERATURE], random_seed=1, precision="int8")
        )
        _, whole = timed(lambda s=sampler, t=text: measure_quality(t, python=python, sampler=s, corpus_counts=counts))
        _, quality = timed(
            lambda s=sampler, t=text: measure_text(t, sampler=s, python=python, corpus_counts=counts)
        )  # what the worker does: bits/char over the first BITS_CHARS characters
        _, no_model = timed(lambda t=text: measure_quality(t, python=python, corpus_counts=counts))
        _, novelty = timed(lambda t=text: cap_spans(index.novelty(t).to_dict()))
        figures = quality + novelty
        name = f"{layers}x{units}"
        results["models"][name] = {
            "generation_int8_seconds": generation,
            "quality_seconds": quality,
            "quality_bits_chars": BITS_CHARS,
            "quality_bits_over_the_whole_text_seconds": whole,
            "quality_without_bits_per_char_seconds": no_model,
            "novelty_seconds": novelty,
            "figures_over_generation": figures / generation,
        }
        cells = (generation, whole, quality, no_model, novelty, figures / generation)
        rows.append((name, *(f"{value:.2f}" for value in cells)))
    print_table(
        f"corpus {len(corpus):,} chars: index built in {build:.2f} s ({size / 1e6:.0f} MB, saved {save:.2f} s, "
        f"loaded {load:.2f} s); {length:,}-char sample at T={TEMPERATURE}, int8",
        rows,
        header=(
            "model",
            "generate s",
            "quality (bits/char of all) s",
            f"quality (bits/char of {BITS_CHARS:,}) s",
            "(no bits/char) s",
            "novelty s",
            "figures / generate",
        ),  # fmt: skip
    )
    write_results("sample_figures", results)
    return results


if __name__ == "__main__":
    main()
