"""Fair queues with a real training worker (issue 9, item 6): user A queues 5 jobs, then user B
queues 1; B's job starts before A's third, because A has only one job at a time in the broker and
the worker dispatches A's next one when it takes the previous one."""

import uuid

from shared import lifecycle
from shared.db.models import Job, JobStatus, User
from shared.engine.config import Hyperparameters
from tests.workers.conftest import TINY_HP


def test_one_users_queue_does_not_hold_back_another_users_first_job(
    training_worker, enqueue, make_corpus, db, wait_for
):
    corpus_id = make_corpus()
    with db() as session:
        users = [User(name=f"fair-{uuid.uuid4().hex[:6]}") for _ in range(2)]
        session.add_all(users)
        session.flush()
        a, b = (u.id for u in users)

    def submit(owner: int) -> int:
        with db() as session:
            job = lifecycle.create_job(session, owner, corpus_id, Hyperparameters(**{**TINY_HP, "epochs": 1}))
            job_id, dispatches = job.id, lifecycle.take_dispatches(session)
        for dispatch in dispatches:  # as the API does: only what the owner's turn dispatched is sent
            enqueue.training(dispatch.record_id, dispatch.token)
        return job_id

    a_jobs = [submit(a) for _ in range(5)]
    b_job = submit(b)

    def all_done():
        with db() as session:
            jobs = {i: session.get(Job, i) for i in [*a_jobs, b_job]}
            return jobs if all(JobStatus(j.status).finished for j in jobs.values()) else None

    jobs = wait_for(all_done, 240, what="the six jobs", worker=training_worker)
    assert all(j.status == JobStatus.succeeded for j in jobs.values()), [j.error for j in jobs.values()]
    order = sorted(jobs, key=lambda i: jobs[i].started_at)
    print(f"\nfair queue: start order {['B' if i == b_job else 'A' for i in order]}")
    assert order.index(b_job) < order.index(a_jobs[2])  # B waited for at most one of A's jobs
    assert [i for i in order if i != b_job] == a_jobs  # A's own jobs keep their order
