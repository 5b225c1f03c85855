"""Deleting a job, a corpus or a sample from storage and database together: mark the
record deleting (committed), delete its objects, then its rows (committed). Each step is repeatable,
so a crash anywhere leaves a marked record that a second delete, the training worker that stops
a cancelled job, or the reconciler (`finish_deletions`) completes. Nothing is orphaned: objects
go before the rows that name them, and the rows stay marked until their objects are gone.

`steps` is a factory of transactions: `steps()` is a context manager giving a session and
committing on exit (shared.db.session.session_scope, or the web request's session)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Corpus, Job, Sample, User
from shared.lifecycle import objects
from shared.lifecycle.deletion import (
    DeletionRefused,
    corpus_object_keys,
    mark_corpus_deleting,
    mark_job_deleting,
    remove_corpus,
    remove_job,
)
from shared.storage import ObjectStore
from shared.storage.keys import ATTEMPT_PREFIXES

from .access import get_visible
from .errors import Conflict, NotFound

log = logging.getLogger(__name__)

Steps = Callable[[], AbstractContextManager[Session]]
DELETED, PENDING = "deleted", "pending"


def _delete_objects(store: ObjectStore, prefixes: tuple[str, ...], keys: tuple[str, ...]) -> None:
    """Every object under `prefixes` (in key order: a checkpoint's epochs oldest first), then `keys`."""
    listed = [key for prefix in prefixes for key in store.retrying(functools.partial(store.list, prefix), "list")]
    for key in [*listed, *keys]:
        store.retrying(functools.partial(store.delete, key), f"delete {key}")


def delete_job(steps: Steps, store: ObjectStore, job_id: int, cancel: bool = False, with_children: bool = False) -> str:
    """DELETED, or PENDING while the job still runs (asked to stop: its worker, a second delete or
    the reconciler finishes). Raises LookupError (unknown) or lifecycle.deletion.DeletionRefused."""
    with steps() as session:
        plan = mark_job_deleting(session, job_id, cancel=cancel, with_children=with_children)
    if not plan.ready:
        return PENDING
    _delete_objects(store, plan.prefixes, plan.object_keys)
    with steps() as session:
        removed = remove_job(session, job_id)
    return DELETED if removed else PENDING


def delete_corpus(steps: Steps, store: ObjectStore, corpus_id: int, with_jobs: bool = False) -> str:
    """DELETED, or PENDING while one of its jobs still runs (asked to stop). Its jobs first
    (children before parents), then its object, then its row."""
    with steps() as session:
        key, jobs = mark_corpus_deleting(session, corpus_id, with_jobs=with_jobs)
    pending = False
    for job_id in jobs:
        try:
            pending |= delete_job(steps, store, job_id, cancel=True, with_children=True) == PENDING
        except LookupError:
            continue
    if pending:
        return PENDING
    _delete_objects(store, (), corpus_object_keys(key))  # its text last: its indexes are found by its key
    with steps() as session:
        return DELETED if remove_corpus(session, corpus_id) else PENDING


def delete_sample(steps: Steps, store: ObjectStore, sample_id: int) -> str:
    with steps() as session:
        keys = lifecycle.deletion.sample_for_delete(session, sample_id)
    _delete_objects(store, (), tuple(keys))
    with steps() as session:
        lifecycle.deletion.remove_sample(session, sample_id)
    return DELETED


def finish_deletions(steps: Steps, store: ObjectStore) -> list[str]:
    """Complete every delete left marked (a crash, or a job that has stopped since): returns
    what was finished, e.g. ["job 7", "corpus 2"]. Those still waiting are left for next time."""
    with steps() as session:
        jobs, corpora = lifecycle.deletion.deleting_jobs(session), lifecycle.deletion.deleting_corpora(session)
    done = []
    for job_id in jobs:
        try:
            if delete_job(steps, store, job_id, with_children=True) == DELETED:
                done.append(f"job {job_id}")
        except (LookupError, lifecycle.deletion.DeletionRefused) as exc:
            log.info("job %s: delete not finished yet (%s)", job_id, exc)
    for corpus_id in corpora:
        try:
            if delete_corpus(steps, store, corpus_id, with_jobs=True) == DELETED:
                done.append(f"corpus {corpus_id}")
        except LookupError:
            continue
    return done


def sweep_orphans(steps: Steps, store: ObjectStore, grace: float) -> list[str]:
    """Delete the objects under the attempts' folders that no record references and that were
    last written more than `grace` seconds ago (shared.lifecycle.objects: an attempt that lost its
    claim wrote them); returns their keys. The store is listed before the records are read, so an
    object written after the listing waits for the next sweep."""
    modified: dict = {}
    for prefix in ATTEMPT_PREFIXES:
        modified.update(store.retrying(functools.partial(store.list_modified, prefix), f"list {prefix}"))
    with steps() as session:
        referenced = objects.referenced_keys(session)
    doomed = objects.orphans(modified, referenced, grace)
    for key in doomed:
        store.retrying(functools.partial(store.delete, key), f"delete {key}")
    return doomed


def request_steps(session: Session) -> Steps:
    """The steps of a delete as commits of one session (a web request's): each step committed on
    success, rolled back on failure."""

    @contextmanager
    def step() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    return step


def delete(session: Session, store: ObjectStore, user: User, model: type, record_id: int, **options: bool) -> str:
    """Delete a job (`cancel`), a corpus (`with_jobs`) or a sample the user may see, step by step
    in `session`: DELETED, or PENDING while a job still runs. NotFound, or Conflict when refused
    (a job queued or running, a corpus in use, a job with children)."""
    get_visible(session, user, model, record_id)
    runs: dict[type, Callable[..., str]] = {Job: delete_job, Corpus: delete_corpus, Sample: delete_sample}
    try:
        return runs[model](request_steps(session), store, record_id, **options)
    except DeletionRefused as exc:
        raise Conflict(str(exc)) from exc
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
