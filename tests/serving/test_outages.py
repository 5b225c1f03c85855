"""Dependencies that stall or refuse, against a real server process: every request that needs
them answers 503 (JSON, `Retry-After`) within DEPENDENCY_TIMEOUT, never hangs; `/healthz`
(liveness) still answers 200 and `/readyz` names what is down."""

import json
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

from tests.waiting import wait_for
from tests.workers.processes import free_port

TIMEOUT = 2  # DEPENDENCY_TIMEOUT for these servers


def call(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    """(status, headers, JSON body, seconds)."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.load(response), time.monotonic() - began
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.load(exc), time.monotonic() - began


def multipart(text: bytes) -> tuple[bytes, dict]:
    boundary = "charlstmboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + text
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_a_stalled_object_store_is_a_quick_503(serve, s3_process):
    endpoint, moto = s3_process
    server = serve(
        threads=2,
        S3_BUCKET="charlstm-stall",
        S3_ENDPOINT_URL=endpoint,
        S3_ACCESS_KEY_ID="test",
        S3_SECRET_ACCESS_KEY="test",
        DEPENDENCY_TIMEOUT=str(TIMEOUT),
        READY_CACHE_SECONDS="0",
    )
    body, headers = multipart(b"def f(x):\n    return x * 2\n" * 20)
    headers.update(server.headers())
    status, _, answer, _ = call(f"{server.url}/api/v1/corpora", "POST", headers, body)
    assert status == 201, answer
    assert call(f"{server.url}/readyz")[0] == 200

    moto.send_signal(signal.SIGSTOP)
    try:
        status, answer_headers, answer, seconds = call(f"{server.url}/api/v1/corpora", "POST", headers, body)
        assert status == 503 and answer == {"error": "object storage unavailable"}, answer
        # two calls, each bounded by the timeout: the upload, then the clean-up of its key
        assert answer_headers["Retry-After"] and seconds < 2 * TIMEOUT + 2
        status, _, answer, seconds = call(f"{server.url}/readyz")
        assert status == 503 and answer["storage"].startswith("error") and answer["database"] == "ok"
        assert seconds < TIMEOUT + 2
        assert call(f"{server.url}/healthz")[:3:2] == (200, {"status": "ok"})
    finally:
        moto.send_signal(signal.SIGCONT)
    assert wait_for(lambda: call(f"{server.url}/readyz")[0] == 200, 10, "/readyz to be 200 with storage back")


@pytest.mark.parametrize("database", ["refusing", "stalled"])
def test_an_unreachable_database_is_a_quick_503(serve, database):
    with socket.socket() as listener:
        if database == "stalled":  # accepts TCP connections (backlog) and never answers
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            port = listener.getsockname()[1]
        else:
            port = free_port()  # nothing listens there: connections are refused
        server = serve(
            threads=2,
            migrate=False,
            DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{port}/charlstm",
            DEPENDENCY_TIMEOUT=str(TIMEOUT),
            READY_CACHE_SECONDS="0",
        )
        status, headers, answer, seconds = call(
            f"{server.url}/api/v1/jobs", headers={"Authorization": "Bearer some-token"}
        )
        assert status == 503 and answer == {"error": "database unavailable"}, answer
        assert headers["Retry-After"] and seconds < TIMEOUT + 2
        status, _, answer, seconds = call(f"{server.url}/readyz")
        assert status == 503 and answer["database"].startswith("error") and answer["storage"] == "ok"
        assert seconds < TIMEOUT + 2
        assert call(f"{server.url}/healthz")[0] == 200


def test_a_long_statement_of_a_request_is_cut_by_the_statement_timeout(migrated_db):
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from shared.db.session import web_sessionmaker

    with web_sessionmaker(migrated_db, connect_timeout=2, statement_timeout=0.3)() as session:
        began = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"):
            session.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - began < 2
