"""Fair queues: a user has at most one dispatched-but-unclaimed job (and sample)
in the broker; the rest wait undispatched, and each claim, cancel or failure dispatches the next."""

from shared import lifecycle
from shared.db.models import Job, User, WorkStatus
from shared.engine.config import Hyperparameters
from tests.lifecycle.conftest import TINY_HP


def create(db, owner, corpus_id, n: int) -> list[int]:
    with db() as session:
        return [lifecycle.create_job(session, owner, corpus_id, Hyperparameters(**TINY_HP)).id for _ in range(n)]


def dispatched(db, ids) -> list[bool]:
    with db() as session:
        return [session.get(Job, i).dispatched_at is not None for i in ids]


def test_only_a_users_first_job_is_dispatched_and_each_claim_dispatches_the_next(db, owner, corpus_id):
    ids = create(db, owner, corpus_id, 3)
    assert dispatched(db, ids) == [True, False, False]
    with db() as session:
        token = session.get(Job, ids[0]).dispatch_token
        assert lifecycle.dispatch_after(session, Job, ids[0]) is None  # still in the broker: not yet
        assert lifecycle.claim_job(session, ids[0], "w", token) is not None
        nxt = lifecycle.dispatch_after(session, Job, ids[0])
    assert nxt == lifecycle.Dispatch("job", ids[1], nxt.token)
    with db() as session:
        assert session.get(Job, ids[1]).dispatch_token == nxt.token
        assert lifecycle.dispatch_after(session, Job, ids[0]) is None  # one at a time
    assert dispatched(db, ids) == [True, True, False]


def test_another_users_first_job_is_dispatched_at_once(db, owner, corpus_id):
    create(db, owner, corpus_id, 5)
    with db() as session:
        other = User(name="other")
        session.add(other)
        session.flush()
        other_id = other.id
    (theirs,) = create(db, other_id, corpus_id, 1)
    assert dispatched(db, [theirs]) == [True]


def test_cancelling_the_dispatched_job_dispatches_the_next_and_the_reconciler_is_a_backstop(db, owner, corpus_id):
    ids = create(db, owner, corpus_id, 3)
    with db() as session:
        job, outcome = lifecycle.request_cancel(session, ids[0])
        assert outcome == lifecycle.CANCELLED and job.status == WorkStatus.cancelled
        assert lifecycle.dispatch_after(session, Job, ids[0]).record_id == ids[1]
    with db() as session:  # the next one's send failed: its job failed; nothing of theirs in flight now
        lifecycle.fail_unsent(session.get(Job, ids[1]), "broker down")
    with db() as session:
        assert lifecycle.waiting_owners(session, Job) == [owner]
        assert lifecycle.dispatch_next(session, Job, owner).record_id == ids[2]
        assert lifecycle.waiting_owners(session, Job) == []


def test_a_new_job_dispatches_the_owners_oldest_waiting_one_and_says_so(db, owner, corpus_id):
    """A claim that commits between two submissions: the next submission dispatches the job that
    waited longest, not itself, and take_dispatches tells its creator to send that one."""
    first, second = create(db, owner, corpus_id, 2)
    with db() as session:
        lifecycle.claim_job(session, first, "w")  # its worker's dispatch_after has not run yet
    with db() as session:
        third = lifecycle.create_job(session, owner, corpus_id, Hyperparameters(**TINY_HP)).id
        (dispatch,) = lifecycle.take_dispatches(session)
        assert lifecycle.take_dispatches(session) == []
    assert dispatch.record_id == second and dispatched(db, [second, third]) == [True, False]
