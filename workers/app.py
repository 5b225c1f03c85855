"""The workers' Celery app: the queue contract's app (shared.queue.make_celery) with the training
and sampling tasks (and the neuron analysis task, on the sampling queue) registered, and the
graceful-stop and worker-registry hooks connected. Built by `python -m workers ...` from the
settings; nothing is configured at import. With LOG_FORMAT=json, Celery leaves logging (and
stdout) to shared.logs: a `setup_logging` receiver means Celery configures none of its own.

This module imports no TensorFlow: training workers import it only inside the task, after the
worker process has forked.
"""

from celery import Celery, signals

from shared.queue import ANALYSIS_TASK, SAMPLE_TASK, TRAIN_TASK, make_celery
from shared.settings import Settings

from . import analysis, registration, sampling, shutdown, training


def create_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings)
    app.task(name=TRAIN_TASK, bind=True)(training.train_task)
    app.task(name=SAMPLE_TASK, bind=True)(sampling.sample_task)
    app.task(name=ANALYSIS_TASK, bind=True)(analysis.analysis_task)
    shutdown.connect()
    registration.connect()
    if settings.log_format == "json":
        signals.setup_logging.connect(_logging_is_ours, weak=False)
    return app


def _logging_is_ours(**kwargs) -> None:
    """Connected, it tells Celery that logging is set up (shared.logs.configure, before the worker starts)."""
