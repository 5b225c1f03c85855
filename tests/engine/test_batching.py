"""The paper's own examples (sections 2.1 and 4) as tests."""

import numpy as np
import pytest

from shared.engine.batching import (
    interleave, make_arrays, min_corpus_chars, sequences, stateful_arrays, stateless_arrays, windows,
)
from shared.engine.config import Hyperparameters


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
    order = interleave(np.arange(1, 13), batch_size=3)
    assert order.tolist() == [1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12]
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
        assert np.array_equal(text, ids[row * len(text): (row + 1) * len(text)])
    # every target is the next character of the same text
    assert np.array_equal(arrays.y_train[:, :-1], arrays.x_train[:, 1:])


def test_too_short_corpus_is_a_clear_error():
    with pytest.raises(ValueError, match="corpus too short"):
        stateful_arrays(np.arange(50), seq_len=10, batch_size=8, validation_split=0.0)


@pytest.mark.parametrize("mode", ["stateful", "stateless"])
def test_min_corpus_chars_is_exactly_enough(mode):
    hp = Hyperparameters(mode=mode, seq_len=10, batch_size=4, validation_split=0.1, step=3)
    need = min_corpus_chars(hp)
    arrays = make_arrays(np.arange(need) % 7, hp)
    assert len(arrays.x_train) >= 1
    with pytest.raises(ValueError):
        make_arrays(np.arange(need - 1 - (0 if mode == "stateful" else 1)) % 7, hp)


def test_stateless_validation_from_the_tail():
    ids = np.arange(200) % 256
    arrays = stateless_arrays(ids, seq_len=10, step=3, validation_split=0.25)
    assert arrays.y_train.max() < 150 <= arrays.x_val.min()
