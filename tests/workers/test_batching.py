"""Continuous batching in the sampling worker (workers/batching.py): real sampling worker processes
of a test cluster of this module's own (its own redis-server, S3 server and database:
tests/workers/cluster.py), with SAMPLING_BATCHES=1, on a small random-weight int8 model stored as
a job's checkpoint (no training needed: the texts are compared, not judged)."""

import re
import uuid

import numpy as np
import pytest

from benchmarks.sampling_service import write_checkpoint
from shared import lifecycle
from shared.db.models import Job, WorkStatus
from tests.factories import corpus_row, epoch_row
from tests.workers.cluster import Cluster

CHARS = "\n abcdefghijklmnopqrstuvwxyz():=.,_"
WARMUP = "def f(x):\n    return x\n"


@pytest.fixture(scope="module")
def cluster(make_pg_database, tmp_path_factory):
    cluster = Cluster(make_pg_database(), tmp_path_factory.mktemp("batching"), SAMPLING_BATCHES="1")
    yield cluster
    cluster.close()


def stored_model(cluster: Cluster, folder, seed: int) -> int:
    """A job whose one epoch is a random 2 x 64 stateful model (weights from `seed`), stored."""
    from shared.engine.config import Hyperparameters
    from shared.engine.training.model import build_model

    hp = Hyperparameters(mode="stateful", layers=2, units=64, batch_size=1, seq_len=20, seed=0)
    model = build_model(hp, len(CHARS))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    path = write_checkpoint(folder / f"run-{seed}", model, hp, CHARS, WARMUP)
    key = f"checkpoints/{uuid.uuid4().hex}/epoch-0001"
    cluster.store.put_dir(key, path)
    corpus_key = f"corpora/{uuid.uuid4()}.txt"
    cluster.store.put_bytes(corpus_key, (WARMUP * 50).encode("utf-8"))
    with cluster.db() as session:
        corpus = corpus_row(owner_id=cluster.user_id, object_key=corpus_key, text=WARMUP * 50)
        session.add(corpus)
        session.flush()
        job = Job(owner_id=cluster.user_id, corpus_id=corpus.id, hyperparameters={**hp.model_dump(), "epochs": 1})
        session.add(job)
        session.flush()
        session.add(epoch_row(1, job_id=job.id, checkpoint_key=key))
        return job.id


@pytest.fixture(scope="module")
def models(cluster, tmp_path_factory) -> list[int]:
    folder = tmp_path_factory.mktemp("models")
    return [stored_model(cluster, folder, seed) for seed in (0, 1)]


def text(cluster: Cluster, sample_id: int) -> str:
    sample = cluster.finished_sample(sample_id)
    assert sample.status == WorkStatus.succeeded and sample.object_key, sample.error
    return cluster.store.get_bytes(sample.object_key).decode("utf-8")


def most_sharing(log: str) -> int:
    return max((int(n) for n in re.findall(r"(\d+) request\(s\) share it", log)), default=0)


def test_concurrent_requests_share_one_batch_and_get_the_texts_they_get_alone(cluster, models):
    worker = cluster.worker("sampling", "--concurrency", "4")
    job = models[0]
    fields = {"precision": "int8", "top_k": 20}
    alone = text(cluster, cluster.sample(job, length=5_000, random_seed=7, **fields))
    assert len(alone) == 5_000 and most_sharing(worker.log_text()) == 1
    together = [
        cluster.sample(job, length=40_000, random_seed=7, **fields),
        cluster.sample(job, length=30_000, random_seed=8, precision="int8", top_k=5),
        cluster.sample(job, length=20_000, random_seed=7, precision="int8", top_p=0.9),
        cluster.sample(job, length=5_000, random_seed=7, **fields),
    ]
    texts = [text(cluster, i) for i in together]
    assert most_sharing(worker.log_text()) >= 2  # requests were stepped in one batch
    assert texts[3] == alone  # the same request alone and in a batch: the same text
    assert texts[0][:5_000] == alone  # a longer sample of the same seed continues it
    assert [len(t) for t in texts] == [40_000, 30_000, 20_000, 5_000]
    assert texts[2][:5_000] != alone  # its own top-p: not the neighbour's
    worker.stop()


def test_cancelling_one_request_leaves_the_others_of_its_batch_running(cluster, models):
    worker = cluster.worker("sampling", "--concurrency", "3")
    job = models[0]
    doomed = cluster.sample(job, length=50_000_000, random_seed=1, precision="int8")
    others = [cluster.sample(job, length=100_000, random_seed=i, precision="int8") for i in (2, 3)]
    cluster.wait(lambda: all(cluster.get_sample(i).progress > 0 for i in [doomed, *others]), 120, "all three running")
    assert most_sharing(worker.log_text()) == 3
    with cluster.db() as session:
        lifecycle.cancel_sample(session, doomed)
    cluster.wait(lambda: f"sample {doomed}: cancelled; stopped" in worker.log_text(), 60, "the cancelled one to stop")
    assert [len(text(cluster, i)) for i in others] == [100_000, 100_000]
    assert cluster.get_sample(doomed).status == WorkStatus.cancelled
    worker.stop()


def test_two_models_with_one_batch_allowed_take_turns_and_both_finish(cluster, models):
    worker = cluster.worker("sampling", "--concurrency", "2")
    first = cluster.sample(models[0], length=300_000, random_seed=1, precision="int8")
    cluster.wait(lambda: cluster.get_sample(first).progress > 0, 60, "the first model's batch running")
    second = cluster.sample(models[1], length=20_000, random_seed=1, precision="int8")
    cluster.wait(lambda: "waiting for a free batch" in worker.log_text(), 60, "the second model to wait")
    assert len(text(cluster, first)) == 300_000 and len(text(cluster, second)) == 20_000
    worker.stop()
