"""Progress display (tqdm): bars, the one line per finished epoch (for local training and for a
job watched on the service), and the engine callbacks of local training."""

from collections.abc import Mapping

from tqdm import tqdm

from shared.engine.training.train import TrainingCallbacks, TrainingPlan
from shared.engine.units import LN2


def bar(**kwargs) -> tqdm:
    return tqdm(dynamic_ncols=True, leave=False, **kwargs)


def loss_words(nats: float, bits: float | None = None) -> str:
    """A loss as a person reads it: bits per character first, nats beside it."""
    bits = nats / LN2 if bits is None else bits
    return f"{bits:.3f} bits/char ({nats:.4f} nats)"


def epoch_line(row: Mapping) -> str:
    """An epoch as `EpochReport.to_dict` or the API gives it."""
    val = (
        "no validation"
        if row.get("val_loss") is None
        else f"val_loss {loss_words(row['val_loss'], row.get('val_loss_bits'))}"
    )
    return (
        f"epoch {row['epoch']}: loss {loss_words(row['loss'], row.get('loss_bits'))}, {val}, "
        f"{row['seconds']:.1f} s, {row['chars_per_second']:,.0f} chars/s"
    )


def plan_line(plan: TrainingPlan) -> str:
    resumed = f", resuming after epoch {plan.start_epoch - 1}" if plan.start_epoch > 1 else ""
    return (
        f"{plan.corpus_chars:,} characters ({len(plan.vocabulary)} distinct), "
        f"{plan.batches_per_epoch:,} batches per epoch{resumed}"
    )


class ProgressCallbacks(TrainingCallbacks):
    def __init__(self):
        self._bar = None
        self._epochs = 0
        self.plan = None  # what training is about to do, once it begins

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()

    def on_train_begin(self, plan):
        from shared.engine.training.sizing import advice

        self._epochs, self.plan = plan.epochs, plan
        tqdm.write(plan_line(plan))
        if plan.budget is not None:
            tqdm.write(f"budgeted recipe for {plan.hyperparameters.budget_seconds:,} s:")
            for reason in plan.budget.reasons:
                tqdm.write(f"  {reason}")
        for note in advice(plan.corpus_chars, plan.hyperparameters, len(plan.vocabulary)):
            tqdm.write(f"warning: {note}")

    def on_batch_end(self, epoch, batch, batches_per_epoch):
        if self._bar is None:
            self._bar = bar(total=batches_per_epoch, unit="batch", desc=f"epoch {epoch}/{self._epochs}")
        self._bar.update(batch - self._bar.n)

    def on_epoch_end(self, report, checkpoint_dir):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        tqdm.write(epoch_line(report.to_dict()))
