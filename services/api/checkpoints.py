"""Checkpoints: one epoch's checkpoint folder (model.keras, checkpoint.json) as a zip, streamed
from object storage chunk by chunk (services/plumbing/checkpoint_zip.py)."""

from flask_openapi3 import APIBlueprint, Tag
from pydantic import Field

from shared.actions.inputs import NoQuery
from shared.db.models import Job

from ..plumbing.checkpoint_zip import checkpoint_download
from .auth import MAX_ID, SECURITY, get_visible, require_user
from .schemas.common import ErrorBody
from .schemas.jobs import JobPath

bp = APIBlueprint(
    "checkpoints",
    __name__,
    url_prefix="/api/v1/jobs",
    abp_tags=[Tag(name="jobs")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)


class CheckpointQuery(NoQuery):
    epoch: int | None = Field(
        None, ge=1, le=MAX_ID, description="the epoch (default: the best one, which samples are made from)"
    )


@bp.get(
    "/<int:job_id>/checkpoint",
    responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
)
def get_checkpoint(path: JobPath, query: CheckpointQuery):
    """A checkpoint folder (model.keras, checkpoint.json) as a zip, for `charlstm sample` or Keras:
    the best epoch's (lowest validation loss, the one samples use), or `epoch`'s."""
    return checkpoint_download(get_visible(Job, path.job_id), query.epoch)
