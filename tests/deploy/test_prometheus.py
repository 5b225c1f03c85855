"""A real Prometheus (the `prometheus` binary: Debian's package, which .ci/run installs) scrapes a
live launcher (`python -m services.launcher`: SQLite, local objects, the filesystem broker) every
second while a tiny job trains, and its HTTP API (/api/v1/query) is asked for that job's series.
The scrape goes through METRICS_TOKEN with METRICS_ALLOW empty, as a scraper on another host
would. Prometheus runs on a free loopback port with its data in tmp_path (never a system one on
:9090), and is killed at the end, whatever happened."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.waiting import wait_for, wait_for_answer, wait_for_line
from tests.workers.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
TOKEN = "scrape-token-for-the-test"
CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: charlstm
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: {token}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus binary (.ci/run installs it)")


def query(base: str, promql: str) -> list[dict]:
    """The instant vector Prometheus answers for `promql` (its `result` list)."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def scalar(base: str, promql: str) -> float | None:
    """The value of a one-series answer, None when there is no series."""
    result = query(base, promql)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start(argv: list[str], out: Path, env: dict | None = None) -> subprocess.Popen:
    with open(out, "wb") as handle:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def test_prometheus_sees_a_training_job_and_the_fleet(tmp_path):
    port, prom_port, var = free_port(), free_port(), tmp_path / "var"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BROKER_URL", "SECRET_KEY", "PORT", "CHARLSTM_VAR_DIR"} and not k.startswith("S3_")
    }
    env |= {"METRICS_TOKEN": TOKEN, "METRICS_ALLOW": ""}
    (tmp_path / "prometheus.yml").write_text(CONFIG.format(token=TOKEN, port=port))
    out = tmp_path / "launcher.txt"
    launcher = start([sys.executable, "-m", "services.launcher", "--port", str(port), "--var-dir", str(var)], out, env)
    try:
        prometheus = start(
            [
                str(PROMETHEUS),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp_path / "prometheus.txt",
        )
        try:
            token = wait_for_line(out, "admin token:", launcher, 180).split()[-1]
            scrape_a_training_job(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prom_port}", token, tmp_path)
        finally:
            prometheus.kill()
            prometheus.wait(30)
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(90)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()


def scrape_a_training_job(base: str, prom: str, token: str, tmp_path: Path) -> None:
    import json.decoder as corpus_source

    from services.cli.http import ApiClient

    wait_for(lambda: ready(f"{prom}/-/ready"), 60, "Prometheus to be ready")
    # no network is allowed: without the token the scrape is refused; Prometheus sends it
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/metrics", timeout=10)
    assert refused.value.code == 403
    wait_for(lambda: scalar(prom, 'up{job="charlstm"}') == 1, 60, "Prometheus to scrape the API")

    api = ApiClient(base, token)
    corpus_file = tmp_path / "corpus.py"
    corpus_file.write_text(inspect.getsource(corpus_source) * 2)
    corpus = api.upload("corpora", corpus_file, {"name": "decoder"})
    # six short epochs: while epochs 2 to 6 run, an epoch is recorded for the 1 s scrapes to see
    hp = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "epochs": 6, "validation_split": 0.1}
    job = api.post("jobs", {"corpus_id": corpus["id"], **hp})
    job = wait_for_answer(lambda: api.get(f"jobs/{job['id']}"), 300, "the job to finish", interval=0.5)
    assert job["status"] == "succeeded", job
    # seen while it ran: its latest epoch's speed and duration, labelled with its id
    job_id = job["id"]
    speed = scalar(prom, f'max_over_time(charlstm_training_chars_per_second{{job_id="{job_id}"}}[10m])')
    assert speed is not None and speed > 0
    assert (scalar(prom, f'max_over_time(charlstm_training_epoch_seconds{{job_id="{job_id}"}}[10m])') or 0) > 0
    assert scalar(prom, 'max_over_time(charlstm_jobs{status="running"}[10m])') == 1
    assert scalar(prom, 'max_over_time(charlstm_queue_records{queue="training",state="running"}[10m])') == 1
    # and now: finished (no series of it any more), the fleet and its dependencies
    wait_for(lambda: scalar(prom, 'charlstm_jobs{status="succeeded"}') == 1, 30, "a scrape after the job ended")
    assert query(prom, f'charlstm_training_chars_per_second{{job_id="{job_id}"}}') == []
    assert (scalar(prom, 'sum(charlstm_workers{role="training",state="alive"})') or 0) >= 1
    assert (scalar(prom, 'sum(charlstm_workers{role="sampling",state="alive"})') or 0) >= 1
    assert scalar(prom, "min(charlstm_dependency_up)") == 1
    route = '{route="/api/v1/jobs/<int:job_id>",method="GET",status="200"}'
    assert (scalar(prom, f"charlstm_http_requests_total{route}") or 0) >= 1
