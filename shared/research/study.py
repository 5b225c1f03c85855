"""The study of the paper's open questions, as data: its scales, seeds and
variants (one factor at a time from a base: RMSprop, spaces, sequence length 100, 2 layers, two
seeds each) and its sweep on the service. One owner for `make study` (benchmarks/study.py, which
trains these runs with the engine), `charlstm sweep CORPUS --study SCALE` and the sweeps page's
study presets. No Keras here: the CLI and the web app import it."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.config import Hyperparameters


@dataclass(frozen=True)
class Scale:
    corpus_chars: int
    base: dict
    three_layer_units: int  # units of the 3-layer variant: about the 2-layer model's parameters
    sample_chars: int
    note: str


SCALES = {
    "tiny": Scale(
        60_000,
        {"layers": 2, "units": 32, "batch_size": 16, "epochs": 3, "dropout": 0.1, "patience": 0},
        26,
        500,
        "smoke run: proves the study runs end to end; far too small to answer the questions",
    ),
    "full": Scale(
        1_000_000,
        {"layers": 2, "units": 128, "batch_size": 32, "epochs": 6, "dropout": 0.2, "patience": 0},
        105,
        3000,
        "sized for about 30 minutes on 2 CPU cores",
    ),
    "paper": Scale(
        10_000_000,
        {"layers": 2, "units": 627, "batch_size": 128, "epochs": 30, "dropout": 0.5, "patience": 5},
        512,
        10_000,
        "the paper's size (3 x 512 against 2 x 627): a GPU worker",
    ),
}
SEEDS = (0, 1)
QUESTIONS = {  # question -> the variants that answer it (names below), base first
    "optimizer": ("base", "adam"),
    "indentation": ("base", "tabs"),
    "sequence length": ("seq_len 50", "base", "seq_len 200"),
    "depth at equal parameters": ("base", "3 layers"),
}


def parameters(layers: int, units: int) -> int:
    """The quota's (and the paper's) LSTM weight count: layers x 4 x units x (2 x units + 1)."""
    return layers * 4 * units * (2 * units + 1)


def variants(scale: Scale) -> dict[str, dict]:
    """Each named variant's changes from the base."""
    return {
        "base": {},
        "adam": {"optimizer": "adam"},  # the same learning rate: one factor at a time
        "tabs": {"tabs": True},
        "seq_len 50": {"seq_len": 50},
        "seq_len 200": {"seq_len": 200},
        "3 layers": {"layers": 3, "units": scale.three_layer_units},
    }


def runs_of(scale: Scale) -> list[tuple[str, int, Hyperparameters]]:
    """(variant name, seed, hyperparameters) of every run, in order."""
    return [
        (name, seed, Hyperparameters(**{**scale.base, **change, "seed": seed}))
        for name, change in variants(scale).items()
        for seed in SEEDS
    ]


def sweep_variants(scale: Scale) -> list[dict]:
    """The study as a sweep's explicit variants: every run's full hyperparameters."""
    return [hp.model_dump(exclude_defaults=False) for _name, _seed, hp in runs_of(scale)]


def sweep_name(scale_name: str) -> str:
    return f"paper questions study ({scale_name})"


def sweep_body(scale_name: str, corpus_id: int) -> dict:
    """POST /api/v1/sweeps's body for the study at this scale (a name of SCALES) on a corpus."""
    return {
        "corpus_id": corpus_id,
        "name": sweep_name(scale_name),
        "base": {},
        "variants": sweep_variants(SCALES[scale_name]),
    }
