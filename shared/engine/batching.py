"""Turning a corpus of character ids into training arrays, exactly as the paper's sections 2.1 and 4.

Stateless baseline (section 2.1): windows of `seq_len` characters every `step` characters, each
predicting the one next character.

Stateful many-to-many (section 4): the text is split into `batch_size` contiguous rows; each row is
cut into non-overlapping sequences, and the sequences are interleaved so that row i of consecutive
batches is contiguous text. The data is cut to whole batches and the last `validation_split` of
every row is held out for validation, so validation continues each row's state from training.
No array is one-hot: everything stays integer ids.
"""

from dataclasses import dataclass

import numpy as np

from .config import Hyperparameters


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


def windows(ids: np.ndarray, seq_len: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Stateless samples: X[k] = ids[k*step : k*step+seq_len], Y[k] = ids[k*step+seq_len].

    X is a read-only strided view (no copy), so a large corpus costs no extra memory.
    """
    ids = np.asarray(ids)
    count = (len(ids) - seq_len - 1) // step + 1 if len(ids) > seq_len else 0
    if count <= 0:
        return np.empty((0, seq_len), ids.dtype), np.empty((0,), ids.dtype)
    view = np.lib.stride_tricks.sliding_window_view(ids[: len(ids) - 1], seq_len)[::step][:count]
    return view, ids[seq_len : seq_len + count * step : step]


def sequences(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Many-to-many samples: non-overlapping inputs, each target is its input shifted by one."""
    ids = np.asarray(ids)
    count = (len(ids) - 1) // seq_len
    x = ids[: count * seq_len].reshape(count, seq_len)
    y = ids[1 : count * seq_len + 1].reshape(count, seq_len)
    return x, y


def interleave(seqs: np.ndarray, batch_size: int) -> np.ndarray:
    """Order sequences so that row i of consecutive batches reads contiguous text.

    1..12 with batch size 3 becomes 1,5,9,2,6,10,3,7,11,4,8,12. Extra sequences past a whole
    number of batches are dropped.
    """
    per_row = len(seqs) // batch_size
    rows = seqs[: per_row * batch_size].reshape(batch_size, per_row, *seqs.shape[1:])
    return rows.swapaxes(0, 1).reshape(per_row * batch_size, *seqs.shape[1:])


def validation_steps(per_row: int, validation_split: float) -> int:
    """How many sequences at the tail of every row are held out."""
    if validation_split <= 0 or per_row < 2:
        return 0
    return min(per_row - 1, max(1, round(per_row * validation_split)))


def stateful_arrays(ids: np.ndarray, seq_len: int, batch_size: int, validation_split: float) -> Arrays:
    """Interleaved many-to-many arrays with the validation tail of every row held out."""
    x, y = sequences(ids, seq_len)
    per_row = len(x) // batch_size
    rows_needed = 2 if validation_split > 0 else 1  # a validation tail needs a second sequence per row
    if per_row < rows_needed:
        need = batch_size * seq_len * rows_needed + 1
        raise ValueError(
            f"corpus too short: {batch_size} rows of {rows_needed} x {seq_len} characters need {need}"
            f" characters, got {len(ids)}; lower batch_size or seq_len"
        )
    n_val = validation_steps(per_row, validation_split)
    n_train = per_row - n_val

    def split(a):
        rows = a[: per_row * batch_size].reshape(batch_size, per_row, seq_len)
        train = rows[:, :n_train].swapaxes(0, 1).reshape(-1, seq_len)
        val = rows[:, n_train:].swapaxes(0, 1).reshape(-1, seq_len)
        return train, val

    (x_train, x_val), (y_train, y_val) = split(x), split(y)
    return Arrays(x_train, y_train, x_val, y_val)


def stateless_arrays(ids: np.ndarray, seq_len: int, step: int, validation_split: float) -> Arrays:
    """Windows of the first part of the text for training, of the tail for validation."""
    cut = len(ids) - int(len(ids) * validation_split) if validation_split > 0 else len(ids)
    x_train, y_train = windows(ids[:cut], seq_len, step)
    x_val, y_val = windows(ids[cut:], seq_len, step) if cut < len(ids) else windows(ids[:0], seq_len, step)
    if len(x_train) == 0:
        raise ValueError(f"corpus too short: a window needs {seq_len + 1} characters, got {cut}")
    return Arrays(x_train, y_train, x_val, y_val)


def make_arrays(ids: np.ndarray, hp: Hyperparameters) -> Arrays:
    if hp.stateful:
        return stateful_arrays(ids, hp.seq_len, hp.batch_size, hp.validation_split)
    return stateless_arrays(ids, hp.seq_len, hp.step, hp.validation_split)


def min_corpus_chars(hp: Hyperparameters) -> int:
    """The fewest cleaned characters that give at least one training batch."""
    if hp.stateful:
        rows_needed = 2 if hp.validation_split > 0 else 1
        return hp.batch_size * hp.seq_len * rows_needed + 1
    # stateless: at least one window in the training part
    needed = hp.seq_len + 1
    return int(np.ceil(needed / (1 - hp.validation_split)))
