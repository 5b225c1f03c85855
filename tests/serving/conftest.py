"""A real API server process started as `make up` starts it (`python -m services.serve`, via
services.launcher.api_command) on a free port, on embedded defaults in a temporary folder (SQLite,
local objects, filesystem broker) unless the test overrides the environment; and a moto S3 server
as a separate process, so that it can be stopped with SIGSTOP."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.launcher import ROOT, api_command
from tests.waiting import wait_for
from tests.workers.processes import free_port


class Server:
    def __init__(self, process: subprocess.Popen, port: int, token: str, log: Path):
        self.process, self.port, self.token, self.log = process, port, token, log
        self.url = f"http://127.0.0.1:{port}"

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_answering(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}):\n{log.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
        except urllib.error.HTTPError:
            return True  # answering, whatever it says
        except OSError:
            return False
        return True

    try:
        wait_for(answering, timeout, f"{url} to answer", interval=0.1)
    except TimeoutError:
        raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text(errors='replace')}") from None


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def serve(tmp_path) -> Iterator:
    """`serve(threads=4, migrate=True, **env) -> Server`: services.serve on a free port, with a
    user token (made when `migrate`); env values override the embedded defaults."""
    started: list[subprocess.Popen] = []

    def start(threads: int = 4, migrate: bool = True, **overrides: str) -> Server:
        from shared.auth import create_user_token
        from shared.db.migrate import upgrade
        from shared.db.session import session_scope

        var = tmp_path / f"var-{len(started)}"
        database_url = f"sqlite:///{var / 'charlstm.db'}"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "BROKER_URL", "SECRET_KEY", "PORT", "HOST"} and not k.startswith("S3_")
        }
        env.update(
            CHARLSTM_VAR_DIR=str(var),
            DATABASE_URL=database_url,
            SECRET_KEY="serving-tests-secret-key-serving-tests",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        env.update(overrides)
        token = ""
        if migrate:
            var.mkdir(parents=True, exist_ok=True)
            upgrade(database_url)
            with session_scope(database_url) as session:
                token = create_user_token(session, "alice")
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                api_command(port, threads=threads), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        started.append(process)
        wait_answering(f"http://127.0.0.1:{port}/healthz", process, log)
        return Server(process, port, token, log)

    yield start
    for process in started:
        stop(process)


@pytest.fixture
def s3_process(tmp_path) -> Iterator[tuple[str, subprocess.Popen]]:
    """moto's S3 server as its own process: (endpoint URL, process); SIGSTOP it to stall storage."""
    port = free_port()
    log = tmp_path / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_answering(url, process, log, timeout=60)
    yield url, process
    stop(process)
