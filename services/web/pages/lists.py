"""One's samples and analyses, newest first (`/samples`, `/analyses`), and the addresses a person
types or follows that lead to a page elsewhere: a sweep (`/sweeps/<id>`, its comparison), a job's
samples (`GET /jobs/<id>/samples`, the job page's samples table)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import redirect, render_template, request, url_for
from sqlalchemy import select

from shared import timefmt
from shared.db.models import Analysis, Job, Sample

from ...plumbing.access import get_visible, visible
from ...plumbing.answers import analysis_out
from ...plumbing.context import get_db
from ..presenters import for_user, sample_row
from .blueprint import pages_bp

PER_PAGE = 50


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@pages_bp.get("/samples")
def samples():
    page = _page()
    stmt = visible(select(Sample), Sample).order_by(Sample.id.desc()).limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)
    found = list(get_db().scalars(stmt))
    now = datetime.now(UTC)
    rows = []
    for sample in found[:PER_PAGE]:
        row = for_user(sample_row(sample))
        row["job_id"] = sample.job_id
        row["age"] = timefmt.age_since(sample.created_at, now)
        rows.append(row)
    return render_template("pages/samples.html", samples=rows, page=page, has_more=len(found) > PER_PAGE)


def analysis_rows(analyses: list[Analysis], now: datetime) -> list[dict]:
    """The analyses tables' rows: the API's answer with the page's link, the creation time as
    the site writes it and the age."""
    rows = []
    for analysis in analyses:
        row = analysis_out(analysis)
        row["url"] = url_for("pages.analysis_page", analysis_id=analysis.id)
        row["created_label"] = timefmt.absolute(analysis.created_at)
        row["age"] = timefmt.age_since(analysis.created_at, now)
        rows.append(row)
    return rows


@pages_bp.get("/analyses")
def analyses():
    page = _page()
    stmt = visible(select(Analysis), Analysis).order_by(Analysis.id.desc()).limit(PER_PAGE + 1)
    found = list(get_db().scalars(stmt.offset((page - 1) * PER_PAGE)))
    rows = analysis_rows(found[:PER_PAGE], datetime.now(UTC))
    return render_template("pages/all_analyses.html", analyses=rows, page=page, has_more=len(found) > PER_PAGE)


@pages_bp.get("/sweeps/<int:sweep_id>")
def sweep_page(sweep_id: int):
    """A sweep's page is its comparison."""
    return redirect(url_for("pages.compare_page", sweep=sweep_id))


@pages_bp.get("/jobs/<int:job_id>/samples")
def job_samples(job_id: int):
    """The job page's samples table (the address takes the sample form's POST)."""
    get_visible(Job, job_id)
    return redirect(url_for("pages.job_page", job_id=job_id, _anchor="samples"))
