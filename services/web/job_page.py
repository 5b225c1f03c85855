"""The job page of both areas (templates/job.html, which shows what differs by `area`): the admin
page at /admin/jobs/<id> and the user page at /jobs/<id> render the same template with the same
chart, each from its own query (all jobs, or the ones the user may see) and its own links."""

from __future__ import annotations

from flask import current_app, render_template

from shared.db.models import Job

from .charts import loss_chart_svg
from .presenters import chart_points, live_points

SAMPLES_SHOWN = 100  # the newest samples a job page lists
CHART_SIZE = (720, 340)


def poll_ms() -> int:
    """How often the pages' polling scripts ask for news (ADMIN_POLL_MS, in milliseconds)."""
    return int(current_app.config.get("ADMIN_POLL_MS", 2000))


def job_chart_svg(job: Job, width: int = CHART_SIZE[0], height: int = CHART_SIZE[1], **options) -> str:
    """The job's loss chart: its finished epochs and its live training loss."""
    return loss_chart_svg(chart_points(job), width, height, live=live_points(job), **options)


def render_job_page(job: Job, detail: dict, labels: dict, poll_url: str, **extra) -> str:
    """The job page: `detail` (presenters.job_detail, what the polling script at `poll_url` reads
    too), `labels` (presenters.job_labels), and what only one area's page shows (`extra`)."""
    return render_template(
        "job.html", job=detail, labels=labels, chart=job_chart_svg(job), poll_url=poll_url, poll_ms=poll_ms(), **extra
    )
