"""The job page of both areas (templates/job.html, which shows what differs by `area`): the admin
page at /admin/jobs/<id> and the user page at /jobs/<id> render the same template with the same
chart, each from its own query (all jobs, or the ones the user may see) and its own links."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy.orm import object_session

from shared.db.models import Job
from shared.lifecycle.lineage import lineage_epochs

from .charts import loss_chart_svg
from .presenters import bits, chart_points, live_points

SAMPLES_SHOWN = 100  # the newest samples a job page lists
CHART_SIZE = (720, 340)


def poll_ms() -> int:
    """How often the pages' polling scripts ask for news (ADMIN_POLL_MS, in milliseconds)."""
    return int(current_app.config.get("ADMIN_POLL_MS", 2000))


def job_chart_svg(job: Job, width: int = CHART_SIZE[0], height: int = CHART_SIZE[1], **options) -> str:
    """The job's loss chart: its finished epochs and its live training loss; a job continuing
    another shows the epochs it took over (its lineage's) dimmed before its own."""
    session = object_session(job)
    own = {e.id for e in job.epochs}
    taken = [e for e in lineage_epochs(session, job) if e.id not in own] if session and job.parent_id else []
    inherited = [(e.epoch, bits(e.loss), bits(e.val_loss)) for e in taken]
    return loss_chart_svg(chart_points(job), width, height, live=live_points(job), inherited=inherited, **options)


def render_job_page(job: Job, detail: dict, labels: dict, poll_url: str, **extra) -> str:
    """The job page: `detail` (presenters.job_detail, what the polling script at `poll_url` reads
    too), `labels` (presenters.job_labels), and what only one area's page shows (`extra`)."""
    return render_template(
        "job.html", job=detail, labels=labels, chart=job_chart_svg(job), poll_url=poll_url, poll_ms=poll_ms(), **extra
    )
