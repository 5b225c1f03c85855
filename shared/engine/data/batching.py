"""Turning a corpus of character ids into training arrays, exactly as the paper's sections 2.1 and 4.

Stateless baseline (section 2.1): windows of `seq_len` characters every `step` characters, each
predicting the one next character; the last `validation_split` of the text is held out.

Stateful many-to-many (section 4): the text is split into `batch_size` contiguous rows; each row is
cut into non-overlapping sequences, and the sequences are interleaved so that row i of consecutive
batches is contiguous text. The data is cut to whole batches and the last `validation_split` of
every row is held out for validation, so validation continues each row's state from training.
No array is one-hot: everything stays integer ids.

The shape arithmetic lives in the layout functions (`stateful_layout`, `stateless_layout`,
`layout`): the array builders cut the data by them, and the corpus-length rules
(`min_corpus_chars`, `batches_per_epoch`) are read off them, so the three cannot disagree.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config import Hyperparameters


@dataclass(frozen=True)
class Arrays:
    """Inputs and targets for training and validation. Validation arrays may be empty."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    @property
    def has_validation(self) -> bool:
        return len(self.x_val) > 0


@dataclass(frozen=True)
class Layout:
    """What a corpus of `n_chars` characters gives, counted without touching the data.

    Samples are sequences (stateful, `batch_size` per batch, one per row) or windows (stateless).
    When the corpus is too short, `problem` says what is missing and every count is 0."""

    n_chars: int
    train_samples: int
    validation_samples: int
    batches: int  # training batches per epoch (stateless: the last one may be partial)
    targets_per_sample: int  # stateful: seq_len characters predicted; stateless: 1
    problem: str | None = None

    @property
    def train_targets(self) -> int:
        """Characters predicted per training epoch."""
        return self.train_samples * self.targets_per_sample

    @property
    def validation_targets(self) -> int:
        return self.validation_samples * self.targets_per_sample


def _too_short(n_chars: int, targets_per_sample: int, problem: str) -> Layout:
    return Layout(n_chars, 0, 0, 0, targets_per_sample, problem)


# --- counting ----------------------------------------------------------------------------------


def window_count(n_chars: int, seq_len: int, step: int) -> int:
    """Windows of seq_len characters, every `step`, that have a next character in n_chars."""
    return (n_chars - seq_len - 1) // step + 1 if n_chars > seq_len else 0


def sequence_count(n_chars: int, seq_len: int) -> int:
    """Non-overlapping sequences of seq_len characters whose targets (shifted by one) fit."""
    return max(0, n_chars - 1) // seq_len


def validation_steps(per_row: int, validation_split: float) -> int:
    """How many sequences at the tail of every row are held out."""
    if validation_split <= 0 or per_row < 2:
        return 0
    return min(per_row - 1, max(1, round(per_row * validation_split)))


def training_chars(n_chars: int, validation_split: float) -> int:
    """Stateless: the characters before the held-out tail."""
    return n_chars - int(n_chars * validation_split) if validation_split > 0 else n_chars


def stateful_layout(n_chars: int, seq_len: int, batch_size: int, validation_split: float) -> Layout:
    """Rows of whole sequences; with validation_split > 0 every row needs a second sequence for
    its validation tail."""
    per_row = sequence_count(n_chars, seq_len) // batch_size
    rows_needed = 2 if validation_split > 0 else 1
    if per_row < rows_needed:
        return _too_short(n_chars, seq_len, f"{batch_size} rows of {rows_needed} x {seq_len} characters")
    n_val = validation_steps(per_row, validation_split)
    n_train = per_row - n_val
    return Layout(n_chars, n_train * batch_size, n_val * batch_size, n_train, seq_len)


def stateless_layout(n_chars: int, seq_len: int, step: int, batch_size: int, validation_split: float) -> Layout:
    """Windows of the training part; windows of the held-out tail for validation."""
    cut = training_chars(n_chars, validation_split)
    train = window_count(cut, seq_len, step)
    if train == 0:
        return _too_short(n_chars, 1, f"a training window of {seq_len} characters and its target")
    val = window_count(n_chars - cut, seq_len, step)
    return Layout(n_chars, train, val, -(-train // batch_size), 1)


def _seq_len(hp: Hyperparameters) -> int:
    if hp.seq_len is None:  # Hyperparameters fills it in; only model_construct skips that
        raise ValueError("seq_len is not set")
    return hp.seq_len


def layout(n_chars: int, hyperparameters: Hyperparameters) -> Layout:
    """The layout of a corpus of n_chars characters (after cleaning and transforms)."""
    hp = hyperparameters
    if hp.stateful:
        return stateful_layout(n_chars, _seq_len(hp), hp.batch_size, hp.validation_split)
    return stateless_layout(n_chars, _seq_len(hp), hp.step, hp.batch_size, hp.validation_split)


def _fewest_chars(layout_of: Callable[[int], Layout]) -> int:
    """The smallest n whose layout has something to train on (layouts only grow with n)."""
    low, high = 0, 1  # layout_of(low) is too short; search up to a `high` that is not
    while layout_of(high).problem is not None:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        if layout_of(middle).problem is None:
            high = middle
        else:
            low = middle
    return high


def min_corpus_chars(hyperparameters: Hyperparameters) -> int:
    """The fewest characters (after cleaning and transforms) that `make_arrays` accepts."""
    return _fewest_chars(lambda n: layout(n, hyperparameters))


def batches_per_epoch(n_chars: int, hyperparameters: Hyperparameters) -> int:
    """Training batches per epoch for a corpus of n_chars characters; 0 when it is too short."""
    return layout(n_chars, hyperparameters).batches


def _check(shape: Layout, layout_of: Callable[[int], Layout], knobs: str) -> None:
    if shape.problem is not None:
        need = _fewest_chars(layout_of)
        raise ValueError(
            f"corpus too short: {shape.problem}: {need} characters needed, got {shape.n_chars}; lower {knobs}"
        )


# --- arrays ------------------------------------------------------------------------------------


def windows(ids: np.ndarray, seq_len: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Stateless samples: X[k] = ids[k*step : k*step+seq_len], Y[k] = ids[k*step+seq_len].

    X is a read-only strided view (no copy), so a large corpus costs no extra memory.
    """
    ids = np.asarray(ids)
    count = window_count(len(ids), seq_len, step)
    if count == 0:
        return np.empty((0, seq_len), ids.dtype), np.empty((0,), ids.dtype)
    view = np.lib.stride_tricks.sliding_window_view(ids[: len(ids) - 1], seq_len)[::step][:count]
    return view, ids[seq_len : seq_len + count * step : step]


def sequences(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Many-to-many samples: non-overlapping inputs, each target is its input shifted by one."""
    ids = np.asarray(ids)
    count = sequence_count(len(ids), seq_len)
    x = ids[: count * seq_len].reshape(count, seq_len)
    y = ids[1 : count * seq_len + 1].reshape(count, seq_len)
    return x, y


def interleave(rows: np.ndarray) -> np.ndarray:
    """Rows of consecutive sequences (batch_size, per_row, seq_len) -> the sequences in batch order,
    so that row i of consecutive batches reads rows[i]: with 3 rows 1..4, 5..8, 9..12 the order is
    1,5,9,2,6,10,3,7,11,4,8,12."""
    return rows.swapaxes(0, 1).reshape(-1, *rows.shape[2:])


def stateful_arrays(ids: np.ndarray, seq_len: int, batch_size: int, validation_split: float) -> Arrays:
    """Interleaved many-to-many arrays with the validation tail of every row held out."""
    shape = stateful_layout(len(ids), seq_len, batch_size, validation_split)
    _check(shape, lambda n: stateful_layout(n, seq_len, batch_size, validation_split), "batch_size or seq_len")
    n_train = shape.batches
    per_row = n_train + shape.validation_samples // batch_size
    x, y = sequences(ids, seq_len)

    def split(a):
        rows = a[: per_row * batch_size].reshape(batch_size, per_row, seq_len)
        return interleave(rows[:, :n_train]), interleave(rows[:, n_train:])

    (x_train, x_val), (y_train, y_val) = split(x), split(y)
    return Arrays(x_train, y_train, x_val, y_val)


def stateless_arrays(ids: np.ndarray, seq_len: int, step: int, validation_split: float) -> Arrays:
    """Windows of the first part of the text for training, of the tail for validation."""

    def layout_of(n: int) -> Layout:
        return stateless_layout(n, seq_len, step, 1, validation_split)  # batch size: no effect here

    _check(layout_of(len(ids)), layout_of, "seq_len")
    cut = training_chars(len(ids), validation_split)
    x_train, y_train = windows(ids[:cut], seq_len, step)
    x_val, y_val = windows(ids[cut:], seq_len, step)
    return Arrays(x_train, y_train, x_val, y_val)


def make_arrays(ids: np.ndarray, hyperparameters: Hyperparameters) -> Arrays:
    hp = hyperparameters
    if hp.stateful:
        return stateful_arrays(ids, _seq_len(hp), hp.batch_size, hp.validation_split)
    return stateless_arrays(ids, _seq_len(hp), hp.step, hp.validation_split)
