"""Deleting jobs, corpora and samples: the database side. A delete marks the record
`deleting_at` first (committed), then the caller deletes its objects from storage, then its rows
(`remove_job`, `remove_corpus`); a crash anywhere leaves a marked record that a second delete or
the reconciler finishes (shared/deletion.py runs the steps; deleting a missing object is no error).

A job is deleted once it has ended: `?cancel=true` cancels a queued one at once and asks a running
one to stop (its worker finishes the delete when it stops). Its queued or running samples are
cancelled. A parent is deleted only with (after) every job continued or forked from it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db.models import Analysis, Corpus, Job, Sample, WorkStatus, utcnow
from ..storage.keys import corpus_index_key, job_prefix, legacy_analysis_key, legacy_sample_keys
from .jobs import request_cancel
from .samples import cancel_sample


class DeletionRefused(Exception):
    """The delete cannot start: 409 (the message says why and what to do)."""


@dataclass(frozen=True)
class JobDeletion:
    """A job marked for deletion: `ready` when nothing writes its objects any more (it has ended
    and none of its samples or analyses is running), `object_keys` what to delete from storage
    then (every key under its checkpoint prefix, its samples' texts, its analyses' results)."""

    job_id: int
    ready: bool
    prefixes: tuple[str, ...]
    object_keys: tuple[str, ...]


def _sample_keys(sample: Sample) -> list[str]:
    """Its recorded text, and the names samples had before leases (an attempt's text that was never
    recorded is swept by the reconciler as unreferenced)."""
    keys = set(legacy_sample_keys(sample.id))
    if sample.object_key:
        keys.add(sample.object_key)
    return sorted(keys)


def _analysis_keys(analysis: Analysis) -> list[str]:
    keys = {legacy_analysis_key(analysis.id)}
    if analysis.object_key:
        keys.add(analysis.object_key)
    return sorted(keys)


def mark_job_deleting(session: Session, job_id: int, cancel: bool = False, with_children: bool = False) -> JobDeletion:
    """Mark the job deleting (LookupError if unknown). DeletionRefused while it is queued or running
    (unless `cancel`: queued ones are cancelled at once, running ones asked to stop) and while a
    job continued from it is not being deleted too (unless `with_children`, which the caller then
    deletes first)."""
    job = session.scalar(
        select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    )
    if job is None:
        raise LookupError(f"job {job_id} not found")
    if job.deleting_at is None:
        children = [c.id for c in session.scalars(select(Job).where(Job.parent_id == job_id)) if c.deleting_at is None]
        if children and not with_children:
            raise DeletionRefused(f"job {job_id} was continued or forked as job(s) {children}; delete those first")
        if WorkStatus(job.status).active:
            if not cancel:
                status = WorkStatus(job.status).value
                raise DeletionRefused(f"job {job_id} is {status}; cancel it first, or delete with ?cancel=true")
            request_cancel(session, job_id)
        job.deleting_at = utcnow()
    samples = list(session.scalars(select(Sample).where(Sample.job_id == job_id).order_by(Sample.id)))
    for sample in samples:
        if not WorkStatus(sample.status).finished:
            cancel_sample(session, sample.id)
    analyses = list(session.scalars(select(Analysis).where(Analysis.job_id == job_id).order_by(Analysis.id)))
    analysing = any(a.status == WorkStatus.running for a in analyses)  # queued ones will not start
    ready = WorkStatus(job.status).finished and not analysing
    keys = [key for sample in samples for key in _sample_keys(sample)]
    keys += [key for analysis in analyses for key in _analysis_keys(analysis)]
    return JobDeletion(job_id, ready, (job_prefix(job_id),), tuple(keys))


def remove_job(session: Session, job_id: int) -> bool:
    """Delete the rows of a job marked deleting and ended (its objects already gone): its samples,
    epochs and itself. False while a child row remains (deleted first) or it is not ready."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        return True
    if job.deleting_at is None or not WorkStatus(job.status).finished:
        return False
    if session.scalar(select(Job.id).where(Job.parent_id == job_id).limit(1)) is not None:
        return False
    if session.scalar(select(Analysis.id).where(Analysis.job_id == job_id, Analysis.status == WorkStatus.running)):
        return False  # its worker may still write the result
    session.execute(delete(Sample).where(Sample.job_id == job_id))
    session.execute(delete(Analysis).where(Analysis.job_id == job_id))
    session.delete(job)  # its epochs go with it (cascade), its live losses with the row (foreign key)
    session.flush()
    return True


def deleting_jobs(session: Session) -> list[int]:
    """Jobs marked deleting, children first (a child's id is always above its parent's)."""
    return list(session.scalars(select(Job.id).where(Job.deleting_at.is_not(None)).order_by(Job.id.desc())))


def deleting_corpora(session: Session) -> list[int]:
    return list(session.scalars(select(Corpus.id).where(Corpus.deleting_at.is_not(None)).order_by(Corpus.id)))


def corpus_object_keys(corpus_key: str) -> tuple[str, ...]:
    """A corpus's objects: its text and the novelty indexes sampling workers built next to it."""
    return (corpus_index_key(corpus_key), corpus_index_key(corpus_key, lowercase=True), corpus_key)


def mark_corpus_deleting(session: Session, corpus_id: int, with_jobs: bool = False) -> tuple[str, list[int]]:
    """Mark the corpus deleting; returns its object key and its jobs' ids (children first), which
    the caller deletes before the corpus (then `corpus_object_keys`). DeletionRefused while jobs use it
    unless `with_jobs`."""
    corpus = session.scalar(
        select(Corpus).where(Corpus.id == corpus_id).with_for_update().execution_options(populate_existing=True)
    )
    if corpus is None:
        raise LookupError(f"corpus {corpus_id} not found")
    jobs = list(session.scalars(select(Job.id).where(Job.corpus_id == corpus_id).order_by(Job.id.desc())))
    if jobs and not with_jobs and corpus.deleting_at is None:
        raise DeletionRefused(
            f"corpus {corpus_id} is used by {len(jobs)} job(s); delete them first, or delete with ?with_jobs=true"
        )
    corpus.deleting_at = corpus.deleting_at or utcnow()
    return corpus.object_key, jobs


def remove_corpus(session: Session, corpus_id: int) -> bool:
    """Delete the row of a corpus marked deleting once no job uses it (its object already gone)."""
    corpus = session.get(Corpus, corpus_id, with_for_update=True)
    if corpus is None:
        return True
    if corpus.deleting_at is None or session.scalar(select(Job.id).where(Job.corpus_id == corpus_id).limit(1)):
        return False
    session.delete(corpus)
    return True


def sample_for_delete(session: Session, sample_id: int) -> list[str]:
    """The object keys of a sample to delete (LookupError if unknown); a queued one is cancelled
    first, a running one refused (its worker could still store its text)."""
    sample = session.get(Sample, sample_id, with_for_update=True)
    if sample is None:
        raise LookupError(f"sample {sample_id} not found")
    status = WorkStatus(sample.status)
    if status == WorkStatus.running:
        raise DeletionRefused(f"sample {sample_id} is running; cancel it first")
    if status == WorkStatus.queued:
        cancel_sample(session, sample_id)
    return _sample_keys(sample)


def remove_sample(session: Session, sample_id: int) -> None:
    session.execute(delete(Sample).where(Sample.id == sample_id))
