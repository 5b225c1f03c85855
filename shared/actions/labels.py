"""Names, notes and tags of corpora and jobs (and a job's retention policy, set on create only):
copied from a request's label fields on create, continue/fork and PATCH."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.db.models import Corpus, Job, User

from .access import get_visible
from .errors import Invalid, field_error


def apply_labels(record: Corpus | Job, labels: Any) -> None:
    """Copy the label fields `labels` (a pydantic model) sets (name, notes, tags; a job's
    retention) onto the record. A field sent as null clears it (a corpus keeps a name: Invalid)."""
    sent = labels.model_fields_set
    if "name" in sent:
        if labels.name is None and isinstance(record, Corpus):
            raise Invalid("a corpus has a name", [field_error("name", "a corpus has a name")])
        record.name = labels.name
    if "notes" in sent:
        record.notes = labels.notes or None
    if "tags" in sent:
        record.tags = labels.tags or []
    if isinstance(record, Job) and getattr(labels, "retention", None) is not None:
        record.retention = labels.retention.model_dump(exclude_defaults=True)


def relabel(session: Session, user: User, model: type[Corpus] | type[Job], record_id: int, labels: Any):
    """Change a corpus's or a job's name, notes or tags (the fields sent), committed."""
    record = get_visible(session, user, model, record_id)
    apply_labels(record, labels)
    session.commit()
    return record
