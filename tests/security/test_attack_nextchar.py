"""Attack: signed-in users ask for next-character charts of the largest model the web process runs
(NEXT_CHAR_MAX_PARAMETERS), cycling `?epoch=` so that every request misses the model cache, with
the longest prompt, while another user lists their jobs. Real processes: `python -m
services.serve` (waitress, SERVE_THREADS 8) on PostgreSQL and a local object store, the
checkpoints written by the engine (Keras, in a child process) and recorded with
shared.lifecycle.record_epoch.

Figures (printed): the other user's GET /api/v1/jobs p99 and statuses, the attackers' statuses
(200, 429 past NEXT_CHAR_PER_USER, 503 while NEXT_CHAR_THREADS compute) and the API's RSS.
Held: p99 < 100 ms and no failed read for the other user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from services.launcher import ROOT, api_command
from tests.serving.conftest import stop, wait_answering
from tests.workers.processes import free_port

ATTACKERS = 4  # accounts; 8 client threads, two per account
CLIENTS = 8
EPOCHS = 6  # more than MODEL_CACHE_SIZE (4): cycling epochs misses the cache every time
SECONDS = 10.0
PROMPT_CHARS = 2_000  # the longest prompt the API accepts (PROMPT_MAX_CHARS)
REFUSED_PAUSE = 1.0
TEXT = "def f(x):\n    return x * 2\n\n"

BUILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from shared.engine.training import checkpoint
    from shared.engine.config import Hyperparameters
    from shared.engine.training.model import build_model

    hp = Hyperparameters(**json.loads(sys.argv[1]))
    vocabulary = sorted(set(sys.argv[3]))
    model = build_model(hp, len(vocabulary))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0.0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
    meta = {"hyperparameters": hp.model_dump(), "vocabulary": vocabulary, "warmup_text": sys.argv[3][:50],
            "transforms": {"lowercase": False, "tabs": False}, "epoch": 1, "history": [], "best_epoch": 1}
    print(checkpoint.save(model, meta, sys.argv[2]))
    """
)


def largest_allowed(limit: int, layers: int = 4) -> dict:
    """Hyperparameters of the largest stateful model under `limit` (quotas.model_parameters)."""
    from shared.engine.config import Hyperparameters
    from shared.lifecycle.quotas import model_parameters

    units = 1
    while model_parameters(Hyperparameters(layers=layers, units=units + 1)) <= limit:
        units += 1
    return {"mode": "stateful", "layers": layers, "units": units, "batch_size": 1, "epochs": EPOCHS}


def make_world(url: str, store, hp: dict, folder: Path) -> tuple[list[tuple[str, int]], str]:
    """Attacker (token, job) pairs whose epochs point at EPOCHS stored checkpoints, and the other
    user's token (with a few small jobs of their own)."""
    from shared import lifecycle
    from shared.auth import create_user_token
    from shared.db.models import Job, User, WorkStatus
    from shared.db.session import session_scope
    from shared.engine.training.train import EpochReport
    from tests.factories import corpus_row

    built = subprocess.run(
        [sys.executable, "-c", BUILD, json.dumps(hp), str(folder), TEXT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    checkpoint = Path(built.stdout.strip().splitlines()[-1])
    keys = [f"attack/epoch-{n:04d}" for n in range(1, EPOCHS + 1)]
    for key in keys:
        store.put_dir(key, checkpoint)
    attackers, victim = [], ""
    with session_scope(url) as session:
        for n in range(ATTACKERS + 1):
            name = f"attacker{n}" if n < ATTACKERS else "victim"
            token = create_user_token(session, name)
            user = session.query(User).filter_by(name=name).one()
            corpus = corpus_row(owner=user, object_key=f"corpora/{n:032d}.txt", text=TEXT)
            jobs = [Job(owner=user, corpus=corpus, status=WorkStatus.running, hyperparameters=hp) for _ in range(3)]
            session.add_all([corpus, *jobs])
            session.flush()
            if name == "victim":
                victim = token
                continue
            lifecycle.record_vocabulary(session, jobs[0].id, sorted(set(TEXT)))
            for epoch, key in enumerate(keys, start=1):
                report = EpochReport(
                    epoch=epoch, loss=1.0, val_loss=1.0 + epoch / 10, seconds=1.0, chars_per_second=1.0
                )
                lifecycle.record_epoch(session, jobs[0].id, report, key)
            attackers.append((token, jobs[0].id))
    return attackers, victim


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def get(url: str, token: str, timeout: float = 60) -> tuple[int, float]:
    began = time.perf_counter()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    except OSError:
        status = 0
    return status, time.perf_counter() - began


def test_next_char_charts_leave_the_other_threads_free(clean_db, tmp_path):
    from shared.settings import Settings
    from shared.storage import get_store

    var = tmp_path / "var"
    settings = Settings(CHARLSTM_VAR_DIR=str(var), DATABASE_URL=clean_db)
    hp = largest_allowed(getattr(settings, "next_char_max_parameters", 6_500_000))
    attackers, victim = make_world(clean_db, get_store(settings), hp, tmp_path / "run")

    env = {k: v for k, v in os.environ.items() if not k.startswith("S3_") and k not in {"PORT", "HOST"}}
    env.update(
        CHARLSTM_VAR_DIR=str(var),
        DATABASE_URL=clean_db,
        BROKER_URL=os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15"),
        SECRET_KEY="n3xt-char-attack-tests-SECRET-0123456789",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(api_command(port, threads=8), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{base}/healthz", server, log)
        assert get(f"{base}/api/v1/jobs", victim)[0] == 200
        rss_before = rss_mb(server.pid)
        quiet = sorted(get(f"{base}/api/v1/jobs", victim)[1] for _ in range(50))  # the same reads, no attack
        prompt = (TEXT * (PROMPT_CHARS // len(TEXT) + 1))[:PROMPT_CHARS]
        stop_at = time.monotonic() + SECONDS
        attacks: list[tuple[int, float]] = []
        reads: list[tuple[int, float]] = []
        peak = [rss_before]

        def attack(n: int) -> None:
            token, job_id = attackers[n % ATTACKERS]
            epoch = n
            while time.monotonic() < stop_at:
                epoch = epoch % EPOCHS + 1
                query = urllib.parse.urlencode({"prompt": prompt, "epoch": epoch, "temperatures": "0.5,1"})
                status, seconds = get(f"{base}/api/v1/jobs/{job_id}/next-char?{query}", token)
                attacks.append((status, seconds))
                if status in {429, 503}:
                    time.sleep(REFUSED_PAUSE)  # as refused (Retry-After: 1): the bound is on charts, not on requests

        def read() -> None:
            time.sleep(0.5)  # the attack under way
            while time.monotonic() < stop_at:
                reads.append(get(f"{base}/api/v1/jobs", victim, timeout=10))
                peak[0] = max(peak[0], rss_mb(server.pid))
                time.sleep(0.02)

        threads = [threading.Thread(target=attack, args=(n,)) for n in range(CLIENTS)]
        threads.append(threading.Thread(target=read))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        latencies = sorted(seconds for _, seconds in reads)
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else float("inf")
        counts = {s: sum(1 for status, _ in attacks if status == s) for s in sorted({s for s, _ in attacks})}
        read_counts = {s: sum(1 for status, _ in reads if status == s) for s in sorted({s for s, _ in reads})}
        print(
            f"\nmodel {hp['layers']} x {hp['units']}; victim GET /api/v1/jobs without attack: p99"
            f" {quiet[-1] * 1000:.1f} ms; under attack: {len(reads)} reads, p99 {p99:.1f} ms,"
            f" max {latencies[-1] * 1000 if latencies else 0:.1f} ms, statuses {read_counts};"
            f" attackers' next-char statuses {counts};"
            f" API RSS {rss_before:.0f} MB before, peak {peak[0]:.0f} MB, after {rss_mb(server.pid):.0f} MB"
        )
        assert read_counts == {200: len(reads)} and len(reads) >= 20, read_counts
        assert p99 < 100, f"p99 {p99:.1f} ms"
        assert counts.get(200, 0) >= 1, counts  # the charts are still answered, within bounds
        assert set(counts) <= {200, 429, 503}, counts
    finally:
        stop(server)
