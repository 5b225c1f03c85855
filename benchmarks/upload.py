"""Upload memory: the API's peak resident memory while it takes corpora of 20, 100 and 200 MB.

Each size runs against a fresh API process started as `make up` starts it (services.serve:
waitress, one process with its request threads; it spools large bodies to disk; on embedded
defaults in a temporary folder): a warm-up request, then the API process's resident set
(VmRSS) as the baseline, the upload (streamed from disk by the CLI's client), then the process's
peak (VmHWM). The figure is the peak's growth over the baseline, and the time of the upload.

Run: python -m benchmarks.upload   (BENCH_QUICK=1: 20 MB only)
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from services.cli.http import ApiClient
from services.launcher import ROOT, api_command
from shared.auth import create_user_token
from shared.db.migrate import upgrade
from shared.db.session import session_scope

from .common import machine, print_table, quick, write_results

MB = 1024 * 1024
LINE = "def f(x):\n    return x * 2  # a line of Python, about forty bytes\n"


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def server_pid(server: subprocess.Popen) -> int:
    """The process that serves requests: services.serve is one process (waitress threads), the one
    started; `make up` starts it the same way."""
    if server.poll() is not None:
        raise RuntimeError(f"the API server exited with status {server.returncode}")
    return server.pid


def write_corpus(path: Path, size: int) -> None:
    block = (LINE * (MB // len(LINE) + 1))[:MB].encode()
    with open(path, "wb") as out:
        for _ in range(size // MB):
            out.write(block)


def measure(size: int, folder: Path, port: int) -> dict:
    var = folder / f"var-{size}"
    db_url = f"sqlite:///{var / 'charlstm.db'}"
    env = {**os.environ, "CHARLSTM_VAR_DIR": str(var), "DATABASE_URL": db_url, "MAX_UPLOAD_BYTES": str(size + MB),
           "SECRET_KEY": "bench-secret-key-bench-secret-key!!",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    for name in ("BROKER_URL", "S3_BUCKET", "S3_ENDPOINT_URL"):
        env.pop(name, None)
    upgrade(db_url)
    with session_scope(db_url) as session:
        token = create_user_token(session, "bench")
    corpus = folder / f"corpus-{size}.txt"
    write_corpus(corpus, size)
    server = subprocess.Popen(api_command(port, threads=2), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        client = ApiClient(url, token)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        pid = server_pid(server)
        client.get("corpora")  # warm: app, database and store opened
        baseline = status_kb(pid, "VmRSS")
        began = time.perf_counter()
        answer = client.upload("corpora", corpus, {"name": f"{size // MB} MB"})
        seconds = time.perf_counter() - began
        peak = status_kb(pid, "VmHWM")
        assert answer["bytes"] == corpus.stat().st_size
        return {"bytes": corpus.stat().st_size, "baseline_mb": baseline / 1024, "peak_mb": peak / 1024,
                "growth_mb": (peak - baseline) / 1024, "seconds": seconds,
                "mb_per_second": corpus.stat().st_size / MB / seconds}  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        corpus.unlink(missing_ok=True)


def main() -> dict:
    sizes = [20 * MB] if quick() else [20 * MB, 100 * MB, 200 * MB]
    with tempfile.TemporaryDirectory(prefix="charlstm-upload-bench-") as tmp:
        results = {f"{size // MB}MB": measure(size, Path(tmp), 18_000 + n) for n, size in enumerate(sizes)}
    rows = [
        (name, f"{r['baseline_mb']:.0f} MB", f"{r['peak_mb']:.0f} MB", f"{r['growth_mb']:+.1f} MB",
         f"{r['seconds']:.1f} s ({r['mb_per_second']:.0f} MB/s)")
        for name, r in results.items()
    ]  # fmt: skip
    write_results("upload", {"machine": machine(), "uploads": results})
    print_table("upload memory: API process peak RSS growth (target < 50 MB)", rows,
                header=("upload", "baseline RSS", "peak RSS", "growth", "upload time"))  # fmt: skip
    return results


if __name__ == "__main__":
    main()
