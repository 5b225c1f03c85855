"""Which stored objects the records reference, and the sweep of those no record references.

The fencing rule (shared.storage.keys): every attempt of a job, sample or analysis writes under
keys that name its lease, and the database records the keys it finished writing. An attempt that
lost its claim (cut off, paused, given away) may still write before it learns so; what it wrote is
referenced by no record and is deleted here once older than ORPHAN_GRACE. Referenced are:

- the recorded keys: each epoch's checkpoint folder (until retention pruned it), each sample's
  text, each analysis's result;
- what a running attempt may be writing now: everything under its lease;
- the checkpoints that queued or running samples and analyses are about to read.

`referenced_keys` returns exact keys and prefixes (entries ending in "/" or "."); an object is
referenced when its key is one of them or starts with a prefix. The running leases are read
before the recorded keys, so an attempt that finishes between the two reads is seen by the second.
Only the attempts' folders (`ATTEMPT_PREFIXES`) are swept: corpora are written by the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Analysis, Epoch, Job, Sample, WorkStatus, utcnow
from ..storage.keys import ATTEMPT_PREFIXES, analysis_lease_prefix, lease_prefix, sample_lease_prefix

PREFIX_ENDS = ("/", ".")


def _folder(key: str) -> str:
    """A checkpoint key names a folder: every object under it."""
    return key.rstrip("/") + "/"


def running_leases(session: Session) -> set[str]:
    """Prefixes of what running attempts may be writing now."""
    prefixes: set[str] = set()
    for table, running, prefix in (
        (Job, WorkStatus.running, lease_prefix),
        (Sample, WorkStatus.running, sample_lease_prefix),
        (Analysis, WorkStatus.running, analysis_lease_prefix),
    ):
        rows = session.execute(select(table.id, table.lease).where(table.status == running, table.lease.is_not(None)))
        prefixes.update(prefix(record_id, lease) for record_id, lease in rows if lease)
    return prefixes


def recorded_keys(session: Session) -> set[str]:
    """Keys and folders the records name: kept checkpoints, texts, results, and the checkpoints
    unfinished samples and analyses will read."""
    keys: set[str] = set()
    kept = select(Epoch.checkpoint_key).where(Epoch.checkpoint_key != "", Epoch.pruned_at.is_(None))
    keys.update(_folder(key) for key in session.scalars(kept))
    for table in (Sample, Analysis):
        keys.update(session.scalars(select(table.object_key).where(table.object_key.is_not(None))))
        waiting = select(table.checkpoint_key).where(table.status.in_(["queued", "running"]))
        keys.update(_folder(key) for key in session.scalars(waiting))
    return keys


def referenced_keys(session: Session) -> set[str]:
    """Every object key or key prefix that a record references (running leases read first)."""
    leases = running_leases(session)
    return leases | recorded_keys(session)


def is_referenced(key: str, referenced: set[str], prefixes: tuple[str, ...] | None = None) -> bool:
    if key in referenced:
        return True
    if prefixes is None:
        prefixes = tuple(ref for ref in referenced if ref.endswith(PREFIX_ENDS))
    return key.startswith(prefixes) if prefixes else False


def unreferenced(keys: Iterable[str], referenced: set[str]) -> list[str]:
    """The keys (under the attempts' folders) that no record references, sorted."""
    prefixes = tuple(ref for ref in referenced if ref.endswith(PREFIX_ENDS))
    return sorted(
        key for key in keys if key.startswith(ATTEMPT_PREFIXES) and not is_referenced(key, referenced, prefixes)
    )


def orphans(
    modified: Mapping[str, datetime], referenced: set[str], grace: float, now: datetime | None = None
) -> list[str]:
    """The unreferenced keys last written more than `grace` seconds before `now`: what a sweep deletes."""
    cutoff = (now or utcnow()) - timedelta(seconds=grace)
    return [key for key in unreferenced(modified, referenced) if modified[key] < cutoff]
