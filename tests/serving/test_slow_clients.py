"""Slow and stalled clients against a real server process (services.serve, as `make up` runs it):
half-sent requests hold sockets, never the threads; idle connections are closed; oversized request
heads get a JSON error."""

import http.client
import json
import socket
import time

HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # no blank line: the request never ends


def get(server, path: str, timeout: float = 5.0, headers: dict | None = None) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_twenty_half_sent_requests_do_not_block_an_authenticated_read(serve):
    server = serve(threads=2)
    stalled = []
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(HALF_REQUEST)
            stalled.append(sock)
        time.sleep(0.3)  # the server has read every half request
        began = time.monotonic()
        status, _, body = get(server, "/api/v1/jobs", timeout=5, headers=server.headers())
        elapsed = time.monotonic() - began
        assert status == 200 and body["total"] == 0
        assert elapsed < 1.0, f"{elapsed:.2f} s"
        status, _, body = get(server, "/healthz", timeout=5)
        assert status == 200 and body == {"status": "ok"}
    finally:
        for sock in stalled:
            sock.close()


def test_a_stalled_connection_is_closed_after_the_channel_timeout(serve):
    server = serve(threads=1, CHANNEL_TIMEOUT="1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(HALF_REQUEST)
        began = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, without an answer
        assert time.monotonic() - began < 5  # channel_timeout 1 s, checked every cleanup_interval


def test_an_oversized_request_head_is_a_json_431(serve):
    server = serve(threads=1, migrate=False)
    status, headers, body = get(server, "/api/v1/jobs?" + "x" * 70_000)
    assert status == 431
    assert headers["Content-Type"] == "application/json"
    assert body == {"error": "request header fields too large"}
    # a long request line within the limit reaches the app (a JSON 401 here: no token)
    status, headers, body = get(server, "/api/v1/jobs?" + "x" * 8_000)
    assert status == 401 and body == {"error": "missing bearer token"}


def test_a_body_over_the_servers_limit_is_the_apps_json_413(serve):
    server = serve(threads=1, migrate=False, MAX_UPLOAD_BYTES="1000")  # the server takes 1 MiB more
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("POST", "/api/v1/corpora")
        connection.putheader("Content-Length", str(3 * 1024 * 1024))
        connection.putheader("Content-Type", "application/octet-stream")
        connection.endheaders()  # refused on the declared length: the body is never read
        response = connection.getresponse()
        assert response.status == 413
        assert response.getheader("Content-Type") == "application/json"
        assert json.loads(response.read()) == {"error": "request body too large"}
    finally:
        connection.close()
