"""services/launcher.py: the supervision with stand-in children (always runs), and the real thing,
`python -m services.launcher` on a temporary var dir and a free port (SQLite, local objects,
filesystem broker), stopped with SIGINT / SIGTERM. Leftover processes are found by the
environment they inherit (a unique tag / the var dir) in /proc."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from services import launcher
from tests.waiting import holds_within, wait_for_answer, wait_for_line

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

FAKE_CHILD = """
import http.server, os, signal, subprocess, sys, time
role = sys.argv[1]
if role == "api":
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
elif role == "worker":  # has a child of its own, like a celery pool
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    time.sleep(600)
elif role == "stubborn":  # ignores SIGTERM: only the SIGKILL after the timeout stops it
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("stubborn ready", flush=True)
    time.sleep(600)
elif role == "crash":
    time.sleep(float(sys.argv[2]))
    sys.exit(3)
elif role == "pid":  # a worker that says which pids it and its child have
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"pid {os.getpid()} {child.pid}", flush=True)
    time.sleep(600)
"""

RUN_SUPERVISE = """
import json, sys
from services.launcher import RestartPolicy, Supervisor, supervise
children, url, stop_timeout, start_timeout, policy = json.loads(sys.argv[1])
supervisor = Supervisor(stop_timeout, policy=RestartPolicy(**policy))
supervisor.install_signal_handlers()
sys.exit(supervise([tuple(c) for c in children], url, ["ready"], start_timeout, supervisor))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def outside_address() -> str:
    """An address of this machine that is not loopback (the one a packet to the outside leaves from)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent by connect() on UDP
        return probe.getsockname()[0]


def pids_with_env(key: str, value: str) -> list[int]:
    """Live (not zombie) processes whose environment has KEY=value."""
    needle = f"{key}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def wait_gone(key: str, value: str, timeout: float = 10.0) -> list[int]:
    """The processes with KEY=value still alive after waiting up to `timeout` seconds for none to be."""
    holds_within(lambda: not pids_with_env(key, value), timeout)
    return pids_with_env(key, value)


def start(argv: list[str], env: dict, out: Path) -> subprocess.Popen:
    with open(out, "wb") as handle:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def finish(process: subprocess.Popen, timeout: float = 60) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def assert_orderly_stop(text: str, names: list[str]) -> None:
    """What a stop prints: one line per process, no traceback, no ERROR."""
    stopped = text[text.index("charlstm: stopping") :]
    assert "Traceback" not in stopped and re.search(r"\bERROR\b", stopped) is None, stopped[-4000:]
    for name in names:
        assert len(re.findall(rf"^charlstm: (stopped|killed) the {name}\b", stopped, re.M)) == 1, stopped[-4000:]


# ---- supervision with stand-in children --------------------------------------------------------


@pytest.fixture
def fake(tmp_path):
    """Runs supervise() in a subprocess on stand-in children; every process carries a unique tag."""
    script = tmp_path / "fake_child.py"
    script.write_text(FAKE_CHILD)
    tag = uuid.uuid4().hex
    env = {**os.environ, "LAUNCHER_TEST_TAG": tag}
    started = []

    def run(children: list[tuple[str, list[str]]], port: int, stop_timeout=1.0, start_timeout=30.0, policy=None):
        children = [(name, [sys.executable, str(script), *args]) for name, args in children]
        config = json.dumps([children, f"http://127.0.0.1:{port}/healthz", stop_timeout, start_timeout, policy or {}])
        process = start([sys.executable, "-c", RUN_SUPERVISE, config], env, tmp_path / "out.txt")
        started.append(process)
        return process, tmp_path / "out.txt"

    run.tag = tag  # type: ignore[attr-defined]
    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
    for pid in pids_with_env("LAUNCHER_TEST_TAG", tag):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_every_child_and_exits_0(fake, signum):
    port = free_port()
    children = [("api", ["api", str(port)]), ("worker", ["worker"]), ("stubborn", ["stubborn"])]
    process, out = fake(children, port, stop_timeout=1.0)
    line = wait_for_line(out, "processes:", process, 30)
    wait_for_line(out, "stubborn ready", process, 30)
    pids = {name: int(pid) for name, pid in (item.split("=") for item in line.split()[1:])}
    assert set(pids) == {"api", "worker", "stubborn"}
    assert len(pids_with_env("LAUNCHER_TEST_TAG", fake.tag)) == 5  # launcher, 3 children, 1 grandchild

    process.send_signal(signum)
    assert finish(process, 30) == 0
    assert wait_gone("LAUNCHER_TEST_TAG", fake.tag) == []
    assert "ready" in out.read_text()
    assert_orderly_stop(out.read_text(), ["api", "worker", "stubborn"])


def test_a_dead_child_is_restarted_with_backoff_until_it_exits_too_often(fake):
    port = free_port()
    policy = {"first_delay": 0.2, "max_delay": 0.4, "max_restarts": 3, "window": 60}
    children = [("api", ["api", str(port)]), ("worker", ["pid"]), ("crasher", ["crash", "1.5"])]
    process, out = fake(children, port, policy=policy)
    worker_pids = wait_for_line(out, "pid ", process, 30)
    assert finish(process, 30) == 1
    text = out.read_text()
    for restart, delay in ((1, 0.2), (2, 0.4), (3, 0.4)):  # doubling, capped at max_delay
        assert f"the crasher exited with status 3; restarting it in {delay:g} s (restart {restart})" in text
    assert text.count("restarted the crasher (pid ") == 3
    assert "the crasher exited with status 3; it was restarted 3 times in the last 60 s: giving up" in text
    assert text.count("pid ") - text.count("(pid ") == 1  # the other children ran on: never restarted
    assert worker_pids in text
    assert wait_gone("LAUNCHER_TEST_TAG", fake.tag) == []


def test_a_restarted_childs_leftovers_are_killed_first(fake):
    """A worker whose leader dies alone (SIGKILL to it only) leaves its pool child behind: killed
    before the worker is started again."""
    port = free_port()
    process, out = fake([("api", ["api", str(port)]), ("worker", ["pid"])], port, policy={"first_delay": 0.1})
    leader, grandchild = map(int, wait_for_line(out, "pid ", process, 30).split()[1:])
    wait_for_line(out, "processes:", process, 30)  # a child that dies while starting is not restarted
    os.kill(leader, signal.SIGKILL)
    wait_for_line(out, "charlstm: restarted the worker (pid ", process, 30)
    assert "the worker was killed by SIGKILL; restarting it in 0.1 s (restart 1)" in out.read_text()
    holds_within(lambda: not Path(f"/proc/{grandchild}").exists(), 10, interval=0.05)
    assert not Path(f"/proc/{grandchild}").exists()
    process.send_signal(signal.SIGTERM)
    assert finish(process, 30) == 0
    assert wait_gone("LAUNCHER_TEST_TAG", fake.tag) == []


def test_a_signal_while_a_restart_is_pending_stops_everything(fake):
    port = free_port()
    process, out = fake([("api", ["api", str(port)]), ("crasher", ["crash", "1.5"])], port, policy={"first_delay": 30})
    wait_for_line(out, "charlstm: the crasher exited with status 3; restarting it in 30 s (restart 1)", process, 30)
    asked = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert finish(process, 30) == 0
    assert time.monotonic() - asked < 5
    assert "restarted the crasher" not in out.read_text()
    assert wait_gone("LAUNCHER_TEST_TAG", fake.tag) == []


def test_no_health_in_time_exits_1(fake):
    process, out = fake([("worker", ["worker"])], free_port(), start_timeout=1.0)
    assert finish(process, 30) == 1
    assert "the service did not start" in out.read_text()
    assert wait_gone("LAUNCHER_TEST_TAG", fake.tag) == []


@pytest.mark.parametrize("bound", ["0.0.0.0", "127.0.0.1"])
def test_port_in_use(tmp_path, capsys, monkeypatch, bound):
    with socket.socket() as busy:
        busy.bind((bound, 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert launcher.main(["--port", str(port), "--var-dir", str(tmp_path / "var")]) == 1
        monkeypatch.setenv("PORT", str(port))  # PORT=... make up: the same check, the same message
        assert launcher.main(["--var-dir", str(tmp_path / "var")]) == 1
    err = capsys.readouterr().err
    assert err.count(f"cannot listen on 127.0.0.1:{port} (port {port} is in use") == 2
    assert "--port / PORT" in err
    assert not (tmp_path / "var").exists()


def test_api_command_binds_loopback_unless_told():
    argv = launcher.api_command(8123)
    assert argv[1:3] == ["-m", "services.serve"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "8123"
    assert launcher.child_commands(8123, "0.0.0.0")[0][1][argv.index("--host") + 1] == "0.0.0.0"


# ---- the real service -------------------------------------------------------------------------


def embedded_flow(base: str, token: str, tmp_path: Path) -> None:
    """Upload, train two tiny epochs, sample 50,000 characters and download them, over HTTP."""
    import inspect
    import json.decoder as corpus_source

    from services.cli.http import ApiClient

    api = ApiClient(base, token)
    corpus_file = tmp_path / "corpus.py"
    corpus_file.write_text(inspect.getsource(corpus_source) * 2)
    corpus = api.upload("corpora", corpus_file, {"name": "decoder"})
    job = api.post(
        "jobs",
        {
            "corpus_id": corpus["id"],
            "layers": 1,
            "units": 16,
            "seq_len": 20,
            "batch_size": 8,
            "epochs": 2,
            "validation_split": 0.1,
        },
    )
    deadline = time.monotonic() + 240  # for the job and the sample together
    job_path = f"jobs/{job['id']}"
    job = wait_for_answer(lambda: api.get(job_path), 240, "the job to finish", interval=0.2)
    assert job["status"] == "succeeded" and job["epoch"] == 2, job
    sample = api.post(f"{job_path}/samples", {"length": 50_000, "temperature": 0.75})
    sample_path = f"samples/{sample['id']}"
    left = deadline - time.monotonic()
    sample = wait_for_answer(lambda: api.get(sample_path), left, "the sample to finish", interval=0.2)
    assert sample["status"] == "succeeded", sample
    out = tmp_path / "sample.txt"
    api.download(f"samples/{sample['id']}/text", out)
    assert len(out.read_text()) == 50_000


def start_long_job(base: str, token: str) -> dict:
    """A long job on the first run's corpus, once the training worker has claimed it."""
    from services.cli.http import ApiClient

    api = ApiClient(base, token)
    hp = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "validation_split": 0.1}
    job = api.post("jobs", {"corpus_id": 1, "epochs": 500, **hp})
    job_path = f"jobs/{job['id']}"
    job = wait_for_answer(lambda: api.get(job_path), 60, "the job to run", lambda j: j["status"] == "running", 0.2)
    assert job["status"] == "running", job
    return job


def test_launcher_runs_the_service_and_stops_it(tmp_path):
    var_dir = tmp_path / "var"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BROKER_URL", "SECRET_KEY", "CHARLSTM_VAR_DIR", "PORT"} and not k.startswith("S3_")
    }
    env["CHARLSTM_VAR_DIR"] = str(var_dir)  # the option wins; this tags every process for the check below

    tokens = []
    for signum in (signal.SIGINT, signal.SIGTERM):  # the second run reuses the database and the token
        port = free_port()
        out = tmp_path / f"launcher-{signum.name}.txt"
        process = start(
            [sys.executable, "-m", "services.launcher", "--port", str(port), "--var-dir", str(var_dir)], env, out
        )
        try:
            token = wait_for_line(out, "admin token:", process, 120).split()[-1]
            wait_for_line(out, "processes:", process, 10)
            base = f"http://127.0.0.1:{port}"
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
                assert response.status == 200 and json.load(response)["status"] == "ok"
            request = urllib.request.Request(f"{base}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                # the second run finds the job the first one trained: the database outlives restarts
                assert json.load(response)["total"] == (0 if signum == signal.SIGINT else 1)
            assert f"admin pages: {base}/admin/" in out.read_text()
            assert f"listening on 127.0.0.1, port {port}" in out.read_text()
            with pytest.raises(OSError):  # loopback only: not on this machine's other addresses
                socket.create_connection((outside_address(), port), timeout=2).close()
            if signum == signal.SIGINT:  # the same flow as the end-to-end test, on embedded defaults
                embedded_flow(base, token, tmp_path)
            else:  # stopped while a job starts: handed back once, its first start kept
                running = start_long_job(base, token)
        finally:
            asked = time.monotonic()
            process.send_signal(signum)
            code = finish(process, 60)
            print(f"\nlauncher {signum.name}: every process gone after {time.monotonic() - asked:.1f} s")
        assert code == 0, out.read_text()[-4000:]
        assert_orderly_stop(out.read_text(), ["api", "training-worker", "sampling-worker", "reconciler"])
        if signum == signal.SIGTERM:
            with sqlite3.connect(var_dir / "charlstm.db") as db:
                row = db.execute(
                    "SELECT status, attempts, requeues, started_at FROM jobs WHERE id = ?", (running["id"],)
                )
                status, attempts, requeues, started_at = row.fetchone()
            assert (status, attempts, requeues) == ("queued", 0, 1), out.read_text()[-4000:]
            assert started_at.replace(" ", "T") + "Z" == running["started_at"]
        assert wait_gone("CHARLSTM_VAR_DIR", str(var_dir)) == []
        assert not launcher.port_in_use(port)
        tokens.append(token)

    assert tokens[0] == tokens[1] == (var_dir / "admin-token").read_text().strip()
    assert (var_dir / "admin-token").stat().st_mode & 0o077 == 0
    assert (var_dir / "charlstm.db").exists()


def test_a_message_returned_by_a_stopping_worker_is_logged_without_a_traceback():
    """Ctrl-C with a job arriving: celery logs the task's Reject; the filter the worker app
    connects makes it one INFO line (any other Reject keeps its warning and traceback)."""
    import logging

    from celery.exceptions import Reject

    from workers import shutdown

    def record(reason: str) -> logging.LogRecord:
        try:
            raise Reject(reason, requeue=True)
        except Reject:
            return logging.LogRecord("celery.app.trace", logging.WARNING, __file__, 1, "rejected", (), sys.exc_info())

    quiet = shutdown.HandBackWithoutTraceback()
    stopping, other = record(shutdown.STOPPING), record("something else")
    assert quiet.filter(stopping) and quiet.filter(other)
    assert stopping.exc_info is None and stopping.levelname == "INFO"
    assert other.exc_info is not None and other.levelname == "WARNING"
    shutdown.connect()
    assert any(isinstance(f, shutdown.HandBackWithoutTraceback) for f in logging.getLogger("celery.app.trace").filters)
