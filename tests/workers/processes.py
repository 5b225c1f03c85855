"""Real processes for the worker tests: `python -m workers ...` subprocesses, a redis-server and a
moto S3 server that a test owns (it can stop and start them), and Python source to train on."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`python -m workers <role>` in its own process group, logging to a file."""

    def __init__(self, role: str, env: dict, log_path: Path, extra: Sequence[str] = ()):
        self.role, self.log_path = role, log_path
        self.hostname = f"{role}-{uuid.uuid4().hex[:6]}@test"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers", role, "--hostname", self.hostname, "--logfile", str(log_path), *extra],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(log_path.with_suffix(".stderr"), "wb"),  # noqa: SIM115 - the child writes it
        )

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool processes (Linux /proc)."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def log_text(self) -> str:
        parts = [
            p.read_text(errors="replace") for p in (self.log_path, self.log_path.with_suffix(".stderr")) if p.exists()
        ]
        return "\n".join(parts)

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} worker exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            return " ready." in self.log_text()

        wait_for(ready, timeout, f"the {self.role} worker to be ready", 0.2, [self])

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: gone without a word, its messages unacknowledged."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the worker's process group (warm shutdown), then SIGKILL."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):  # prefork children left behind
            os.killpg(self.proc.pid, signal.SIGKILL)


def stdlib_text(chars: int) -> str:
    """Python source from this interpreter's standard library, `chars` characters of it."""
    folder = Path(os.__file__).parent
    parts, total = [], 0
    for name in ["textwrap.py", "shlex.py", "fnmatch.py", "bisect.py", "heapq.py", "string.py", "calendar.py"]:
        text = (folder / name).read_text(encoding="utf-8")
        parts.append(text)
        total += len(text)
        if total >= chars:
            break
    return "".join(parts)[:chars]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, nothing on disk: a restart loses every message, as a
    broker without persistence does."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        def answering() -> bool:
            try:
                return bool(redis.Redis(port=self.port).ping())
            except redis.ConnectionError:
                return False

        wait_for(answering, 10, f"redis-server on port {self.port} to answer", 0.05)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class S3Server:
    """moto's S3 over HTTP on a fixed port, stoppable and startable again; its buckets live in this
    test process, so they outlive a restart like a real store's disk does."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: Any = None

    def start(self) -> "S3Server":
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class Reconciler:
    """`python -m workers reconciler` as a subprocess."""

    def __init__(self, env: dict, log_path: Path):
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "reconciler"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=open(log_path, "wb"),  # noqa: SIM115 - the child writes it
            stderr=subprocess.STDOUT,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class TcpProxy:
    """A TCP forwarder in the test process (threads) to a server that the test cannot stop itself,
    such as the shared PostgreSQL: `down()` closes every forwarded connection and refuses new ones
    (the port stays reserved), `up()` accepts again on the same port."""

    def __init__(self, target_host: str, target_port: int):
        import threading

        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._thread: Any = None

    def up(self) -> "TcpProxy":
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Connections refused from now on, and the open ones reset."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
