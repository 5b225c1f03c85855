"""The cluster a module's scenarios run on, built once:

    infra     PostgreSQL (on an address of its own), redis-server, moto's S3 server
    api1      the API, and the reconciler
    api2      the API (same SECRET_KEY, database, broker and bucket; no proxy in front)
    train-a   a training worker, node training@A
    train-b   a training worker, node training@B
    sampler   a sampling worker, node sampling@S
    client    the agent (tests/cluster/agent.py) through which the test asks everything

`close()` stops every process and deletes every namespace, also after a failed start.
"""

from __future__ import annotations

import json
import queue
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.waiting import wait_for
from tests.workers.processes import stdlib_text

from . import services
from .network import SUBNET, Network
from .services import API_PORT, REDIS_PORT, S3_PORT, Service

BUCKET = "charlstm-cluster"
FAST = {  # a lost worker is noticed in about 4 s, an orphan deleted 2 s after it was written
    "HEARTBEAT_INTERVAL": "0.5",
    "HEARTBEAT_TIMEOUT": "4",
    "RECONCILE_INTERVAL": "0.5",
    "REDISPATCH_AFTER": "3",
    "MAX_ATTEMPTS": "5",
    "STORAGE_RETRIES": "9",  # 0.1 s doubling: a worker retries an upload for about 50 s
    "STORAGE_RETRY_DELAY": "0.1",
    "S3_MAX_ATTEMPTS": "1",
    "DATABASE_RETRY_SECONDS": "60",
    "ORPHAN_GRACE": "2",
    # a host cut off mid-transaction: PostgreSQL ends it, so its row locks do not hide the job
    "IDLE_TRANSACTION_TIMEOUT": "2",
    "LIVE_LOSS_INTERVAL": "0.5",
    "SAMPLING_CONCURRENCY": "2",
}
HOSTS = {  # name: the last octet of each of its addresses
    "infra": (2, 3),  # .2 redis and S3, .3 PostgreSQL alone (a host can be cut off from it only)
    "api1": (11,),
    "api2": (12,),
    "train-a": (21,),
    "train-b": (22,),
    "sampler": (31,),
    "client": (41,),
}
NODES = {"training@A": "train-a", "training@B": "train-b", "sampling@S": "sampler"}
HP = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "validation_split": 0.1, "patience": 0}


class Agent:
    """The test's end of tests/cluster/agent.py: `call(op, **arguments)` -> result, or raise."""

    def __init__(self, service: Service):
        self.service = service
        self.proc = service.proc
        self.answers: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answers.put(json.loads(line))
        self.answers.put({"ok": False, "error": "the agent exited"})

    def call(self, op: str, timeout: float = 60, **arguments: Any) -> Any:
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
            self.proc.stdin.flush()
            try:
                answer = self.answers.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"the agent did not answer {op} in {timeout} s\n{self.service.tail()}") from None
        if not answer["ok"]:
            raise AgentError(f"{op}: {answer['error']}\n{answer.get('trace', '')}")
        return answer["result"]


class AgentError(RuntimeError):
    pass


class Cluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.services: list[Service] = []
        self.postgres: services.Postgres | None = None
        self.network = Network()
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def address(self, host: str, index: int = 0) -> str:
        return self.network.hosts[host].addresses[index]

    def _start(self) -> None:
        began = time.monotonic()
        for host, octets in HOSTS.items():
            self.network.add_host(host, *octets)
        infra, pg_address = self.address("infra"), self.address("infra", 1)
        self.postgres = services.Postgres(self.network, "infra", pg_address, f"{SUBNET}.0/24", self.folder)
        self.services.append(self.postgres.service)
        self.redis = self._add(services.redis(self.network, "infra", infra, self.folder))
        self._add(services.s3(self.network, "infra", infra, self.folder))
        self.apis = {name: f"http://{self.address(name)}:{API_PORT}" for name in ("api1", "api2")}
        self.env = {
            "DATABASE_URL": self.postgres.url,
            "BROKER_URL": f"redis://{infra}:{REDIS_PORT}/0",
            "S3_ENDPOINT_URL": f"http://{infra}:{S3_PORT}",
            "S3_BUCKET": BUCKET,
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_REGION": "us-east-1",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "CLUSTER_APIS": ",".join(f"{name}={url}" for name, url in self.apis.items()),
            **FAST,
        }
        self.agent = self._agent()
        self.postgres.wait_ready()
        self.agent.call("migrate")
        self.agent.call("ensure_bucket")
        self.migrated = time.monotonic() - began
        for name in self.apis:
            self._add(services.api(self.network, name, self.address(name), self._env(name), self.folder))
        self._add(services.reconciler(self.network, "api1", self._env("api1"), self.folder))
        self.workers: dict[str, Service] = {}
        for node, host in NODES.items():
            role = "sampling" if node.startswith("sampling") else "training"
            self.workers[node] = self._add(
                services.worker(self.network, host, role, node, self._env(host), self.folder)
            )
        for name in self.apis:
            self.agent.call("wait_http", api=name)
        for service in self.workers.values():
            service.wait_log(" ready.", 90)
        self.started = time.monotonic() - began
        self.token = self.agent.call("make_user", name="cluster-user")

    def _env(self, host: str) -> dict:
        """Each host has disks of its own (its var/ and scratch folders)."""
        return {**self.env, "CHARLSTM_VAR_DIR": str(self.folder / host / "var")}

    def _add(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def _agent(self) -> Agent:
        argv = [sys.executable, "-m", "tests.cluster.agent"]
        log = self.folder / "agent.log"
        return Agent(self._add(Service(self.network, "client", "agent", argv, log, self._env("client"), pipes=True)))

    # ---- faults -----------------------------------------------------------------------------------

    def restart_redis(self) -> float:
        """redis-server killed and started again on the same address and port, empty; returns the
        seconds it was gone."""
        began = time.monotonic()
        self.redis.kill()
        self.redis.wait()
        self.services.remove(self.redis)
        self.redis = self._add(services.redis(self.network, "infra", self.address("infra"), self.folder))
        return time.monotonic() - began

    # ---- the service, through the agent ----------------------------------------------------------

    def api(self, api: str, method: str, path: str, **arguments: Any) -> dict:
        return self.agent.call("http", api=api, method=method, path=path, **arguments)

    def submit(self, api: str, epochs: int, chars: int = 40_000) -> int:
        """A corpus of Python source uploaded and a job on it, both through `api`."""
        files = {"file": ["stdlib.py", stdlib_text(chars)]}
        corpus = self.api(api, "POST", "/api/v1/corpora", token=self.token, files=files, data={"name": "stdlib"})
        assert corpus["status"] == 201, corpus
        body = {"corpus_id": corpus["json"]["id"], **HP, "epochs": epochs, "retention": {"keep_every": 1}}
        job = self.api(api, "POST", "/api/v1/jobs", token=self.token, json_body=body)
        assert job["status"] in (201, 202), job
        return job["json"]["id"]

    def job(self, job_id: int) -> dict:
        return self.agent.call("job", job_id=job_id)

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
        """Poll until predicate() is truthy (a failed test's report shows every log's tail)."""
        return wait_for(predicate, timeout, what, interval)

    def host_of(self, node: str) -> str:
        return NODES[node]

    def logs(self, chars: int = 2500) -> str:
        return "\n".join(service.tail(chars) for service in self.services)

    def close(self) -> None:
        """Every process killed at once (nothing of the cluster outlives the module), then every
        namespace deleted."""
        try:
            for service in self.services:
                service.kill()
            for service in self.services:
                service.wait()
            if self.postgres is not None:
                self.postgres.remove()
        finally:
            self.network.close()
