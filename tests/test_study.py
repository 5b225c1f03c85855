"""benchmarks/study.py without training: its variants are valid hyperparameters, one factor at a
time with two seeds, the depth question at equal parameter count. Its sweep body is accepted by POST
/api/v1/sweeps: tests/api/test_sweeps.py."""

import pytest

from benchmarks.study import QUESTIONS, SCALES, SEEDS, parameters, runs_of, variants


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
