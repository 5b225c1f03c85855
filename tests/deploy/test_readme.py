"""The README cannot drift: its newcomer walk-through (every fenced `sh` block right after a
`<!-- newcomer` comment) runs unchanged, as one bash script, against a live launcher
(`python -m services.launcher`, what `make up` runs) on a free port, with the launcher's var dir
as the script's `var/` (a temporary folder, CHARLSTM_VAR_DIR) and CHARLSTM_URL pointing at it."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for_line
from tests.workers.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
MARKED = re.compile(r"<!-- newcomer[^>]*-->\s*\n```sh\n(.*?)\n```", re.S)


def newcomer_blocks(readme: str) -> list[str]:
    return MARKED.findall(readme)


def test_the_readme_marks_its_walk_through():
    blocks = newcomer_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "README.md has no <!-- newcomer --> block"
    script = "\n".join(blocks)
    for step in ("charlstm upload", "charlstm submit", "charlstm watch", "charlstm sample"):
        assert step in script


def test_the_walk_through_runs_unchanged(tmp_path):
    script = "\n".join(newcomer_blocks((ROOT / "README.md").read_text(encoding="utf-8")))
    port, var = free_port(), tmp_path / "var"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BROKER_URL", "SECRET_KEY", "PORT", "CHARLSTM_TOKEN"} and not k.startswith("S3_")
    }
    env |= {
        "CHARLSTM_VAR_DIR": str(var),
        "CHARLSTM_URL": f"http://127.0.0.1:{port}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # charlstm, as after make up
        "PYTHONPATH": str(ROOT),  # this checkout's code, also for the charlstm script
    }
    out = tmp_path / "launcher.txt"
    with open(out, "wb") as handle:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "services.launcher", "--port", str(port), "--var-dir", str(var)],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for_line(out, "admin token:", launcher, 180)
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400,
        )  # fmt: skip
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(90)
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "job 1 succeeded" in run.stdout + run.stderr
    assert len((var / "first-sample.txt").read_text(encoding="utf-8")) == 2000
