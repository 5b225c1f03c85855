"""`python -m benchmarks.broker`: the embedded broker candidates, measured the same way.

- fs-kombu: kombu's filesystem transport as it is (files written in place);
- fs-atomic: shared/broker_fs.py (atomic writes, malformed files skipped), the embedded default;
- sqla-sqlite: kombu's SQLAlchemy transport on a SQLite file (`sqla+sqlite:///VAR/broker.db`), polled
  as often as the filesystem broker (FILESYSTEM_POLLING_INTERVAL).

For each, a real Celery worker (solo pool, the training queue) in a process of its own:
1. latency: ROUND_TRIPS tasks sent one at a time; send -> the task starts in the worker (median, p95);
2. robustness: BROADCAST_ROUNDS rounds of 20 threads asking `inspect().ping()` at once, each on a
   connection of its own (what the workers page did per view), while LOAD_WRITERS threads publish
   tasks; then whether the worker is still running, how many broadcasts were answered, and a
   last task's latency (does the worker still take work).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from celery import Celery

from shared.queue import FILESYSTEM_POLLING_INTERVAL, FILESYSTEM_TRANSPORT, TRAINING_QUEUE, make_celery
from shared.settings import Settings

VARIANTS = ("fs-kombu", "fs-atomic", "sqla-sqlite")
ROUND_TRIPS = 30
BROADCASTS = 20
BROADCAST_ROUNDS = 5
LOAD_WRITERS = 2
STAMP_TASK = "bench.stamp"


def bench_app(variant: str, var_dir: Path) -> Celery:
    if variant == "sqla-sqlite":
        app = make_celery(Settings(CHARLSTM_VAR_DIR=var_dir, BROKER_URL=f"sqla+sqlite:///{var_dir / 'broker.db'}"))
        app.conf.broker_transport_options = {}  # the sqla transport hands its options to create_engine,
        from kombu.transport import sqlalchemy  # so its polling interval is set on the class: as fs's

        sqlalchemy.Transport.polling_interval = FILESYSTEM_POLLING_INTERVAL
    else:
        app = make_celery(Settings(CHARLSTM_VAR_DIR=var_dir, BROKER_URL=""))
        kombu_own = "kombu.transport.filesystem:Transport"
        app.conf.broker_transport = kombu_own if variant == "fs-kombu" else FILESYSTEM_TRANSPORT
    stamps = var_dir / "stamps"

    @app.task(name=STAMP_TASK)
    def stamp(sent: float) -> None:
        with open(stamps, "a") as handle:
            handle.write(f"{time.time() - sent}\n")

    return app


def worker(variant: str, var_dir: str) -> None:
    argv = ["worker", "-Q", TRAINING_QUEUE, "-P", "solo", "-c", "1", "--hostname", f"bench-{variant}@test"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]
    bench_app(variant, Path(var_dir)).worker_main(argv)


def latencies(app: Celery, stamps: Path, count: int) -> list[float]:
    before = len(stamps.read_text().split()) if stamps.exists() else 0
    for _ in range(count):
        app.send_task(STAMP_TASK, args=[time.time()], queue=TRAINING_QUEUE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(stamps.read_text().split() if stamps.exists() else []) <= before:
            time.sleep(0.002)
        before += 1
    return [float(x) * 1000 for x in stamps.read_text().split()[-count:]] if stamps.exists() else []


def measure(variant: str) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-broker-{variant}-"))
    app = bench_app(variant, var_dir)
    stamps = var_dir / "stamps"
    log = open(var_dir / "worker.log", "wb")  # noqa: SIM115 - the child writes it
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.broker", "worker", variant, str(var_dir)],
        cwd=var_dir,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(1.0)
        latencies(app, stamps, 3)  # warm up (the worker is consuming)
        rtt = latencies(app, stamps, ROUND_TRIPS)
        hostname = f"bench-{variant}@test"

        def ping(_):
            try:
                with app.connection_for_write() as conn:
                    return bool(app.control.inspect([hostname], timeout=2, connection=conn).ping())
            except Exception:  # noqa: BLE001 - a failed broadcast counts as unanswered
                return False

        def load(_):
            for _ in range(20):
                app.send_task(STAMP_TASK, args=[time.time()], queue=TRAINING_QUEUE)

        answered, started = 0, time.monotonic()
        for _ in range(BROADCAST_ROUNDS):
            with ThreadPoolExecutor(BROADCASTS + LOAD_WRITERS) as pool:
                loads = [pool.submit(load, i) for i in range(LOAD_WRITERS)]
                answered += sum(pool.map(ping, range(BROADCASTS)))
                [f.result() for f in loads]
        storm_s = time.monotonic() - started
        time.sleep(1.0)
        alive = process.poll() is None
        after = latencies(app, stamps, 1) if alive else []
        return {
            "variant": variant,
            "median_ms": statistics.median(rtt),
            "p95_ms": sorted(rtt)[int(0.95 * len(rtt)) - 1],
            "answered": f"{answered}/{BROADCASTS * BROADCAST_ROUNDS}",
            "storm_s": storm_s,
            "worker": "running" if alive else f"exited {process.returncode}",
            "after_ms": after[0] if after else None,
        }
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def main() -> int:
    variants = [v for v in sys.argv[1:] if v in VARIANTS] or list(VARIANTS)
    print(f"{'variant':<12} {'send->start median':>19} {'p95':>8} {'broadcasts answered':>20} {'storm':>7}  worker")
    for variant in variants:
        r = measure(variant)
        after = f", next task {r['after_ms']:.0f} ms" if r["after_ms"] is not None else ""
        print(
            f"{r['variant']:<12} {r['median_ms']:>16.1f} ms {r['p95_ms']:>5.1f} ms {r['answered']:>20} "
            f"{r['storm_s']:>5.1f} s  {r['worker']}{after}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
