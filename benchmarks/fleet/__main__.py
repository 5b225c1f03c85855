"""`make bench-fleet`: the service at a fleet's scale. For each size (FLEET_SIZES, default
1000,10000,100000 jobs; twice as many samples; 1,000 users), a database of its own
(`charlstm_fleet` on 127.0.0.1:5432, created and dropped here, or FLEET_DATABASE_URL, an empty
database this run empties and fills) is loaded (benchmarks/fleet/data.py), then for the same
minute:

- FLEET_WORKERS (50) simulated training workers and the reconciler run in a process of their own
  (benchmarks/fleet/simulate.py: the real lifecycle calls, their times and SQL statements);
- the API (services.serve, a process of its own on 127.0.0.1, the same database) answers a read
  load from the users' own tokens, open-loop at 100 requests/s (benchmarks/load.py `fire`):
  FLEET_API_SECONDS (15) of lists (a user's jobs, a job's samples) then as long of gets (a job, a
  sample).

The figures go to bench-results/fleet.md (a Markdown table) and fleet.json, and are printed."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from services.launcher import ROOT, api_command

from ..common import RESULTS_DIR, machine, write_results
from ..load import HOST, fire, free_port, percentile, wait_answering
from . import data
from .report import markdown
from .simulate import Pace, run_fleet

DATABASE = "charlstm_fleet"
BROKER_URL = "redis://127.0.0.1:6379/13"
READY_TIMEOUT = 120.0  # seconds the fleet's process may take to import, start its threads and reconcile once
SCRAPES = 10  # metrics scrapes timed per size
WARM_UP_SECONDS = 6.0  # of each kind of read before the measured ones (a new server's first requests are slow)


def sizes() -> list[int]:
    return [int(n) for n in os.environ.get("FLEET_SIZES", "1000,10000,100000").split(",") if n.strip()]


def environment(url: str, folder: Path, pace: Pace) -> dict[str, str]:
    """The API's and the fleet's settings: the fleet's database and broker, heartbeats at the
    simulation's pace; messages are never judged lost (the simulated broker is not Redis)."""
    return {
        "DATABASE_URL": url,
        "BROKER_URL": os.environ.get("FLEET_BROKER_URL", BROKER_URL),
        "CHARLSTM_VAR_DIR": str(folder),
        "SECRET_KEY": "fleet-bench-secret-key-fleet-bench!!",
        "HEARTBEAT_INTERVAL": str(pace.heartbeat),
        "RECONCILE_INTERVAL": str(pace.reconcile),
        "REDISPATCH_AFTER": "86400",
        "LOG_LEVEL": "WARNING",
    }


def reads(fleet: data.Fleet, kind: str, seed: int = 1):
    """`pick(i)` for `fire`: request i of `kind` ("list" or "get") by a random user, with their token."""
    rng, users = random.Random(seed), sorted(fleet.samples_of)

    def pick(i: int) -> tuple[str, str]:
        user = rng.choice(users)
        job, sample = rng.choice(fleet.samples_of[user])
        if kind == "list":
            path = "/api/v1/jobs" if i % 2 == 0 else f"/api/v1/jobs/{job}/samples"
        else:
            path = f"/api/v1/jobs/{rng.choice(fleet.jobs_of[user])}" if i % 2 == 0 else f"/api/v1/samples/{sample}"
        return path, fleet.tokens[user]

    return pick


def scrapes(url: str, count: int = SCRAPES) -> dict:
    """`count` scrapes of the API's /metrics, one after another, while the fleet runs (loopback may
    read it: METRICS_ALLOW's default): their times and the size of the last answer."""
    times, size = [], 0
    for _ in range(count):
        began = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            size = len(response.read())
        times.append(time.perf_counter() - began)
    return {"count": count, "p50_ms": 1000 * percentile(times, 50), "max_ms": 1000 * max(times), "bytes": size}


def run_size(
    url: str, jobs: int, workers: int, api_seconds: float, pace: Pace, folder: Path, warm_up: float = WARM_UP_SECONDS
) -> dict:
    began = time.perf_counter()
    fleet = data.load(url, jobs)
    result: dict = {"jobs": jobs, "load_seconds": time.perf_counter() - began, "rows": fleet.rows,
                    "database_bytes": data.database_bytes(url), "workers": workers,
              "heartbeat_seconds": pace.heartbeat}  # fmt: skip
    env = environment(url, folder, pace)
    port = free_port()
    api = subprocess.Popen(api_command(port, HOST), cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    stop, results, ready = spawn.Event(), spawn.Queue(), spawn.Event()
    process = spawn.Process(target=run_fleet, args=(env, url, fleet.dispatched, workers, pace, stop, results, ready))
    try:
        wait_answering(f"http://{HOST}:{port}/healthz")
        process.start()
        if not ready.wait(READY_TIMEOUT):
            raise RuntimeError(f"the simulated fleet did not start within {READY_TIMEOUT:g} s")
        for kind in ("get", "list"):  # warm-up, not counted: the API's threads and connections are open
            fire(port, "", "", warm_up, pick=reads(fleet, kind, seed=0))
        result["api_list"] = fire(port, "", "", api_seconds, pick=reads(fleet, "list"))
        result["api_get"] = fire(port, "", "", api_seconds, pick=reads(fleet, "get"))
        result["scrape"] = scrapes(f"http://{HOST}:{port}/metrics")
        stop.set()
        result.update(results.get(timeout=120))
        process.join(60)
    finally:
        stop.set()
        if process.is_alive():
            process.terminate()
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(30)
    return result


def main() -> list[dict]:
    workers = int(os.environ.get("FLEET_WORKERS", "50"))
    api_seconds = float(os.environ.get("FLEET_API_SECONDS", "15"))
    given = os.environ.get("FLEET_DATABASE_URL")
    url = given or data.create_database(DATABASE)
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="charlstm-fleet-") as folder:
            for jobs in sizes():
                runs.append(run_size(url, jobs, workers, api_seconds, Pace.from_env(), Path(folder)))
                print(f"fleet: {jobs} jobs done", flush=True)
    finally:
        if not given:
            data.drop_database(DATABASE)
    text = markdown(runs, machine())
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "fleet.md").write_text(text)
    write_results("fleet", {"runs": runs})
    print(text)
    return runs


if __name__ == "__main__":
    main()
