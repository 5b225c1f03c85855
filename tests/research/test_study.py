"""The study (shared/research/study.py, trained by benchmarks/study.py) without training: its variants are
valid hyperparameters, one factor at a time with two seeds, the depth question at equal parameter
count; the module loads no Keras (the CLI and the web app import it). Its sweep body is accepted by
POST /api/v1/sweeps: tests/api/test_sweeps.py."""

import subprocess
import sys

import pytest

from shared.research.study import QUESTIONS, SCALES, SEEDS, parameters, runs_of, sweep_body, variants


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_variants_change_one_factor_and_keep_the_parameter_count(scale):
    runs = runs_of(SCALES[scale])
    assert len(runs) == len(variants(SCALES[scale])) * len(SEEDS) == 12
    base = next(hp for name, seed, hp in runs if name == "base" and seed == 0)
    for name, _seed, hp in runs:
        changed = {k for k, v in hp.model_dump().items() if v != getattr(base, k)} - {"seed"}
        assert changed <= {"base": set(), "adam": {"optimizer"}, "tabs": {"tabs"}, "seq_len 50": {"seq_len"},
                            "seq_len 200": {"seq_len"}, "3 layers": {"layers", "units"}}[name]  # fmt: skip
    deep = next(hp for name, _, hp in runs if name == "3 layers")
    assert (base.layers, deep.layers) == (2, 3)
    assert abs(parameters(deep.layers, deep.units) / parameters(base.layers, base.units) - 1) < 0.03
    assert {n for names in QUESTIONS.values() for n in names} == set(variants(SCALES[scale]))


def test_the_sweep_is_every_run_named_after_its_scale_and_loads_no_keras():
    body = sweep_body("full", 7)
    assert (body["corpus_id"], body["name"], body["base"]) == (7, "paper questions study (full)", {})
    assert body["variants"] == [hp.model_dump() for _, _, hp in runs_of(SCALES["full"])]
    code = "import sys, shared.research.study; print(sorted({'keras', 'tensorflow', 'flask'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == "[]\n"
