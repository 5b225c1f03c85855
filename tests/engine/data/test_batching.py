"""The paper's own examples (sections 2.1 and 4) as tests."""

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.batching import (
    batches_per_epoch,
    interleave,
    layout,
    make_arrays,
    min_corpus_chars,
    sequences,
    stateful_arrays,
    stateless_arrays,
    windows,
)


def chars(a):
    return ["".join(map(chr, row)) for row in np.atleast_2d(a)]


ABC = np.frombuffer(b"abcdefghi", dtype=np.uint8)


def test_windows_match_section_2_1():
    x, y = windows(ABC, seq_len=4, step=2)
    assert chars(x) == ["abcd", "cdef", "efgh"]
    assert "".join(map(chr, y)) == "egi"


def test_windows_are_a_view_not_a_copy():
    ids = np.arange(10_000, dtype=np.uint8)
    x, _ = windows(ids, 40, 3)
    assert np.shares_memory(x, ids)


def test_many_to_many_match_section_4_with_the_typo_fixed():
    x, y = sequences(ABC, seq_len=4)
    assert chars(x) == ["abcd", "efgh"]
    assert chars(y) == ["bcde", "fghi"]  # the paper prints "b c d f", a typo


def test_interleaving_1_to_12_with_batch_size_3():
    order = interleave(np.arange(1, 13).reshape(3, 4))
    assert order.tolist() == [1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12]
    # what stateful_arrays trains on: the paper's sequences 1..12 (here inputs 0..11, one character each)
    arrays = stateful_arrays(np.arange(13), seq_len=1, batch_size=3, validation_split=0.0)
    assert (arrays.x_train.ravel() + 1).tolist() == order.tolist()
    batches = order.reshape(4, 3)
    rows = batches.T  # row i of consecutive batches
    assert rows.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]


def test_validation_is_the_tail_of_every_row():
    ids = np.arange(0, 13)  # sequences 1..12 are ids 1..12 as targets; inputs 0..11
    arrays = stateful_arrays(ids, seq_len=1, batch_size=3, validation_split=0.25)
    # inputs: the paper's 1..12 are our 0..11; targets are the next id
    assert (arrays.x_train.ravel() + 1).tolist() == [1, 5, 9, 2, 6, 10, 3, 7, 11]
    assert (arrays.x_val.ravel() + 1).reshape(-1, 3).T.tolist() == [[4], [8], [12]]
    assert (arrays.y_val.ravel()).tolist() == [4, 8, 12]


def test_data_cut_to_whole_batches_and_rows_are_contiguous_text():
    ids = np.arange(1000) % 251
    arrays = stateful_arrays(ids, seq_len=7, batch_size=4, validation_split=0.2)
    assert len(arrays.x_train) % 4 == 0 and len(arrays.x_val) % 4 == 0
    full = np.concatenate([arrays.x_train.reshape(-1, 4, 7), arrays.x_val.reshape(-1, 4, 7)])
    for row in range(4):
        text = full[:, row].ravel()
        assert np.array_equal(text, ids[row * len(text) : (row + 1) * len(text)])
    # every target is the next character of the same text
    assert np.array_equal(arrays.y_train[:, :-1], arrays.x_train[:, 1:])


def test_too_short_corpus_is_a_clear_error():
    with pytest.raises(ValueError, match="corpus too short: 8 rows of 1 x 10 characters: 81 characters needed, got 50"):
        stateful_arrays(np.arange(50), seq_len=10, batch_size=8, validation_split=0.0)
    with pytest.raises(ValueError, match="corpus too short: a training window of 10 .*: 11 characters needed, got 10"):
        stateless_arrays(np.arange(10), seq_len=10, step=3, validation_split=0.0)


GRID = [
    {"mode": mode, "seq_len": seq_len, "batch_size": batch_size, "step": step, "validation_split": split}
    for mode in ("stateful", "stateless")
    for seq_len in (2, 3, 10, 40)
    for batch_size in (1, 3, 8)
    for step in (1, 3, 7)
    for split in (0.0, 0.05, 0.1, 0.25, 0.5)
    if mode == "stateless" or step == 1  # step means nothing to the stateful mode
]


@pytest.mark.parametrize("params", GRID, ids=lambda p: "-".join(str(v) for v in p.values()))
def test_min_corpus_chars_is_exactly_enough(params):
    hp = Hyperparameters(**params)
    need = min_corpus_chars(hp)
    arrays = make_arrays(np.arange(need) % 7, hp)
    assert len(arrays.x_train) >= 1
    with pytest.raises(ValueError, match=f"corpus too short: .*: {need} characters needed, got {need - 1}"):
        make_arrays(np.arange(need - 1) % 7, hp)
    assert batches_per_epoch(need - 1, hp) == 0 < batches_per_epoch(need, hp)


def test_the_stateless_off_by_one_is_gone():
    """seq_len 10 and a 10% split: 12 characters keep 11 for training, one window and its target."""
    hp = Hyperparameters(mode="stateless", seq_len=10, validation_split=0.1)
    assert min_corpus_chars(hp) == 12
    assert len(make_arrays(np.arange(12), hp).x_train) == 1
    stateful = Hyperparameters(seq_len=100, batch_size=128, validation_split=0.05)
    assert min_corpus_chars(stateful) == 128 * 100 * 2 + 1  # every row: one training, one validation sequence


@pytest.mark.parametrize("params", GRID[::7], ids=lambda p: "-".join(str(v) for v in p.values()))
def test_layout_counts_what_make_arrays_builds(params):
    hp = Hyperparameters(**params)
    for n in (min_corpus_chars(hp), 997, 5003):
        shape = layout(n, hp)
        if shape.problem is not None:
            continue
        arrays = make_arrays(np.arange(n) % 251, hp)
        assert shape.train_samples == len(arrays.x_train) and shape.validation_samples == len(arrays.x_val)
        assert shape.train_targets == arrays.y_train.size and shape.validation_targets == arrays.y_val.size
        assert shape.batches == batches_per_epoch(n, hp) == -(-len(arrays.x_train) // hp.batch_size)


def test_stateless_validation_from_the_tail():
    ids = np.arange(200) % 256
    arrays = stateless_arrays(ids, seq_len=10, step=3, validation_split=0.25)
    assert arrays.y_train.max() < 150 <= arrays.x_val.min()
