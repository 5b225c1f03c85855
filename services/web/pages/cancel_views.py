"""The pages' cancel buttons: a job, a sample, an analysis, each through its API call, with the
outcome as a message on the page the button was on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, url_for

from shared.actions import ActionError, NotFound
from shared.actions.analyses import cancel_analysis
from shared.actions.jobs import cancel_job
from shared.actions.samples import cancel_sample
from shared.db.models import WorkStatus

from ...plumbing.access import current_user
from ...plumbing.context import get_celery, get_db
from .blueprint import pages_bp


def _cancel(what: str, call: Callable[[], Any], back: str):
    """Call the cancel action; a NotFound is the page's 404, a Conflict (already finished) a warning."""
    try:
        record = call()
    except NotFound:
        raise
    except ActionError as exc:
        flash(f"Nothing to cancel: {exc.message}.", "warning")
    else:
        status = WorkStatus(record.status).value
        flash(
            f"{what}: cancellation requested, it stops after the current batch."
            if status == "running"  # only a job stays running until its worker stops
            else f"{what} is {status}.",
            "success",
        )
    return redirect(back)


@pages_bp.post("/jobs/<int:job_id>/cancel")
def cancel(job_id: int):
    """The API's POST /jobs/{id}/cancel (shared.actions.jobs.cancel_job)."""
    call = lambda: cancel_job(get_db(), get_celery(), current_user(), job_id)  # noqa: E731
    return _cancel(f"Job {job_id}", call, url_for("pages.job_page", job_id=job_id))


@pages_bp.post("/samples/<int:sample_id>/cancel")
def cancel_sample_page(sample_id: int):
    """The API's POST /samples/{id}/cancel: cancelled at once, the worker stores nothing."""
    call = lambda: cancel_sample(get_db(), get_celery(), current_user(), sample_id)  # noqa: E731
    return _cancel(f"Sample {sample_id}", call, url_for("pages.sample_page", sample_id=sample_id))


@pages_bp.post("/analyses/<int:analysis_id>/cancel")
def cancel_analysis_page(analysis_id: int):
    """The API's POST /analyses/{id}/cancel: cancelled at once, the worker stores nothing."""
    call = lambda: cancel_analysis(get_db(), current_user(), analysis_id)  # noqa: E731
    return _cancel(f"Analysis {analysis_id}", call, url_for("pages.analysis_page", analysis_id=analysis_id))
