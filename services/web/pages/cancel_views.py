"""The pages' cancel buttons: a job, a sample, an analysis, each through its API call, with the
outcome as a message on the page the button was on."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, url_for

from ...api.analyses import cancel_analysis
from ...api.analysis_schemas import AnalysisPath
from ...api.jobs import cancel_job
from ...api.samples import cancel_sample
from ...api.schemas import JobPath, NoQuery, SamplePath
from ...plumbing.errors import ApiError
from .blueprint import pages_bp


def _cancel(what: str, call: Callable[[], dict | tuple[dict, int]], back: str):
    """Call the API's cancel; a 404 is the page's 404, a 409 (already finished) a warning."""
    try:
        out = call()
    except ApiError as exc:
        if exc.status == 404:
            raise
        flash(f"Nothing to cancel: {exc.error}.", "warning")
    else:
        row = out[0] if isinstance(out, tuple) else out  # a job's answer carries its status code
        flash(
            f"{what}: cancellation requested, it stops after the current batch."
            if row["status"] == "running"  # only a job stays running until its worker stops
            else f"{what} is {row['status']}.",
            "success",
        )
    return redirect(back)


@pages_bp.post("/jobs/<int:job_id>/cancel")
def cancel(job_id: int):
    """The API's POST /jobs/{id}/cancel (services.api.jobs.cancel_job)."""
    call = lambda: cancel_job(path=JobPath(job_id=job_id), query=NoQuery())  # noqa: E731
    return _cancel(f"Job {job_id}", call, url_for("pages.job_page", job_id=job_id))


@pages_bp.post("/samples/<int:sample_id>/cancel")
def cancel_sample_page(sample_id: int):
    """The API's POST /samples/{id}/cancel: cancelled at once, the worker stores nothing."""
    call = lambda: cancel_sample(path=SamplePath(sample_id=sample_id), query=NoQuery())  # noqa: E731
    return _cancel(f"Sample {sample_id}", call, url_for("pages.sample_page", sample_id=sample_id))


@pages_bp.post("/analyses/<int:analysis_id>/cancel")
def cancel_analysis_page(analysis_id: int):
    """The API's POST /analyses/{id}/cancel: cancelled at once, the worker stores nothing."""
    call = lambda: cancel_analysis(path=AnalysisPath(analysis_id=analysis_id), query=NoQuery())  # noqa: E731
    return _cancel(f"Analysis {analysis_id}", call, url_for("pages.analysis_page", analysis_id=analysis_id))
