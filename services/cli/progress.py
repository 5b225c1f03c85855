"""Progress bars for long local work (tqdm): one bar per epoch and one line per finished epoch."""

from tqdm import tqdm

from shared.engine.train import EpochReport, TrainingCallbacks


def bar(**kwargs) -> tqdm:
    return tqdm(dynamic_ncols=True, leave=False, **kwargs)


def epoch_line(report: EpochReport) -> str:
    val = f"val_loss {report.val_loss:.4f} ({report.val_loss_bits:.3f} bits)" if report.val_loss is not None else "no validation"
    return (
        f"epoch {report.epoch}: loss {report.loss:.4f} ({report.loss_bits:.3f} bits), {val}, "
        f"{report.seconds:.1f} s, {report.chars_per_second:,.0f} chars/s"
    )


class ProgressCallbacks(TrainingCallbacks):
    def __init__(self):
        self._bar = None
        self._epochs = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()

    def on_train_begin(self, start_epoch, epochs, batches_per_epoch):
        self._epochs = epochs

    def on_batch_end(self, epoch, batch, batches_per_epoch):
        if self._bar is None:
            self._bar = bar(total=batches_per_epoch, unit="batch", desc=f"epoch {epoch}/{self._epochs}")
        self._bar.update(batch - self._bar.n)

    def on_epoch_end(self, report, checkpoint_dir):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        tqdm.write(epoch_line(report))
