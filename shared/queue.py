"""The queue contract, in one place: task and queue names, the Celery app factory, the send
functions and queue depths. The API, the admin pages, the workers and the reconciler all go
through this module; none of them names a task or a queue itself.

The broker carries only "run job N" / "run sample N" / "run analysis N" messages (analyses on the
sampling queue), each with the record's current dispatch token (a worker skips a message whose
token is not the record's current one); every state lives in the database (shared.lifecycle).
A message is known by its task as well as its record's id (`MessageKey`): sample 7 and analysis 7
share the sampling queue.

Long training tasks: acks_late + reject_on_worker_lost + prefetch 1, and a Redis visibility
timeout (7 days) longer than any training run, so a running job is not delivered twice.
Nothing is configured at import: `make_celery(settings)` builds a new app. No TensorFlow here.
"""

from __future__ import annotations

import base64
import contextlib
import json

from celery import Celery

from .settings import Settings

TRAIN_TASK = "charlstm.train"
SAMPLE_TASK = "charlstm.sample"
ANALYSIS_TASK = "charlstm.analyze"  # runs on the sampling queue
TRAINING_QUEUE = "training"
SAMPLING_QUEUE = "sampling"
QUEUES = (TRAINING_QUEUE, SAMPLING_QUEUE)
VISIBILITY_TIMEOUT = 7 * 24 * 3600
CONNECT_TIMEOUT = 2.0  # seconds: a broker that does not answer by then is down
FILESYSTEM_POLLING_INTERVAL = 0.1  # seconds between two reads of the filesystem broker's folders
FILESYSTEM_TRANSPORT = "shared.broker_fs:Transport"  # kombu's, with atomic writes and malformed files skipped


def uses_filesystem_broker(settings: Settings) -> bool:
    return settings.resolved_broker_url.startswith("filesystem")


def transport_options(settings: Settings) -> dict:
    """Broker transport options: the visibility timeout, and the folders of the filesystem
    broker (the embedded default), created here; malformed message files go to its bad/ folder."""
    options: dict = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if uses_filesystem_broker(settings):
        folder = settings.broker_folder
        for sub in ("out", "processed", "control", "bad"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options.update(
            data_folder_in=str(folder / "out"),
            data_folder_out=str(folder / "out"),
            processed_folder=str(folder / "processed"),
            control_folder=str(folder / "control"),
            quarantine_folder=str(folder / "bad"),
            store_processed=False,
            # the folder is read every polling_interval (kombu's default: 1 s): messages and the
            # control broadcasts (celery inspect) waited up to that long at every hop
            polling_interval=FILESYSTEM_POLLING_INTERVAL,
        )
    return options


def make_celery(settings: Settings) -> Celery:
    """A new Celery app on the broker of `settings`, with the routes and delivery guarantees of
    the contract. Workers register their tasks on it (workers/app.py); senders use it as is.
    A filesystem:// broker runs on shared.broker_fs's transport, never kombu's own."""
    app = Celery("charlstm", set_as_current=False)
    app.conf.update(
        broker_url=settings.resolved_broker_url,
        broker_transport=FILESYSTEM_TRANSPORT if uses_filesystem_broker(settings) else None,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_routes={
            TRAIN_TASK: {"queue": TRAINING_QUEUE},
            SAMPLE_TASK: {"queue": SAMPLING_QUEUE},
            ANALYSIS_TASK: {"queue": SAMPLING_QUEUE},
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        worker_hijack_root_logger=True,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


# A send (from a web request, the admin pages or the reconciler) answers or fails within a few
# seconds: a connection of its own with CONNECT_TIMEOUT for connecting and for each socket
# operation (Redis), and at most SEND_RETRIES quick publish retries; the caller then answers 503.
SEND_RETRIES = 2
SEND_RETRY_POLICY = {"max_retries": SEND_RETRIES, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
SEND_TRANSPORT_OPTIONS = {"socket_timeout": CONNECT_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT}


def _send(celery: Celery, task: str, args: list) -> None:
    with celery.connection_for_write(connect_timeout=CONNECT_TIMEOUT, transport_options=SEND_TRANSPORT_OPTIONS) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=CONNECT_TIMEOUT
        )
        celery.send_task(task, args=args, connection=conn, retry=True, retry_policy=SEND_RETRY_POLICY)


def send_training(celery: Celery, job_id: int, token: str | None) -> None:
    """Send a job's message; `token` is the job's dispatch_token (a superseded one is skipped).
    Raises kombu's OperationalError when the broker does not take it within a few seconds."""
    _send(celery, TRAIN_TASK, [job_id, token])


def send_sampling(celery: Celery, sample_id: int, token: str | None) -> None:
    """Send a sample's message, with the sample's dispatch_token (bounded in time, as above)."""
    _send(celery, SAMPLE_TASK, [sample_id, token])


def send_analysis(celery: Celery, analysis_id: int, token: str | None) -> None:
    """Send a neuron analysis's message (to the sampling queue), with the analysis's dispatch_token
    (bounded in time, as above)."""
    _send(celery, ANALYSIS_TASK, [analysis_id, token])


TASK_OF_KIND = {"job": TRAIN_TASK, "sample": SAMPLE_TASK, "analysis": ANALYSIS_TASK}
MessageKey = tuple[str, int, str | None]  # (task, record id, dispatch token)


def send_message(celery: Celery, kind: str, record_id: int, token: str | None) -> None:
    """Send a "job", "sample" or "analysis" message (a shared.lifecycle.Dispatch's fields, or the
    reconciler's re-sends)."""
    _send(celery, TASK_OF_KIND[kind], [record_id, token])


def queue_depth(celery: Celery, queue: str) -> int:
    """Messages waiting in `queue` (not those a worker holds); raises when the broker is down.

    Redis and the filesystem broker count their lists/files (priority lists included); AMQP asks
    the server, and a queue nobody declared yet holds nothing."""
    with celery.connection_for_read() as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=CONNECT_TIMEOUT
        )
        if getattr(conn.transport, "driver_type", "") != "amqp":
            return int(conn.default_channel.queue_declare(queue=queue, passive=False).message_count)
        channel = conn.channel()
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except Exception as exc:  # 404: not declared yet (the broker closes the channel)
            if getattr(exc, "code", None) == 404 or "NOT_FOUND" in str(exc):
                return 0
            raise
        finally:
            with contextlib.suppress(Exception):  # already closed by the broker
                channel.close()


def queued_messages(celery: Celery, queue: str) -> set[MessageKey] | None:
    """The (task, record id, dispatch token) of every message of `queue` that the broker still has:
    waiting in the queue, or delivered to a worker and not yet acknowledged (prefetched, or its
    task running). None when the broker cannot tell (only Redis is read); raises when it is down.

    The reconciler uses it so that a message a worker has already taken is not taken for lost
    (after a Redis restart, an empty queue does not mean that the re-sent message is gone)."""
    with celery.connection_for_read() as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=CONNECT_TIMEOUT
        )
        channel = conn.default_channel
        if getattr(conn.transport, "driver_type", "") != "redis":
            return None
        client = channel.client
        payloads = []
        for priority in channel.priority_steps:
            payloads += client.lrange(channel._q_for_pri(queue, priority), 0, -1)
        for held in client.hvals(channel.unacked_key):
            raw, _exchange, routing_key = json.loads(held)
            if routing_key == queue:
                payloads.append(json.dumps(raw))
    found = set()
    for payload in payloads:
        with contextlib.suppress(ValueError, KeyError, TypeError, IndexError):
            found.add(_record_of(json.loads(payload)))
    return found


def _record_of(message: dict) -> MessageKey:
    """(task, record id, token) from a kombu message's JSON: the task is in its headers (Celery's
    message protocol 2), its body is [args, kwargs, embed]."""
    body = message["body"]
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]
    return str(message["headers"]["task"]), int(args[0]), (args[1] if len(args) > 1 else None)


def check_broker(celery: Celery) -> None:
    """Raise unless the broker answers within CONNECT_TIMEOUT."""
    with celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=CONNECT_TIMEOUT)
