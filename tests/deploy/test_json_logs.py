"""LOG_FORMAT=json end to end (shared/logs.py through every process): `python -m services.launcher`
on a temporary var dir and a free port (SQLite, local objects, filesystem broker) trains a tiny job
and samples it through the API, then stops on Ctrl-C; every line of its combined stdout and stderr
(the launcher's, the API's, the workers' with Celery's and TensorFlow's own lines, the
reconciler's) is a JSON object with the time, level, role and host, and the lines about the job
and the sample carry their ids."""

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from shared.logs import REQUIRED_KEYS, ROLES
from tests.cli.test_launcher import finish, free_port, start, wait_gone
from tests.waiting import wait_for, wait_for_answer

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

EMBEDDED = {"DATABASE_URL", "BROKER_URL", "SECRET_KEY", "CHARLSTM_VAR_DIR", "PORT", "LOG_FORMAT"}


def records(out: Path, complete_only: bool = True) -> list[dict]:
    """Each line of `out` parsed; a last line still being written is left out unless told."""
    text = out.read_text(errors="replace")
    lines = text.split("\n")
    if complete_only or not text.endswith("\n"):
        lines = lines[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def message_starting(out: Path, prefix: str, process) -> str:
    def found() -> str | None:
        if process.poll() is not None:
            raise AssertionError(f"the launcher exited ({process.returncode}):\n{out.read_text()[-4000:]}")
        return next((r["message"] for r in records(out) if r["message"].startswith(prefix)), None)

    return wait_for(found, 120, f"a JSON line whose message starts with {prefix!r}", interval=0.2)


def train_and_sample(base: str, token: str, tmp_path: Path) -> tuple[int, int]:
    """A tiny job (2 epochs) and a short sample of it, over HTTP: their ids."""
    import inspect
    import json.decoder as corpus_source

    from services.cli.http import ApiClient

    api = ApiClient(base, token)
    corpus_file = tmp_path / "corpus.py"
    corpus_file.write_text(inspect.getsource(corpus_source) * 2)
    corpus = api.upload("corpora", corpus_file, {"name": "decoder"})
    hp = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "epochs": 2, "validation_split": 0.1}
    job = api.post("jobs", {"corpus_id": corpus["id"], **hp})
    job = wait_for_answer(lambda: api.get(f"jobs/{job['id']}"), 240, "the job to finish", interval=0.2)
    assert job["status"] == "succeeded", job
    sample = api.post(f"jobs/{job['id']}/samples", {"length": 2000, "temperature": 0.75})
    sample = wait_for_answer(lambda: api.get(f"samples/{sample['id']}"), 120, "the sample to finish", interval=0.2)
    assert sample["status"] == "succeeded", sample
    return job["id"], sample["id"]


def test_every_line_of_an_embedded_run_is_json(tmp_path):
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED and not k.startswith("S3_")}
    env |= {"CHARLSTM_VAR_DIR": str(var_dir), "LOG_FORMAT": "json"}
    port = free_port()
    out = tmp_path / "launcher.txt"
    argv = [sys.executable, "-m", "services.launcher", "--port", str(port), "--var-dir", str(var_dir)]
    process = start(argv, env, out)
    try:
        token = message_starting(out, "admin token:", process).split()[-1]
        message_starting(out, "processes:", process)
        job_id, sample_id = train_and_sample(f"http://127.0.0.1:{port}", token, tmp_path)
    finally:
        asked = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = finish(process, 60)
        print(f"\nlauncher SIGINT: every process gone after {time.monotonic() - asked:.1f} s")
    assert code == 0, out.read_text()[-4000:]
    assert wait_gone("CHARLSTM_VAR_DIR", str(var_dir)) == []

    lines = records(out, complete_only=False)  # every line, the last one too: json.loads fails on any other
    assert out.read_text().endswith("\n")
    for record in lines:
        assert all(key in record for key in REQUIRED_KEYS), record
        assert record["role"] in ROLES and record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    roles = {r["role"] for r in lines}
    assert {"launcher", "api", "training", "sampling", "reconciler"} <= roles, roles
    by_message = {r["message"]: r for r in lines}
    assert by_message["stopping ..."]["role"] == "launcher"
    for celerys_own in (r"^Task charlstm\.train\[.*\] received$", r"^Task charlstm\.train\[.*\] succeeded in "):
        assert any(r["role"] == "training" and re.search(celerys_own, r["message"]) for r in lines), celerys_own

    about_job = [r for r in lines if r["role"] == "training" and re.search(rf"\bjob {job_id}\b", r["message"])]
    about_sample = [r for r in lines if r["role"] == "sampling" and re.search(rf"\bsample {sample_id}\b", r["message"])]
    assert about_job and about_sample
    assert all(r.get("job") == job_id for r in about_job), about_job
    assert all(r.get("sample") == sample_id for r in about_sample), about_sample
    wrapped = [r for r in lines if r["logger"] in ("stdout", "stderr")]
    print(f"{len(lines)} JSON lines, {len(wrapped)} of them written outside logging and wrapped")
