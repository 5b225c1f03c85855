"""The embedded filesystem broker (shared/broker_fs.py): a malformed or partly written message file
never stops a worker; concurrent writers and readers neither lose nor duplicate messages.

The worker tests run a real `python -m workers training` on a temporary var dir (SQLite, the
filesystem broker); the kombu variant runs the same worker on kombu's own filesystem transport
and shows what happened before: the worker stops on the first undecodable file."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kombu import Connection

from shared import broker_fs
from shared.queue import make_celery
from shared.settings import Settings
from tests.waiting import holds_within, wait_for

ROOT = Path(__file__).resolve().parents[2]
KOMBU_WORKER = (
    "import sys, shared.queue as q; q.FILESYSTEM_TRANSPORT = 'kombu.transport.filesystem:Transport'; "
    "from workers.__main__ import main; main(sys.argv[1:])"
)


def embedded_settings(var_dir: Path) -> Settings:
    return Settings(CHARLSTM_VAR_DIR=var_dir, BROKER_URL="", DATABASE_URL="")


def connection(var_dir: Path) -> Connection:
    """A kombu connection on the embedded broker of `var_dir`, as the service makes it."""
    app = make_celery(embedded_settings(var_dir))
    return app.connection_for_write()


def drop(folder: Path, queue: str, data: bytes, age: float = 0.0) -> Path:
    """A message file written in place, as a foreign (or kombu's own) writer leaves it; `age`
    seconds old."""
    path = folder / f"{int(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
    path.write_bytes(data)
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_undecodable_files_are_set_aside_and_the_next_message_delivered(tmp_path):
    broker = tmp_path / "broker"
    with connection(tmp_path) as conn:
        channel = conn.default_channel
        empty = drop(broker / "out", "q", b"", age=60)
        truncated = drop(broker / "out", "q", b'{"body": "abc", "head', age=60)
        fresh = drop(broker / "out", "q", b'{"body": ')  # may still be being written: kept for later
        channel._put("q", {"body": "good"})
        assert channel._get("q") == {"body": "good"}
        with pytest.raises(broker_fs.Empty):
            channel._get("q")
        assert sorted(p.name for p in (broker / "bad").iterdir()) == sorted([empty.name, truncated.name])
        assert fresh.exists()  # put back where it was
        fresh.write_bytes(b'{"body": "late"}')  # its writer finishes: delivered then
        assert channel._get("q") == {"body": "late"}
        assert not fresh.exists() and list((broker / "processed").iterdir()) == []


def test_kombus_own_reader_raises_on_the_same_file(tmp_path):
    """What the fix is for: kombu's filesystem channel raises out of _get (a worker's drain loop)."""
    from kombu.transport.filesystem import Transport as KombuTransport

    settings = embedded_settings(tmp_path)
    app = make_celery(settings)
    with app.connection_for_write(transport=KombuTransport) as conn:
        drop(tmp_path / "broker" / "out", "q", b"", age=60)
        with pytest.raises(json.JSONDecodeError):
            conn.default_channel._get("q")


def test_concurrent_writers_and_readers_lose_and_duplicate_nothing(tmp_path):
    count, writers, readers = 300, 3, 3  # make_celery creates the broker's folders
    got: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def write(offset: int) -> None:
        with connection(tmp_path) as conn:
            for i in range(offset, count, writers):
                conn.default_channel._put("q", {"n": i, "pad": "x" * 20_000})

    def read() -> None:
        with connection(tmp_path) as conn:
            while not (done.is_set() and conn.default_channel._size("q") == 0):
                try:
                    message = conn.default_channel._get("q")
                except broker_fs.Empty:
                    time.sleep(0.001)
                    continue
                with lock:
                    got.append(message["n"])

    reading = [threading.Thread(target=read) for _ in range(readers)]
    for thread in reading:
        thread.start()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    done.set()
    for thread in reading:
        thread.join(30)
    assert sorted(got) == list(range(count))
    assert list((tmp_path / "broker" / "bad").iterdir()) == []


def test_concurrent_binds_keep_every_entry(tmp_path):
    """Exchange tables are changed under a lock and replaced whole: 4 processes binding a queue
    each to the same 20 new exchanges at once leave 20 tables of 4 entries, each read whole."""
    script = (
        "import sys, time; from pathlib import Path; from tests.workers.test_embedded_broker import connection\n"
        "with connection(Path(sys.argv[1])) as conn:\n"
        "    while time.time() < float(sys.argv[3]):\n"
        "        time.sleep(0.001)\n"
        "    for i in range(20):\n"
        "        conn.default_channel._queue_bind(f'ex{i}', sys.argv[2], None, sys.argv[2])\n"
        "        assert (sys.argv[2], '', sys.argv[2]) in conn.default_channel.get_table(f'ex{i}')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    at = str(time.time() + 2)  # every process binds from the same moment on
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"q{n}", at], cwd=ROOT, env=env)
        for n in range(4)
    ]
    assert [p.wait(60) for p in procs] == [0] * 4
    with connection(tmp_path) as conn:
        tables = [conn.default_channel.get_table(f"ex{i}") for i in range(20)]
        assert all(sorted(e.queue for e in table) == [f"q{n}" for n in range(4)] for table in tables)
        conn.default_channel._delete("q0", "ex0", "q0", "")
        assert len(conn.default_channel.get_table("ex0")) == 3


# ---- a real worker ---------------------------------------------------------------------------


def start_worker(var_dir: Path, transport: str) -> tuple[subprocess.Popen, Path, str]:
    from shared.db.migrate import upgrade

    upgrade(embedded_settings(var_dir).resolved_database_url)
    hostname = f"training-{uuid.uuid4().hex[:6]}@test"
    log = var_dir / "worker.log"
    argv = ["training", "--quiet", "--hostname", hostname, "--logfile", str(log)]
    command = [sys.executable, "-m", "workers", *argv] if transport == "ours" else [sys.executable, "-c", KOMBU_WORKER]
    env = {k: v for k, v in os.environ.items() if k not in {"BROKER_URL", "DATABASE_URL"} and not k.startswith("S3_")}
    env.update(CHARLSTM_VAR_DIR=str(var_dir), PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        command + (argv if transport == "kombu" else []),
        cwd=var_dir,
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(var_dir / "worker.stderr", "wb"),  # noqa: SIM115 - the child writes it
    )

    def ready() -> bool:
        assert process.poll() is None, (var_dir / "worker.stderr").read_text()
        return " ready." in (log.read_text(errors="replace") if log.exists() else "")

    wait_for(ready, 60, "the worker to be ready", interval=0.1)
    return process, log, hostname


@pytest.fixture
def worker(tmp_path):
    started = []

    def run(transport: str):
        started.append(start_worker(tmp_path, transport))
        return started[-1]

    yield run
    for process, _, _ in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.mark.parametrize("transport", ["kombu", "ours"])
def test_a_malformed_message_does_not_stop_the_worker(worker, tmp_path, transport):
    process, log, hostname = worker(transport)
    out = tmp_path / "broker" / "out"
    drop(out, "training", b"", age=60)  # an empty task message, and a truncated broadcast
    drop(out, f"{hostname}.celery.pidbox", b'{"body": "eyJtZXRob2QiOi', age=60)
    # kombu's worker stops (waited for up to 20 s: it returns at once when it does); ours must still run 3 s on
    holds_within(lambda: process.poll() is not None, 20 if transport == "kombu" else 3)
    if transport == "kombu":
        assert process.poll() is not None and "Unrecoverable error: JSONDecodeError" in log.read_text()
        return
    assert process.poll() is None, log.read_text()[-3000:]
    assert log.read_text().count("skipped a malformed broker message") == 2
    assert len(list((tmp_path / "broker" / "bad").iterdir())) == 2
    app = make_celery(embedded_settings(tmp_path))
    assert app.control.ping([hostname], timeout=3) == [{hostname: {"ok": "pong"}}]


def test_twenty_concurrent_broadcasts_leave_the_worker_running(worker, tmp_path):
    process, log, hostname = worker("ours")
    app = make_celery(embedded_settings(tmp_path))

    def ping(_):
        with app.connection_for_write() as conn:
            return app.control.inspect([hostname], timeout=3, connection=conn).ping()

    for _round in range(3):
        with ThreadPoolExecutor(20) as pool:
            replies = list(pool.map(ping, range(20)))
        assert replies == [{hostname: {"ok": "pong"}}] * 20
    assert process.poll() is None, log.read_text()[-3000:]
    assert "Unrecoverable" not in log.read_text()
