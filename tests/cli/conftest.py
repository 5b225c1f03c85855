"""The CLI's tests: `service` serves the test app (a real HTTP server on a free port, in a thread)
and points the CLI at it with the user's token (CHARLSTM_URL, CHARLSTM_TOKEN)."""

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture
def service(app, user_token, monkeypatch):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("CHARLSTM_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("CHARLSTM_TOKEN", user_token)
    yield
    server.shutdown()
    thread.join()
