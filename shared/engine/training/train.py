"""The training loop: one `fit` call per epoch so that every step of the paper's method is explicit.

Each epoch: reset the LSTM state (the paper author's callback never ran), seed dropout for this
epoch (so a resumed run repeats a straight one), train over the batches, validate, report,
checkpoint, and stop early when validation loss has not improved for `patience` epochs.

Stateful (the paper): the interleaved batches in order, never shuffled, validation on each row's
tail continuing the state from training. Stateless (the Keras example's baseline): the windows
shuffled every epoch, by a permutation seeded with (seed, epoch) so that a resumed run still
repeats a straight one.

`best_epoch` is the one rule for the best epoch (lowest validation loss, the earliest on ties),
used for early stopping, for the checkpoints kept, and by the service.
"""

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from ..config import FORKABLE, Hyperparameters
from ..data.batching import Arrays, Layout, layout, make_arrays
from ..data.corpus import Vocabulary, prepare
from ..units import LN2, bits
from . import checkpoint as ckpt
from . import devices
from .budget import RECIPE, BudgetPlan, epochs_that_fit, plan_budget
from .learning import unigram_entropy

WARMUP_CHARS = 512
# fields that may differ when resuming; everything else defines the model and its data
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "devices", "budget_seconds"})
# changes that need the network rebuilt around the saved weights (REFIT) or a fresh optimizer
REFIT = frozenset({"dropout", "batch_size", "optimizer", "learning_rate", "clipnorm", "schedule", "warmup_steps"})

# "budget": the run's budget_seconds ran out (the partial epoch is dropped, as with a callback's stop)
Stopped = Literal["completed", "early_stopping", "callback", "budget"]


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    loss: float  # nats per character
    val_loss: float | None
    seconds: float
    chars_per_second: float  # training targets per second

    @property
    def loss_bits(self) -> float:
        return self.loss / LN2

    @property
    def val_loss_bits(self) -> float | None:
        return bits(self.val_loss)

    def to_dict(self) -> dict:
        return {**asdict(self), "loss_bits": self.loss_bits, "val_loss_bits": self.val_loss_bits}

    @classmethod
    def from_dict(cls, data: dict) -> "EpochReport":
        return cls(**{k: data[k] for k in ("epoch", "loss", "val_loss", "seconds", "chars_per_second")})


class Scored(Protocol):
    """Anything with an epoch number and a validation loss (EpochReport, a database row)."""

    @property
    def epoch(self) -> int: ...

    @property
    def val_loss(self) -> float | None: ...


S = TypeVar("S", bound=Scored)


def best_epoch(items: Iterable[S]) -> S | None:
    """The item with the lowest validation loss, the earliest epoch among equal losses; items
    without a validation loss (None or NaN) are ignored. None when no item has one."""
    scored = [item for item in items if item.val_loss is not None and not math.isnan(item.val_loss)]
    return min(scored, key=lambda item: (item.val_loss, item.epoch), default=None)


def should_stop_early(history: list[EpochReport], patience: int, since: int = 0) -> bool:
    """True once `patience` epochs have passed without a new best validation loss (0: never),
    counted from epoch `since` at the earliest (a continued run gets its full patience)."""
    best = best_epoch(history)
    return bool(patience) and best is not None and history[-1].epoch - max(best.epoch, since) >= patience


@dataclass(frozen=True)
class TrainingPlan:
    """What a `train` call is about to do; given to `TrainingCallbacks.on_train_begin`."""

    start_epoch: int  # the first epoch this call trains (after a resumed checkpoint's)
    epochs: int  # the last epoch it may train (hyperparameters.epochs)
    batches_per_epoch: int
    targets_per_epoch: int  # characters predicted per epoch
    validation_targets: int  # characters predicted per validation pass (0: no validation)
    corpus_chars: int  # after cleaning and transforms
    vocabulary: Vocabulary  # the model's: after cleaning and transforms
    hyperparameters: Hyperparameters  # as trained (a resumed run's, with the new epochs/patience)
    history: tuple[EpochReport, ...] = ()  # epochs done before (resumed)
    unigram_bits: float | None = None  # bits/char of the corpus's character frequencies (learning.py)
    budget: BudgetPlan | None = None  # a budgeted run's choices and why (budget.py); None otherwise


class TrainingCallbacks:
    """Override what you need; every hook is a no-op by default."""

    def on_train_begin(self, plan: TrainingPlan) -> None: ...

    def on_batch_end(self, epoch: int, batch: int, batches_per_epoch: int) -> None: ...

    def on_batch_loss(self, epoch: int, batch: int, batches_per_epoch: int, loss: float) -> None:
        """After each batch, the epoch's training loss so far (Keras's running mean, nats/char)."""

    def should_stop(self) -> bool:
        """Polled between batches; True stops at that batch boundary (the partial epoch is dropped)."""
        return False

    def on_epoch_end(self, report: EpochReport, checkpoint_dir: Path) -> None:
        """Called once the epoch's checkpoint folder is completely written."""


@dataclass
class TrainResult:
    history: list[EpochReport]
    stopped: Stopped
    best_epoch: int | None
    run_dir: Path
    model: object = field(repr=False)  # the keras.Model as it ended (weights of the last batch)


@dataclass
class _StopFlag:
    stopped: bool = False
    reason: Stopped = "callback"


def _stop_reason(callbacks: TrainingCallbacks, deadline: float | None) -> Stopped | None:
    """ "budget" once the perf_counter `deadline` has passed, "callback" when the callbacks ask."""
    if deadline is not None and time.perf_counter() >= deadline:
        return "budget"
    return "callback" if callbacks.should_stop() else None


def _bridge(callbacks: TrainingCallbacks, epoch: int, batches: int, flag: _StopFlag, deadline: float | None):
    """A Keras callback forwarding batch progress and the stop request (or the budget's end)."""
    import keras

    class Bridge(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            callbacks.on_batch_end(epoch, batch + 1, batches)
            if logs and "loss" in logs:
                callbacks.on_batch_loss(epoch, batch + 1, batches, float(logs["loss"]))
            reason = _stop_reason(callbacks, deadline)
            if reason is not None:
                flag.stopped, flag.reason = True, reason
                self.model.stop_training = True

    return Bridge()


def _seed_dropout(model, seed: int, epoch: int) -> None:
    """Give every random layer a seed that depends only on (seed, epoch, layer)."""
    for i, layer in enumerate(model.layers):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(np.array([seed * 1000 + i, epoch * 1_000_003], dtype="int64"))


def _epoch_inputs(arrays: Arrays, hp: Hyperparameters, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Stateful: the interleaved batches as they are. Stateless: the windows in an order that
    depends only on (seed, epoch)."""
    if hp.stateful:
        return arrays.x_train, arrays.y_train
    order = np.random.default_rng([hp.seed, epoch]).permutation(len(arrays.x_train))
    return arrays.x_train[order], arrays.y_train[order]


def resume_hyperparameters(run_dir: Path, given: dict) -> Hyperparameters:
    """The hyperparameters to resume `run_dir` with: its latest checkpoint's, with the fields in
    `given` (what the user set explicitly) on top; without a checkpoint, `given` on the defaults.
    Only RESUMABLE_CHANGES may differ from the checkpoint (train() refuses the rest)."""
    latest = ckpt.latest_checkpoint(Path(run_dir))
    if latest is None:
        return Hyperparameters(**given)
    return Hyperparameters(**{**ckpt.read_meta(latest)["hyperparameters"], **given})


def _check_resume(saved: Hyperparameters, asked: Hyperparameters, allowed: frozenset[str]) -> Hyperparameters:
    diffs = [
        f"{name}={getattr(saved, name)!r} (asked {getattr(asked, name)!r})"
        for name in Hyperparameters.model_fields
        if name not in allowed and getattr(saved, name) != getattr(asked, name)
    ]
    if diffs:
        raise ValueError("cannot resume: the checkpoint was trained with " + ", ".join(diffs))
    return saved.model_copy(update={name: getattr(asked, name) for name in allowed})


def _refit(saved_model, saved: Hyperparameters, hp: Hyperparameters, vocab_size: int, steps: int):
    """A network built for `hp` carrying the saved weights (the LSTM and Dense weights do not
    depend on dropout or batch size), with the saved optimizer state (moments, iteration count)
    when the optimizer is the same one and none when it changed; learning rate and clipnorm are
    `hp`'s."""
    from .model import build_model

    model = build_model(hp, vocab_size, steps)
    model.set_weights(saved_model.get_weights())
    if hp.optimizer == saved.optimizer:
        model.optimizer.build(model.trainable_variables)
        # a constant rate is a variable of its own, a schedule has none: the rest pairs up
        kept = [v for v in model.optimizer.variables if not v.path.endswith("/learning_rate")]
        old = [v for v in saved_model.optimizer.variables if not v.path.endswith("/learning_rate")]
        for new_var, old_var in zip(kept, old, strict=True):
            new_var.assign(old_var)
    return model


def _check_resumable_here(model, hp: Hyperparameters) -> None:
    """Checkpoints written before StatefulLSTM hold Keras's LSTM, which trains statefully on
    TensorFlow only (model.py): refuse to resume them statefully on another backend."""
    import keras

    from .model import StatefulLSTM, lstm_layers

    backend = keras.backend.backend()
    old = not all(isinstance(layer, StatefulLSTM) for layer in lstm_layers(model))
    if hp.stateful and backend != "tensorflow" and old:
        raise ValueError(f"cannot resume: this checkpoint trains statefully on TensorFlow only, not {backend}")


def train(
    raw_text: str,
    hyperparameters: Hyperparameters,
    run_dir: Path,
    callbacks: TrainingCallbacks | None = None,
    resume: bool = False,
    allowed_changes: frozenset[str] = RESUMABLE_CHANGES,
    patience_from: int = 0,
    recipe: Mapping[str, Any] = RECIPE,
) -> TrainResult:
    """Train on `raw_text` (cleaned and transformed here), checkpointing every epoch into run_dir.

    With resume=True and a checkpoint in run_dir, training continues after its epoch with its
    weights, optimizer state, history and early-stopping state. `allowed_changes` are the fields
    that may differ from the checkpoint's (at most config.FORKABLE: a fork may change the learning
    rate, optimizer (its state is then dropped), clipnorm, dropout and batch size). Early stopping
    counts from epoch `patience_from` at the earliest (a continued run's first epoch).

    With `hyperparameters.budget_seconds`, a fresh run is planned by the budgeted recipe
    (budget.py, `recipe` its choices: the measurements pass variants; the plan is in
    TrainingPlan.budget) and every run stops once the budget, less the
    seconds of the epochs already done, has passed.
    """
    import keras

    from .model import build_model

    hp = hyperparameters
    devices.check(hp)  # before any work: a job this process cannot serve fails at once
    callbacks = callbacks or TrainingCallbacks()
    run_dir = Path(run_dir)
    with devices.scope(hp):  # several devices: Keras's DataParallel splits every batch's rows
        began = time.perf_counter()
        ids, vocab = prepare(raw_text, lowercase=hp.lowercase, tabs=hp.tabs)
        history: list[EpochReport] = []
        budget: BudgetPlan | None = None
        latest = ckpt.latest_checkpoint(run_dir) if resume else None
        if latest is None and hp.budget_seconds is not None:
            budget = plan_budget(len(ids), len(vocab), hp, recipe=recipe)
            hp, ids = budget.hyperparameters, ids[: budget.train_chars]
        if latest is not None:
            saved = ckpt.load(latest)
            hp = _check_resume(saved.hyperparameters, hp, allowed_changes & FORKABLE)
            if saved.vocabulary != vocab:
                raise ValueError("cannot resume: the corpus vocabulary differs from the checkpoint's")
            if saved.hyperparameters.budget_seconds is not None:  # the prefix the plan trained on
                ids = ids[: saved.meta["corpus_chars"]]
            model = saved.model
            _check_resumable_here(model, hp)
            if any(getattr(hp, name) != getattr(saved.hyperparameters, name) for name in REFIT):
                model = _refit(
                    saved.model, saved.hyperparameters, hp, len(vocab), layout(len(ids), hp).batches * hp.epochs
                )
            history = [EpochReport.from_dict(d) for d in saved.meta["history"]]
        else:
            keras.utils.set_random_seed(hp.seed)
            model = build_model(hp, len(vocab), layout(len(ids), hp).batches * hp.epochs)
        arrays = make_arrays(ids, hp)
        deadline = None
        if hp.budget_seconds is not None:
            deadline = began + hp.budget_seconds - sum(report.seconds for report in history)

        meta_base = {
            "hyperparameters": hp.model_dump(),
            "vocabulary": vocab.to_json(),
            "transforms": {"lowercase": hp.lowercase, "tabs": hp.tabs},
            "warmup_text": vocab.decode(ids[:WARMUP_CHARS]),
            "corpus_chars": int(len(ids)),
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
        }
        shape = layout(len(ids), hp)
        plan = TrainingPlan(
            start_epoch=len(history) + 1,
            epochs=hp.epochs,
            batches_per_epoch=shape.batches,
            targets_per_epoch=shape.train_targets,
            validation_targets=shape.validation_targets,
            corpus_chars=len(ids),
            vocabulary=vocab,
            hyperparameters=hp,
            history=tuple(history),
            unigram_bits=unigram_entropy({vocab.chars[i]: int(n) for i, n in enumerate(np.bincount(ids)) if n}),
            budget=budget,
        )
        callbacks.on_train_begin(plan)
        replan = budget is not None and budget.replan
        return _loop(model, hp, arrays, shape, history, run_dir, callbacks, meta_base, patience_from, deadline, replan)


def _loop(
    model,
    hp,
    arrays: Arrays,
    shape: Layout,
    history,
    run_dir,
    callbacks,
    meta_base,
    patience_from: int = 0,
    deadline: float | None = None,
    replan: bool = False,
) -> TrainResult:
    """The epochs; `replan` (a budgeted run whose epochs the recipe chose): after each epoch, the
    epochs that still fit the budget (budget.epochs_that_fit), the cosine schedule re-spanned."""
    from .model import learning_rate, reset_states

    stopped: Stopped = "completed"
    epoch = len(history)
    while (epoch := epoch + 1) <= hp.epochs:
        if history and should_stop_early(history, hp.patience, patience_from):
            stopped = "early_stopping"
            break
        reason = _stop_reason(callbacks, deadline)  # asked before this epoch's first batch (model build, resume)
        if reason is not None:
            stopped = reason
            break
        began = time.perf_counter()
        reset_states(model)
        _seed_dropout(model, hp.seed, epoch)
        flag = _StopFlag()
        x, y = _epoch_inputs(arrays, hp, epoch)
        fit = model.fit(
            x, y, batch_size=hp.batch_size, epochs=1, shuffle=False, verbose=0,
            callbacks=[_bridge(callbacks, epoch, shape.batches, flag, deadline)],
        )  # fmt: skip
        trained = time.perf_counter() - began
        if flag.stopped:
            stopped = flag.reason
            break
        val_loss = None
        if arrays.has_validation:  # stateful: the state carries on from each row's training part
            val_loss = float(model.evaluate(arrays.x_val, arrays.y_val, batch_size=hp.batch_size, verbose=0))
        report = EpochReport(
            epoch=epoch,
            loss=float(fit.history["loss"][-1]),
            val_loss=val_loss,
            seconds=time.perf_counter() - began,
            chars_per_second=shape.train_targets / trained,
        )
        history.append(report)
        best = best_epoch(history)
        meta = {
            **meta_base,
            "epoch": epoch,
            "history": [r.to_dict() for r in history],
            "best_epoch": best.epoch if best else None,
            "best_val_loss": best.val_loss if best else None,
        }
        path = ckpt.save(model, meta, run_dir)
        ckpt.prune(run_dir, keep={epoch} | ({best.epoch} if best else set()))
        callbacks.on_epoch_end(report, path)
        if replan and deadline is not None:
            epochs = epochs_that_fit([r.seconds for r in history], deadline - time.perf_counter())
            if epochs != hp.epochs:
                hp = hp.model_copy(update={"epochs": epochs})
                meta_base = {**meta_base, "hyperparameters": hp.model_dump()}
                model.optimizer.learning_rate = learning_rate(hp, shape.batches * epochs)
                model.train_function = None  # traced with the old schedule: trace again
    best = best_epoch(history)
    return TrainResult(history, stopped, best.epoch if best else None, run_dir, model)
