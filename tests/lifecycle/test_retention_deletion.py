"""Retention (which checkpoints a policy keeps, what is left to prune, a child's start pinned)
and the deletes left marked that `shared.deletion.finish_deletions` (the reconciler's pass)
completes."""

from types import SimpleNamespace

import pytest

from shared import lifecycle
from shared.actions import delete as deletion
from shared.db.models import Corpus, Job, WorkStatus
from shared.engine.training.train import EpochReport
from shared.lifecycle.retention import RetentionPolicy, kept_epochs
from shared.storage.local import LocalStore


def epochs(*val_losses):
    return [SimpleNamespace(epoch=n, val_loss=v) for n, v in enumerate(val_losses, start=1)]


@pytest.mark.parametrize(
    ("policy", "pinned", "kept"),
    [
        ({"keep_every": 3}, (), {3, 6, 7, 2}),  # every 3rd, the latest (7), the best (2)
        ({"keep_every": 0}, (), {7, 2}),
        ({"keep_every": 0, "keep_best": False}, (), {7}),
        ({"keep_every": 0, "keep_best": False, "keep_last": 3}, (), {5, 6, 7}),
        ({"keep_every": 1}, (), {1, 2, 3, 4, 5, 6, 7}),
        ({"keep_every": 0, "keep_best": False}, (4,), {4, 7}),  # a child starts from epoch 4
    ],
)
def test_a_policy_keeps_the_latest_the_best_and_every_nth(policy, pinned, kept):
    history = epochs(3.0, 1.0, 2.0, 2.5, 2.4, 2.3, 2.2)
    assert kept_epochs(history, RetentionPolicy.model_validate(policy).resolved(), pinned) == kept


def test_the_default_keeps_every_tenth():
    assert RetentionPolicy().resolved().keep_every == 10
    assert kept_epochs(epochs(*[1.0 - n / 100 for n in range(25)]), RetentionPolicy().resolved()) == {10, 20, 25}


def _trained(session, job_id: int, n: int) -> None:
    lifecycle.claim_job(session, job_id, "w")
    for epoch in range(1, n + 1):
        report = EpochReport(epoch, 2.0, 3.0 - epoch / 10, 1.0, 9.0)
        lifecycle.record_epoch(session, job_id, report, f"jobs/{job_id}/epoch-{epoch:04d}", "w", checkpoint_bytes=100)


def test_prune_plan_lists_what_is_left_and_a_childs_start_stays(db, job_id, owner):
    with db() as session:
        session.get(Job, job_id).retention = {"keep_every": 0, "keep_best": False}
        _trained(session, job_id, 3)
        assert lifecycle.retention.prune_plan(session, job_id) == [
            (1, f"jobs/{job_id}/epoch-0001"),
            (2, f"jobs/{job_id}/epoch-0002"),
        ]
        lifecycle.retention.mark_pruned(session, job_id, [1])
        lifecycle.finish_job(session, job_id, WorkStatus.succeeded, worker="w")
        child = lifecycle.lineage.create_child_job(session, session.get(Job, job_id), owner, 2)
        assert child.parent_epoch == 3
        assert lifecycle.retention.storage_bytes(session.get(Job, job_id)) == 200
        session.get(Job, job_id).retention = {"keep_every": 0, "keep_best": False, "keep_last": 1}
        assert [e for e, _ in lifecycle.retention.prune_plan(session, job_id)] == [2]  # 3 is the child's start


def test_a_delete_left_marked_is_finished_by_the_reconcilers_pass(db, job_id, corpus_id, tmp_path):
    store = LocalStore(tmp_path)
    with db() as session:
        _trained(session, job_id, 2)
        lifecycle.finish_job(session, job_id, WorkStatus.cancelled, worker="w")
    for epoch in (1, 2):
        store.put_bytes(f"jobs/{job_id}/epoch-{epoch:04d}/model.keras", b"w")
    store.put_bytes("corpora/c.txt", b"text")
    with db() as session:  # a delete that crashed right after marking
        lifecycle.deletion.mark_corpus_deleting(session, corpus_id, with_jobs=True)
        lifecycle.deletion.mark_job_deleting(session, job_id)
    assert deletion.finish_deletions(db, store) == [f"job {job_id}", f"corpus {corpus_id}"]
    assert store.list("") == []
    with db() as session:
        assert session.get(Job, job_id) is None and session.get(Corpus, corpus_id) is None
    assert deletion.finish_deletions(db, store) == []
