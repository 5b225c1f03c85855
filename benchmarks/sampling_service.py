"""The sampling service's batching: 1, 4 and 16 concurrent requests through a real sampling worker
against the engine's own batch of the same size, in one run.

Model: stateful 3 x 512, vocabulary 100, random weights (benchmarks/sampling.py's `build_model`),
saved as a checkpoint and stored as a job's epoch; int8; temperature 0.75; the checkpoint's
100-character warm-up text as the seed; CHARS (50,000) characters per request.

The service: `python -m workers sampling --concurrency 16` as `make up` runs it (embedded SQLite,
local object store, filesystem broker, in a temporary folder). One short request first (the model
is loaded into the worker's cache, numba's kernels compiled), then for each size N the N requests
are sent at once and the next size waits until all N are stored. A request's generation, from
joining its batch to its last character, is read from the worker's log line ("generated ...
from T0 to T1"); the group's time is the last T1 less the first T0. Also shown: the time from
sending to the last stored sample (broker, storage and the quality figures included).

The engine: `generate(net, seed, CHARS, [0.75], count=N)` on the int8 net with the kernel threads
a lone batch gets in the worker (every core), timed just before the service's group.

Targets: 16 requests within 1.3x of the engine's 16 together; 1 request within 1.1x of the
engine's lone sample.

Run: python -m benchmarks.sampling_service   (BENCH_QUICK=1: 2,000 characters; BENCH_SERVICE_CHARS
sets the length)
"""

from __future__ import annotations

import json
import os
import re
import signal
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import targets
from .common import machine, print_table, quick, write_results

SIZES = (1, 4, 16)
TEMPERATURE = 0.75
CHARS = int(os.environ.get("BENCH_SERVICE_CHARS", 2_000 if quick() else 50_000))
ROOT = Path(__file__).resolve().parent.parent
GENERATED = re.compile(r"sample (\d+): generated (\d+) characters from ([\d.]+) to ([\d.]+)")


def write_checkpoint(folder: Path, model, hyperparameters, chars: str, warmup_text: str) -> Path:
    """A checkpoint folder of `model` (its vocabulary `chars`, in id order) as training writes one."""
    from shared.engine.training import checkpoint

    meta = {
        "hyperparameters": hyperparameters.model_dump(),
        "vocabulary": list(chars),
        "warmup_text": warmup_text,
        "transforms": {"lowercase": False, "tabs": False},
        "epoch": 1,
        "history": [],
        "best_epoch": 1,
    }
    return checkpoint.save(model, meta, folder)


def stored_job(db_url: str, store, checkpoint_dir: Path, corpus_text: str) -> tuple[int, int, str]:
    """(user id, job id, checkpoint key): a user, a corpus, a job and its epoch whose checkpoint is
    `checkpoint_dir`, uploaded. The corpus's text is not stored: the samples get no novelty figures
    (a missing corpus is logged and skipped), which keeps the figures' time out of the next group's."""
    import hashlib

    from shared.db.models import Corpus, Epoch, Job, User
    from shared.db.session import session_scope

    data = corpus_text.encode("utf-8")
    key = "checkpoints/bench/epoch-0001"
    store.put_dir(key, checkpoint_dir)
    vocabulary = "".join(sorted(set(corpus_text)))
    with session_scope(db_url) as session:
        user = User(name="bench")
        session.add(user)
        session.flush()
        corpus = Corpus(
            owner_id=user.id, name="bench.txt", object_key="corpora/bench.txt", bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(), raw_chars=len(corpus_text), clean_chars=len(corpus_text),
            vocabulary=vocabulary, raw_unique=len(vocabulary), clean_unique=len(vocabulary),
        )  # fmt: skip
        session.add(corpus)
        session.flush()
        hp = {"layers": 3, "units": 512, "batch_size": 1, "seq_len": 100, "epochs": 1}
        job = Job(owner_id=user.id, corpus_id=corpus.id, hyperparameters=hp)
        session.add(job)
        session.flush()
        session.add(
            Epoch(job_id=job.id, epoch=1, loss=1.0, val_loss=1.0, seconds=1.0, chars_per_second=1.0, checkpoint_key=key)
        )
        return user.id, job.id, key


class Service:
    """A sampling worker process on embedded defaults in `folder`, and a way to ask it for samples."""

    def __init__(self, folder: Path, concurrency: int):
        from shared.db.migrate import upgrade
        from shared.queue import make_celery
        from shared.settings import Settings
        from shared.storage import store_from_settings

        var = folder / "var"
        var.mkdir(parents=True)
        self.db_url = f"sqlite:///{var / 'charlstm.db'}"
        keep = {k: v for k, v in os.environ.items() if k not in ("BROKER_URL", "DATABASE_URL") and "S3_" not in k}
        self.env = {**keep, "CHARLSTM_VAR_DIR": str(var), "DATABASE_URL": self.db_url, "PYTHONUNBUFFERED": "1"}
        upgrade(self.db_url)
        settings = Settings.model_validate(self.env)
        self.store = store_from_settings(settings)
        self.celery = make_celery(settings)
        self.log_path = folder / "sampling.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers", "sampling", "--concurrency", str(concurrency),
             "--logfile", str(self.log_path)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sampling worker did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)

    def request(self, user_id: int, job_id: int, key: str, length: int, count: int, first_seed: int) -> list[int]:
        """Send `count` int8 requests at once (random seeds first_seed, first_seed + 1, ...): their ids."""
        from shared.db.models import Sample
        from shared.db.session import session_scope
        from shared.queue import send_message

        with session_scope(self.db_url) as session:
            rows = [
                Sample(owner_id=user_id, job_id=job_id, checkpoint_key=key, length=length, temperatures=[TEMPERATURE],
                       precision="int8", random_seed=first_seed + i)
                for i in range(count)
            ]  # fmt: skip
            session.add_all(rows)
            session.flush()
            sent = [(row.id, row.dispatch_token) for row in rows]
        for sample_id, token in sent:
            send_message(self.celery, "sample", sample_id, token)
        return [sample_id for sample_id, _ in sent]

    def wait_stored(self, ids: list[int], timeout: float = 1800) -> None:
        from shared.db.models import Sample, WorkStatus
        from shared.db.session import session_scope

        deadline = time.monotonic() + timeout
        while True:
            with session_scope(self.db_url) as session:
                rows = [session.get(Sample, i) for i in ids]
                statuses = [(r.status, r.error) for r in rows if r is not None]
            if all(WorkStatus(s).finished for s, _ in statuses) and len(statuses) == len(ids):
                failed = [e for s, e in statuses if s != WorkStatus.succeeded]
                if failed:
                    raise RuntimeError(f"a benchmark sample failed: {failed[0]}")
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the samples did not finish:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def wait_generated(self, ids: list[int], timeout: float = 1800) -> None:
        """Until the worker's log has every sample's generation line (its text written, its figures
        perhaps still being measured)."""
        deadline = time.monotonic() + timeout
        while True:
            done = {int(m[1]) for m in GENERATED.finditer(self.log_text())}
            if all(i in done for i in ids):
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the samples were not generated:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def generation_seconds(self, ids: list[int]) -> float:
        """The last request's end less the first one's start of generation, from the worker's log."""
        spans = {int(m[1]): (float(m[3]), float(m[4])) for m in GENERATED.finditer(self.log_text())}
        missing = [i for i in ids if i not in spans]
        if missing:
            raise RuntimeError(f"no generation line for sample {missing[0]}")
        return max(spans[i][1] for i in ids) - min(spans[i][0] for i in ids)

    def shared_batch(self) -> int:
        """The most requests that shared one batch, from the worker's log."""
        return max((int(n) for n in re.findall(r"(\d+) request\(s\) share it", self.log_text())), default=0)

    def close(self) -> None:
        self.celery.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def main() -> dict:
    from shared.engine.config import Hyperparameters
    from shared.engine.inference.lowp import QuantizedLSTM, usable_cores
    from shared.engine.inference.sample import generate

    from .sampling import LAYERS, SEED_CHARS, UNITS, VOCAB, build_model

    chars = string.printable  # 100 characters: ids 0..99 as benchmarks/sampling.py's model
    assert len(chars) == VOCAB
    rng = np.random.default_rng(1)
    warmup = "".join(chars[i] for i in rng.integers(0, VOCAB, SEED_CHARS))
    corpus_text = "".join(chars[i] for i in rng.integers(0, VOCAB, 20_000))
    model = build_model()
    net = QuantizedLSTM.from_model(model)  # every core: what a lone batch gets in the worker
    seed = np.array([chars.index(c) for c in warmup])
    generate(net, seed, 10, [TEMPERATURE], count=1, random_seed=0)  # compiled before timing
    load_before = os.getloadavg()[0]
    rows, figures = [], {}
    with tempfile.TemporaryDirectory(prefix="charlstm-service-bench-") as tmp:
        folder = Path(tmp)
        hp = Hyperparameters(mode="stateful", layers=LAYERS, units=UNITS, batch_size=1, seq_len=100, seed=0)
        checkpoint_dir = write_checkpoint(folder / "run", model, hp, chars, warmup)
        service = Service(folder, max(SIZES))
        try:
            user_id, job_id, key = stored_job(service.db_url, service.store, checkpoint_dir, corpus_text)
            service.wait_ready()
            service.wait_stored(service.request(user_id, job_id, key, 500, 1, 0))  # loads and compiles
            next_seed = 1
            for n in SIZES:
                began = time.perf_counter()
                generate(net, seed, CHARS, [TEMPERATURE], count=n, random_seed=0)
                engine_s = time.perf_counter() - began
                sent = time.perf_counter()
                ids = service.request(user_id, job_id, key, CHARS, n, next_seed)
                next_seed += n
                last = n == max(SIZES)
                if last:  # its quality figures (minutes for 16 texts of 3 x 512 on 2 cores) are not waited for
                    service.wait_generated(ids)
                else:  # stored, figures included, so that they do not run into the next group's time
                    service.wait_stored(ids)
                stored_s = time.perf_counter() - sent
                service_s = service.generation_seconds(ids)
                figures[n] = {
                    "engine_seconds": engine_s,
                    "service_seconds": service_s,
                    "service_stored_seconds": stored_s,
                    "chars_per_second": n * CHARS / service_s,
                    "engine_chars_per_second": n * CHARS / engine_s,
                    "ratio": service_s / engine_s,
                }
                rows.append((
                    f"{n} request(s)", f"{engine_s:,.1f}", f"{service_s:,.1f}", f"{n * CHARS / service_s:,.0f}",
                    f"{service_s / engine_s:.2f}x", "not waited for" if last else f"{stored_s:,.1f}",
                ))  # fmt: skip
            shared = service.shared_batch()
        finally:
            service.close()
    load_after = os.getloadavg()[0]
    scale = f"3 x 512 int8, {CHARS:,} characters"
    targets.check(
        "sampling_service", f"{scale}: 16 concurrent requests through the worker / the engine's 16 together",
        figures[16]["ratio"], 1.3, higher_is_better=False, goal_of="continuous batching",
    )  # fmt: skip
    targets.check(
        "sampling_service", f"{scale}: a lone request through the worker / the engine's lone sample",
        figures[1]["ratio"], 1.1, higher_is_better=False, goal_of="continuous batching",
    )  # fmt: skip
    results = {
        "machine": machine(),
        "quick": quick(),
        "chars": CHARS,
        "cores": usable_cores(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "most_requests_in_one_batch": shared,
        "sizes": {str(n): f for n, f in figures.items()},
    }
    write_results("sampling_service", results)
    print_table(
        f"sampling service: {scale} per request, concurrent requests in one sampling worker"
        f" ({shared} shared one batch at most)",
        rows,
        header=("", "engine s", "worker s", "worker chars/s", "worker / engine", "sent to stored s"),
    )
    print(json.dumps({"load_average_before": load_before, "load_average_after": load_after}))
    return results


if __name__ == "__main__":
    main()
