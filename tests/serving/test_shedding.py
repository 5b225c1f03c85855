"""Load shedding in services.serve: a real waitress server (on a free port, in a thread) running a
deliberately slow WSGI app; past capacity, requests are refused at once with a JSON 503 and
`Retry-After`, rather than served seconds late; `/healthz` is never shed."""

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from waitress import wasyncore

from services.serve import OVERLOADED, build_server
from shared.settings import Settings

SLOW = 0.4  # seconds one request of the app takes


def slow_app(environ, start_response):
    time.sleep(SLOW)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"done": true}']


@pytest.fixture
def running():
    """`running(threads, **settings) -> base URL`: build_server on a free port, its loop in a
    thread (stopped, and its sockets closed, from that same thread at the end)."""
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def start(threads: int = 1, **settings) -> str:
        server = build_server(slow_app, Settings(**settings), "127.0.0.1", 0, threads)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                wasyncore.loop(timeout=0.05, map=server._map, count=1)
            server.task_dispatcher.shutdown(timeout=2)
            wasyncore.close_all(server._map)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        stops.append((stop, thread))
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    for stop, thread in stops:
        stop.set()
        thread.join(10)


def fetch(url: str) -> tuple[int, dict, dict, float]:
    began = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response), time.monotonic() - began
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.load(exc), time.monotonic() - began


def burst(url: str, n: int) -> list[tuple[int, dict, dict, float]]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fetch, [url] * n))


def test_requests_that_waited_too_long_are_shed_quickly(running):
    url = running(threads=1, SHED_AFTER=0.2, SHED_QUEUE=100)
    began = time.monotonic()
    results = burst(f"{url}/api/v1/jobs", 8)
    elapsed = time.monotonic() - began
    served = [r for r in results if r[0] == 200]
    shed = [r for r in results if r[0] == 503]
    assert len(served) + len(shed) == 8 and 1 <= len(served) <= 3, [r[0] for r in results]
    for _, headers, body, seconds in shed:
        assert body == OVERLOADED and headers["Retry-After"] == "1"
        assert headers["Content-Type"] == "application/json"
        assert seconds < 2 * SLOW + 0.5  # refused once it had waited, not after the whole queue
    assert elapsed < 8 * SLOW  # one thread would need 3.2 s to serve them all


def test_a_long_queue_is_shed_at_once(running):
    url = running(threads=1, SHED_AFTER=30, SHED_QUEUE=1)
    results = burst(f"{url}/api/v1/jobs", 8)
    assert {r[0] for r in results} == {200, 503}
    assert all(r[2] == OVERLOADED for r in results if r[0] == 503)


def test_healthz_is_never_shed(running):
    url = running(threads=1, SHED_AFTER=0.1, SHED_QUEUE=1)
    results = burst(f"{url}/healthz", 6)
    assert [r[0] for r in results] == [200] * 6
