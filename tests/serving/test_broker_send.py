"""Sends to a broker that refuses or stalls (a socket that accepts and never answers): they fail
within a few seconds (kombu's OperationalError), and a request that sends answers 503."""

import io
import socket
import time

import pytest
from kombu.exceptions import OperationalError

from services.plumbing.context import CELERY
from shared.queue import CONNECT_TIMEOUT, make_celery, send_sampling, send_training
from shared.settings import Settings
from tests.workers.processes import free_port

BOUND = 2 * CONNECT_TIMEOUT + 1.5  # a connection attempt, one publish, the short retries


@pytest.fixture(params=["refusing", "stalled"])
def dead_broker_url(request):
    with socket.socket() as listener:
        if request.param == "stalled":
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            port = listener.getsockname()[1]
        else:
            port = free_port()
        yield f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("send", [send_training, send_sampling])
def test_a_send_to_a_dead_broker_fails_quickly(dead_broker_url, send):
    celery = make_celery(Settings(BROKER_URL=dead_broker_url))
    began = time.monotonic()
    with pytest.raises(OperationalError):
        send(celery, 1, "token")
    assert time.monotonic() - began < BOUND


def test_a_send_reaches_the_queue(broker):
    send_training(make_celery(Settings(BROKER_URL=_url(broker))), 5, "t")
    assert broker.llen("training") == 1


def _url(client) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


def test_a_job_sent_to_a_dead_broker_is_a_quick_503(app, client, user_headers, dead_broker_url):
    text = b"def f(x):\n    return x * 2\n\n" * 80
    corpus = client.post(
        "/api/v1/corpora",
        headers=user_headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(text), "corpus.txt")},
    ).get_json()
    app.extensions[CELERY] = make_celery(Settings(BROKER_URL=dead_broker_url))
    began = time.monotonic()
    response = client.post(
        "/api/v1/jobs",
        headers=user_headers,
        json={"corpus_id": corpus["id"], "layers": 1, "units": 8, "batch_size": 2, "seq_len": 10, "epochs": 1},
    )
    assert response.status_code == 503 and "queue is unavailable" in response.get_json()["error"]
    assert time.monotonic() - began < BOUND
