"""The cluster's processes, each started on its host with `ip netns exec`, in a process group of its
own, logging to a file: PostgreSQL (a fresh cluster run as the `postgres` user), redis-server,
moto's S3 server, the API, the workers and the reconciler."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.waiting import wait_for

from .network import Network

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUCCEEDED = re.compile(r'HTTP/1.1" [23]\d\d -$')  # an access-log line of moto's server
PG_PORT, REDIS_PORT, S3_PORT, API_PORT = 5432, 6379, 5000, 8000


class Service:
    """One process on one host; `stop()` ends its whole process group."""

    def __init__(
        self,
        network: Network,
        host: str,
        name: str,
        argv: list[str],
        log: Path,
        env: dict | None = None,
        cwd: Path = ROOT,
        pipes: bool = False,
    ):
        """`pipes`: stdin and stdout are pipes to the test (text lines), stderr goes to the log."""
        self.host, self.name, self.log_path = host, name, log
        self.log_start = log.stat().st_size if log.exists() else 0  # a restart appends to the same log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                network.exec_argv(host, argv),
                cwd=cwd,
                env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else out,
                stderr=out if pipes else subprocess.STDOUT,
                text=pipes,
            )

    def log_text(self) -> str:
        """What this process wrote to its log."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[self.log_start :].decode(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        """The log's last `chars` characters (without the S3 server's lines for requests that succeeded)."""
        text = self.log_text()
        if self.name == "s3":
            text = "\n".join(line for line in text.splitlines() if not SUCCEEDED.search(line))
        return f"--- {self.name} on {self.host} ({self.log_path.name}) ---\n{text[-chars:]}"

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_log(self, needle: str, timeout: float) -> None:
        def logged() -> bool:
            if needle in self.log_text():
                return True
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}\n{self.tail()}")
            return False

        try:
            wait_for(logged, timeout, f"{needle!r} in {self.name}'s log", 0.1)
        except TimeoutError:
            raise TimeoutError(f"{self.name}: no {needle!r} in its log after {timeout} s\n{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL to its process group: gone at once, as a host that loses power."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self, timeout: float = 10) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)


class Postgres:
    """A fresh PostgreSQL cluster in a temporary folder owned by `postgres`, listening on
    `address` only, trusting the bridge's subnet."""

    def __init__(self, network: Network, host: str, address: str, subnet: str, folder: Path):
        self.folder = Path(tempfile.mkdtemp(prefix="chc-pg-"))  # /tmp: the postgres user can reach it
        shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.url = f"postgresql+psycopg://postgres@{address}:{PG_PORT}/postgres"
        as_postgres = ["runuser", "-u", "postgres", "--"]
        try:
            self._init(network, host, address, subnet, folder, as_postgres)
        except BaseException:
            self.remove()
            raise

    def _init(self, network: Network, host: str, address: str, subnet: str, folder: Path, as_postgres: list) -> None:
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        done = subprocess.run([*as_postgres, *initdb], capture_output=True, text=True, timeout=120, cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.strip()}")
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {subnet} trust\n")
        settings = {
            "listen_addresses": f"'{address}'",
            "port": str(PG_PORT),
            "unix_socket_directories": f"'{self.folder}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.service = Service(
            network,
            host,
            "postgres",
            [*as_postgres, str(PG_BIN / "postgres"), "-D", str(self.data)],
            folder / "postgres.log",
            cwd=self.folder,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        self.service.wait_log("database system is ready to accept connections", timeout)

    def remove(self) -> None:
        """Its folder deleted (once its processes are gone)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def redis(network: Network, host: str, address: str, folder: Path) -> Service:
    """redis-server with nothing on disk: a restart loses every message."""
    argv = ["redis-server", "--bind", address, "--port", str(REDIS_PORT), "--protected-mode", "no"]
    argv += ["--save", "", "--appendonly", "no"]
    argv += ["--dir", str(folder)]
    service = Service(network, host, "redis", argv, folder / "redis.log")
    service.wait_log("Ready to accept connections", 20)
    return service


def s3(network: Network, host: str, address: str, folder: Path) -> Service:
    return Service(
        network, host, "s3", [sys.executable, "-m", "moto.server", "-H", address, "-p", str(S3_PORT)], folder / "s3.log"
    )


def api(network: Network, host: str, address: str, env: dict, folder: Path) -> Service:
    argv = [sys.executable, "-m", "services.serve", "--host", address, "--port", str(API_PORT), "--threads", "4"]
    return Service(network, host, f"api-{host}", argv, folder / f"{host}.log", env)


def worker(network: Network, host: str, role: str, node: str, env: dict, folder: Path) -> Service:
    """`python -m workers <role>` named `node` (the name jobs record as their worker)."""
    argv = [sys.executable, "-m", "workers", role, "--hostname", node]
    return Service(network, host, node, argv, folder / f"{host}.log", env)


def reconciler(network: Network, host: str, env: dict, folder: Path) -> Service:
    argv = [sys.executable, "-m", "workers", "reconciler"]
    return Service(network, host, "reconciler", argv, folder / f"{host}-reconciler.log", env)
