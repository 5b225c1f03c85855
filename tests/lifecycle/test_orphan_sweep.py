"""The fencing rule's other half: objects that no record references (written by an attempt that
lost its claim) are swept once older than the grace period; recorded objects, what a running
attempt is writing, and objects from before leases are never touched."""

from datetime import timedelta

from shared import lifecycle
from shared.actions import delete as deletion
from shared.db.models import Analysis, WorkStatus, utcnow
from shared.engine.training.train import EpochReport
from shared.lifecycle import objects
from shared.storage.keys import analysis_key, checkpoint_key, sample_key
from shared.storage.local import LocalStore
from tests.factories import sample_row


def report(epoch: int) -> EpochReport:
    return EpochReport(epoch=epoch, loss=2.0, val_loss=2.1, seconds=1.0, chars_per_second=100.0)


def put_checkpoint(store: LocalStore, key: str) -> None:
    store.put_bytes(f"{key}/model.keras", b"w")
    store.put_bytes(f"{key}/checkpoint.json", b"{}")


def test_objects_no_record_references_are_swept_after_the_grace(db, job_id, owner, tmp_path):
    store = LocalStore(tmp_path / "objects")
    with db() as session:
        first = lifecycle.claim_job(session, job_id, "a@host").lease
        lifecycle.record_epoch(session, job_id, report(1), checkpoint_key(job_id, 1, first), "a@host", lease=first)
    put_checkpoint(store, checkpoint_key(job_id, 1, first))
    with db() as session:  # host a went silent; b took the job over and is running epoch 2
        second = lifecycle.claim_job(session, job_id, "b@host", heartbeat_timeout=0).lease
    put_checkpoint(store, checkpoint_key(job_id, 2, first))  # a, healed, uploads epoch 2 under its lease
    put_checkpoint(store, checkpoint_key(job_id, 2, second))  # b is uploading epoch 2, not recorded yet
    put_checkpoint(store, f"jobs/{job_id}/epoch-0003")  # an epoch recorded before leases existed
    with db() as session:
        lifecycle.record_epoch(session, job_id, report(3), f"jobs/{job_id}/epoch-0003")
        job = session.get(lifecycle.jobs.Job, job_id)
        done, lost, legacy = (sample_row(owner_id=owner, job_id=job_id, length=1, temperatures=[1.0]) for _ in range(3))
        analysis = Analysis(owner_id=owner, job_id=job_id, epoch=1, checkpoint_key="k", status=WorkStatus.queued)
        session.add_all([done, lost, legacy, analysis])
        session.flush()
        done.status, done.object_key = WorkStatus.succeeded, sample_key(done.id, 1, "l1")
        lost.status, lost.lease = WorkStatus.failed, "l2"  # found lost: its late text is recorded by nobody
        legacy.status, legacy.object_key = WorkStatus.succeeded, f"samples/{legacy.id}.txt"
        analysis.status, analysis.lease = WorkStatus.running, "l3"
        ids = job.id, done.id, lost.id, legacy.id, analysis.id
    _, done_id, lost_id, legacy_id, analysis_id = ids
    for key in (
        sample_key(done_id, 1, "l1"),
        sample_key(lost_id, 1, "l2"),
        f"samples/{legacy_id}.txt",
        analysis_key(analysis_id, "l3"),  # running: being written now
        analysis_key(analysis_id, "old"),  # an earlier attempt's
    ):
        store.put_bytes(key, b"text")
    everything = set(store.list(""))
    steps = db

    assert deletion.sweep_orphans(steps, store, grace=3600) == []  # all too young
    swept = deletion.sweep_orphans(steps, store, grace=0)
    assert sorted(swept) == sorted(
        [
            f"{checkpoint_key(job_id, 2, first)}/checkpoint.json",
            f"{checkpoint_key(job_id, 2, first)}/model.keras",
            sample_key(lost_id, 1, "l2"),
            analysis_key(analysis_id, "old"),
        ]
    )
    assert set(store.list("")) == everything - set(swept)
    assert deletion.sweep_orphans(steps, store, grace=0) == []  # nothing left to sweep


def test_unreferenced_reads_keys_and_prefixes():
    referenced = {"jobs/1/ab/", "samples/2-cd.txt", "samples/3-ef."}
    keys = ["jobs/1/ab/epoch-0001/model.keras", "jobs/1/zz/epoch-0001/model.keras", "samples/2-cd.txt"]
    keys += ["samples/3-ef.zip", "samples/33-ef.zip", "corpora/x.txt"]  # corpora: never swept here
    assert objects.unreferenced(keys, referenced) == ["jobs/1/zz/epoch-0001/model.keras", "samples/33-ef.zip"]
    now = utcnow()
    modified = {"jobs/9/x/a": now - timedelta(seconds=10), "jobs/9/x/b": now}
    assert objects.orphans(modified, set(), grace=5, now=now) == ["jobs/9/x/a"]
