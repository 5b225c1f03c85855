"""Load: authenticated status reads (`GET /api/v1/jobs/<id>`) at 100 requests/s for 30 s while a
tiny training job trains in a training worker process on the same machine; latency p50/p90/p99
(target p99 < 50 ms) and how many were answered, shed (503) or failed.

The API and one training worker are started as `make up` starts them (services.serve on
127.0.0.1 only; the worker at a lower CPU priority; embedded defaults in a temporary folder:
SQLite, local objects, filesystem broker). The
schedule is open-loop: request i is due at i / rate seconds whatever happened to the others, sent
from a thread pool, and its latency counts from when it was due (so a stalled server is not
hidden by fewer requests being sent).

Run: python -m benchmarks.load   (BENCH_QUICK=1: 5 s; BENCH_SERVER=gunicorn: the server `make up`
ran before services.serve, 2 sync gunicorn workers, and the training worker at the same
priority, for comparison; BENCH_TRAIN=0: no training)
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.cli.http import ApiClient
from services.launcher import ROOT, api_command, child_commands
from shared.auth import create_user_token
from shared.db.migrate import upgrade
from shared.db.session import session_scope

from .common import machine, print_table, quick, write_results

RATE = 100  # requests per second
HOST = "127.0.0.1"
TIMEOUT = 10.0  # seconds a request may take before it counts as failed
CORPUS_LINE = "def f(x):\n    return [x * n for n in range(10)]  # a line of Python\n"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_command(port: int) -> list[str]:
    if os.environ.get("BENCH_SERVER") == "gunicorn":  # the server before services.serve
        return [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"{HOST}:{port}", "--timeout", "300",
                "--no-control-socket", "services.app:create_app()"]  # fmt: skip
    return api_command(port, HOST)


def training_command(port: int) -> list[str]:
    if os.environ.get("BENCH_SERVER") == "gunicorn":  # as it was then: at the API's priority
        return [sys.executable, "-m", "workers", "training"]
    return dict(child_commands(port))["training-worker"]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def fire(
    port: int,
    path: str,
    token: str,
    seconds: float,
    rate: int = RATE,
    pick: Callable[[int], tuple[str, str]] | None = None,
) -> dict:
    """Open-loop: request i is due at start + i / rate; latency from when it was due. `pick(i)`,
    when given, names request i's (path, token) instead of `path` and `token`."""
    latencies: list[float] = []
    counts = {"answered": 0, "shed": 0, "failed": 0}
    lock = threading.Lock()
    local = threading.local()

    def one(due: float, path: str, token: str) -> None:
        try:
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
            connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            status = response.status
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                local.connection = None
        except (OSError, http.client.HTTPException):
            status = 0
            if getattr(local, "connection", None) is not None:
                local.connection.close()
            local.connection = None
        elapsed = time.perf_counter() - due
        with lock:
            if status == 200 and elapsed <= TIMEOUT:
                counts["answered"] += 1
                latencies.append(elapsed)
            elif status == 503:
                counts["shed"] += 1
            else:
                counts["failed"] += 1

    total = int(seconds * rate)
    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.perf_counter() + 0.1
        for i in range(total):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one, due, *(pick(i) if pick is not None else (path, token)))
    return {
        "requests": total,
        "rate": rate,
        "seconds": seconds,
        **counts,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
    }


def wait_answering(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def run(folder: Path, seconds: float, train: bool) -> dict:
    var = folder / "var"
    var.mkdir(parents=True)
    db_url = f"sqlite:///{var / 'charlstm.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("BROKER_URL", "PORT", "HOST") and not k.startswith("S3_")}
    env.update(CHARLSTM_VAR_DIR=str(var), DATABASE_URL=db_url, SECRET_KEY="bench-secret-key-bench-secret-key!!",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))  # fmt: skip
    upgrade(db_url)
    with session_scope(db_url) as session:
        token = create_user_token(session, "bench")
    port = free_port()
    children = [subprocess.Popen(server_command(port), cwd=var, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)]  # fmt: skip
    try:
        base = f"http://{HOST}:{port}"
        wait_answering(f"{base}/healthz")
        api = ApiClient(base, token)
        corpus_file = folder / "corpus.py"
        corpus_file.write_text(CORPUS_LINE * 4000)  # 280 KB
        corpus = api.upload("corpora", corpus_file, {"name": "bench"})
        job = api.post("jobs", {"corpus_id": corpus["id"], "layers": 1, "units": 64, "seq_len": 50,
                                "batch_size": 32, "epochs": 1000, "patience": 0})  # fmt: skip
        status = job["status"]
        if train:
            children.append(subprocess.Popen(training_command(port), cwd=var, env=env,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             start_new_session=True))  # fmt: skip
            deadline = time.monotonic() + 180
            while (status := api.get(f"jobs/{job['id']}")["status"]) != "running" and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # into the epoch: the worker is computing
        result = fire(port, f"/api/v1/jobs/{job['id']}", token, seconds)
        result["job_status_during"] = api.get(f"jobs/{job['id']}")["status"] if train else status
        result["server"] = os.environ.get("BENCH_SERVER") or "services.serve"
        result["training"] = train
        return result
    finally:
        for child in children:
            try:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def main() -> dict:
    seconds = 5.0 if quick() else 30.0
    train = os.environ.get("BENCH_TRAIN", "1") not in ("", "0")
    with tempfile.TemporaryDirectory(prefix="charlstm-load-bench-") as tmp:
        result = run(Path(tmp), seconds, train)
    write_results("load", {"machine": machine(), "load": result})
    rows = [
        (result["server"], f"{RATE}/s x {seconds:.0f} s", "yes" if train else "no", f"{result['p50_ms']:.1f}",
         f"{result['p90_ms']:.1f}", f"{result['p99_ms']:.1f}", result["answered"], result["shed"], result["failed"])
    ]  # fmt: skip
    header = ("server", "schedule", "training", "p50", "p90", "p99", "answered", "shed", "failed")
    print_table("load: authenticated status reads, latency in ms (target p99 < 50 ms)", rows, header=header)
    return result


if __name__ == "__main__":
    main()
