"""`make up` keeps running: the real launcher on embedded defaults (SQLite, local objects, the
filesystem broker) in a temporary var dir on a free port, then

(a) twenty concurrent loads of /admin/workers, and twenty concurrent broadcasts to the workers (what
    that page used to send per view, through the filesystem broker), leave every child running
    (the same pids), and every broadcast is answered by both workers;
(b) SIGKILL to the training worker's process group while a tiny job trains: the launcher starts
    it again, the reconciler (short heartbeat settings, inherited by the children) requeues the
    job and it resumes from its last recorded epoch and succeeds, every epoch recorded once.

Everything the launcher started is found by the var dir in its environment and killed at the end,
whatever happened."""

import os
import signal
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shared.queue import make_celery
from shared.settings import Settings
from tests.cli.test_launcher import finish, free_port, pids_with_env, start, wait_gone
from tests.waiting import holds_within, wait_for_answer, wait_for_line

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

SHORT_HEARTBEATS = {"HEARTBEAT_INTERVAL": "0.5", "HEARTBEAT_TIMEOUT": "5", "RECONCILE_INTERVAL": "0.5"}
CHILDREN = ("api", "training-worker", "sampling-worker", "reconciler")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def corpus(path: Path) -> Path:
    """About 60 KB of Python: a few seconds per epoch of the tiny model."""
    import inspect
    import json.decoder
    import json.encoder

    path.write_text((inspect.getsource(json.decoder) + inspect.getsource(json.encoder)) * 2)
    return path


@pytest.fixture
def stack(tmp_path):
    """The launcher's output file, base URL, admin token, children's pids and process."""
    var_dir = tmp_path / "var"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BROKER_URL", "SECRET_KEY", "CHARLSTM_VAR_DIR", "PORT"} and not k.startswith("S3_")
    }
    env.update(CHARLSTM_VAR_DIR=str(var_dir), **SHORT_HEARTBEATS)
    port = free_port()
    out = tmp_path / "launcher.txt"
    process = start(
        [sys.executable, "-m", "services.launcher", "--port", str(port), "--var-dir", str(var_dir)], env, out
    )
    try:
        token = wait_for_line(out, "admin token:", process, 120).split()[-1]
        line = wait_for_line(out, "processes:", process, 10)
        pids = {name: int(pid) for name, pid in (item.split("=") for item in line.split()[1:])}
        assert set(pids) == set(CHILDREN)
        yield out, f"http://127.0.0.1:{port}", token, pids, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = finish(process, 60)
        finally:
            for pid in pids_with_env("CHARLSTM_VAR_DIR", str(var_dir)):
                os.kill(pid, signal.SIGKILL)
        assert code == 0, out.read_text()[-4000:]
        assert wait_gone("CHARLSTM_VAR_DIR", str(var_dir)) == []


def test_the_embedded_stack_survives_page_storms_and_a_killed_worker(stack, tmp_path):
    from services.cli.http import ApiClient

    out, base, token, pids, launcher = stack

    # (a) twenty concurrent loads of the workers page, twenty concurrent broadcasts
    celery = make_celery(Settings(CHARLSTM_VAR_DIR=tmp_path / "var", BROKER_URL="", DATABASE_URL=""))

    def load(_):
        request = urllib.request.Request(f"{base}/admin/workers", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    def ping(_, timeout=15.0):
        with celery.connection_for_write() as conn:
            replies = celery.control.ping(timeout=timeout, connection=conn, limit=2)  # back at the 2nd reply
        return sorted(name.split("@")[0] for reply in replies for name in reply)

    # /readyz answers before the workers consume; the concurrent pings below assert both answer
    holds_within(lambda: ping(0, timeout=1.0) == ["sampling", "training"], 60, interval=0.2)
    began = time.monotonic()
    with ThreadPoolExecutor(40) as pool:
        pings = [pool.submit(ping, i) for i in range(20)]
        assert list(pool.map(load, range(20))) == [200] * 20
        assert [p.result() for p in pings] == [["sampling", "training"]] * 20, out.read_text()[-4000:]
    print(f"\n20 concurrent /admin/workers and 20 broadcasts: {time.monotonic() - began:.1f} s")
    time.sleep(1.0)  # a worker that read a broken broadcast would be gone by now
    assert all(alive(pid) for pid in pids.values()), out.read_text()[-4000:]
    assert "restarting it" not in out.read_text()

    # (b) the training worker killed mid-job
    api = ApiClient(base, token)
    uploaded = api.upload("corpora", corpus(tmp_path / "corpus.py"), {"name": "json"})
    hp = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "epochs": 3, "validation_split": 0.1}
    job = api.post("jobs", {"corpus_id": uploaded["id"], **hp})
    job_path = f"jobs/{job['id']}"

    def trained_an_epoch(answer: dict) -> bool:
        assert answer["status"] in ("queued", "running"), answer
        return answer["status"] == "running" and answer["epoch"] >= 1

    job = wait_for_answer(lambda: api.get(job_path), 60, "the job's first epoch", trained_an_epoch, 0.1)
    assert job["status"] == "running" and 1 <= job["epoch"] < 3, job
    killed_at, killed_after = time.monotonic(), job["epoch"]
    os.killpg(pids["training-worker"], signal.SIGKILL)

    restarted = wait_for_line(out, "charlstm: restarted the training-worker (pid ", launcher, 30)
    assert "the training-worker was killed by SIGKILL; restarting it in 1 s (restart 1)" in out.read_text()
    restarted_at = time.monotonic()
    new_pid = int(restarted.rstrip(")").split()[-1])
    left = killed_at + 60 - time.monotonic()
    job = wait_for_answer(lambda: api.get(job_path), left, "the job to finish after the kill", interval=0.2)
    print(
        f"killed after epoch {killed_after}: restarted in {restarted_at - killed_at:.1f} s, "
        f"job finished {time.monotonic() - killed_at:.1f} s after the kill"
    )
    assert job["status"] == "succeeded", (job, out.read_text()[-4000:])
    assert [e["epoch"] for e in job["history"]] == [1, 2, 3]  # each epoch recorded once, in order
    assert job["attempts"] == 2  # the killed start counts; the second resumed from the recorded epoch
    assert alive(new_pid) and all(alive(pids[name]) for name in CHILDREN if name != "training-worker")
    assert out.read_text().count("restarting it") == 1
