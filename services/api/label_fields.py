"""Copying the label fields of a request (name, notes, tags; a job's retention policy) onto a
corpus or a job (issue 12): used by job creation, continue/fork and the PATCH endpoints."""

from shared.db.models import Corpus, Job

from ..plumbing.errors import ApiError, field_error


def apply_labels(record: Corpus | Job, body) -> None:
    """Copy the label fields `body` sets (name, notes, tags; a job's retention) onto the record.
    A field sent as null clears it (a corpus keeps a name: 422)."""
    sent = body.model_fields_set
    if "name" in sent:
        if body.name is None and isinstance(record, Corpus):
            raise ApiError(422, "a corpus has a name", [field_error("name", "a corpus has a name")])
        record.name = body.name
    if "notes" in sent:
        record.notes = body.notes or None
    if "tags" in sent:
        record.tags = body.tags or []
    if isinstance(record, Job) and getattr(body, "retention", None) is not None:
        record.retention = body.retention.model_dump(exclude_defaults=True)
