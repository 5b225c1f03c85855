"""The one Celery app. Tasks are routed by name to the `training` and `sampling` queues.

This module imports no TensorFlow: the API imports it to enqueue, and training workers import
TensorFlow only inside the task, after the worker process has forked.

Long training tasks: acks_late + reject_on_worker_lost + prefetch 1, and a Redis visibility
timeout (7 days) longer than any training run, so a running job is not delivered twice.
"""

from celery import Celery

from shared.settings import Settings, get_settings

TRAIN_TASK = "charlstm.train"
SAMPLE_TASK = "charlstm.sample"
TRAINING_QUEUE = "training"
SAMPLING_QUEUE = "sampling"
VISIBILITY_TIMEOUT = 7 * 24 * 3600


def configure_celery(app: Celery, settings: Settings | None = None) -> Celery:
    """Point app at the broker of `settings` (default get_settings()); safe to call again."""
    settings = settings or get_settings()
    broker_url = settings.resolved_broker_url
    transport_options: dict = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if broker_url.startswith("filesystem"):
        folder = settings.broker_folder
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options.update(
            data_folder_in=str(folder / "out"),
            data_folder_out=str(folder / "out"),
            processed_folder=str(folder / "processed"),
            control_folder=str(folder / "control"),
            store_processed=False,
        )
    # forget connection pools made for a previous broker (kombu keys its global pools by URL)
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    app.conf.update(
        broker_url=broker_url,
        task_routes={TRAIN_TASK: {"queue": TRAINING_QUEUE}, SAMPLE_TASK: {"queue": SAMPLING_QUEUE}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=True,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def make_celery(settings: Settings | None = None) -> Celery:
    app = Celery("charlstm", include=["workers.training", "workers.sampling"])
    return configure_celery(app, settings)


celery_app = make_celery()


def enqueue_training(job_id: int, token: str | None = None) -> None:
    """Send a job's message; `token` is the job's dispatch_token (a superseded one is skipped)."""
    celery_app.send_task(TRAIN_TASK, args=[job_id, token])


def enqueue_sampling(sample_id: int, token: str | None = None) -> None:
    celery_app.send_task(SAMPLE_TASK, args=[sample_id, token])


def queue_size(queue: str, app: Celery | None = None) -> int:
    """Messages waiting in `queue` (not those a worker holds); raises when the broker is down."""
    with (app or celery_app).connection_for_read() as conn:
        return conn.default_channel.queue_declare(queue=queue, passive=False).message_count
