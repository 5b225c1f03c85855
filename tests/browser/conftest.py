"""Browser tests: the real app (services.app.create_app on the test PostgreSQL, Redis and local
object store of tests/conftest.py) served by Werkzeug in a thread on a free port, driven by
Playwright through Debian's chromium (/usr/bin/chromium; Playwright downloads no browser).

One browser for the session; a fresh context (cookies) and page per test. Every page fails its
test on a console error or an uncaught exception (`page_errors`).
"""

from __future__ import annotations

import os
import threading

import pytest

from tests.browser.browser_helpers import CHROMIUM, CHROMIUM_ARGS, ConsoleErrors


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} (.ci/run installs it with apt-get)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live_app(app):
    """The app, polling fast (the pages refresh every 300 ms instead of 2 s)."""
    app.config.update(ADMIN_POLL_MS=300, ADMIN_BROKER_TIMEOUT=0.3, SECRET_KEY="browser-test-secret")
    app.secret_key = "browser-test-secret"
    return app


@pytest.fixture
def server_url(live_app):
    """http://127.0.0.1:<free port> serving the app, for this test."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def console():
    return ConsoleErrors()


@pytest.fixture
def page(browser, console, server_url):
    """A page in a fresh context (closed before the server stops); the test fails if the page
    logs a console error or throws."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    console.watch(page)
    yield page
    context.close()
    console.assert_none()
