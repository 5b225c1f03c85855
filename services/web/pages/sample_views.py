"""The sample pages: a sample's page (its state, live while it runs, a preview of its first lines,
a download), every text's quality and novelty and one text with the spans copied from the
training corpus highlighted (server-rendered <mark>s);
and a job's samples side by side across temperatures (the paper's figures 2, 6 and 7), each text
with its figures, so that a user can pick a temperature."""

from __future__ import annotations

from flask import jsonify, render_template, request, url_for
from sqlalchemy import select

from shared.db.models import Job, Sample, WorkStatus
from shared.storage import NotFound

from ...plumbing.access import current_user, get_visible, visible
from ...plumbing.context import get_db, get_store
from ...plumbing.downloads import sample_download
from ...plumbing.text_events import resume_offset, text_stream
from ..figures import options_label, sample_figure_rows, segments
from ..job_page import poll_ms
from ..presenters import for_user, sample_row
from .blueprint import pages_bp
from .zip_heads import zip_heads

HIGHLIGHT_CHARS = 20_000  # characters of a text shown highlighted on its sample's page
COMPARE_CHARS = 3_000  # characters of each text shown side by side
COMPARE_TEXTS = 12  # texts side by side at most (the newest samples' first)
COMPARE_SAMPLES = 50  # newest succeeded samples looked at (their figures: database rows)
COMPARE_SAMPLE_BYTES = 1024 * 1024  # bytes of one sample's object read for the side-by-side page
MAX_ZIP_BYTES = 16 * 1024 * 1024  # bytes of a zip read to reach the chosen text on a sample's page
PREVIEW_LINES = 20
PREVIEW_BYTES = 8 * 1024
PREVIEW_ZIP_BYTES = 1024 * 1024  # bytes of a zip read at most to preview its first text


def read_texts(
    sample: Sample, chars: int, budget: int = MAX_ZIP_BYTES, only: int | None = None
) -> list[tuple[str, str]] | None:
    """(name, the first `chars` characters) of the texts of a finished sample, in the download's
    order (`only`: that 0-based text's characters, the others' empty), having read at most `budget`
    bytes of its object (the texts past it are left out); None when it cannot be read (not
    finished, missing from storage)."""
    if sample.status != WorkStatus.succeeded or not sample.object_key:
        return None
    try:
        stream = get_store().open(sample.object_key)
    except NotFound:
        return None
    head_bytes = chars * 4  # UTF-8: at most 4 bytes a character
    try:
        if sample.count * len(sample.temperatures) == 1:
            head = stream.read(min(head_bytes, budget))
            return [("sample-1.txt", head.decode("utf-8", errors="ignore")[:chars])]
        return [
            (name, head.decode("utf-8", errors="ignore")[:chars])
            for name, head in zip_heads(stream, head_bytes, budget, only)
        ]
    except OSError:  # the store failed mid-read: no texts, as for a missing object
        return None
    finally:
        stream.close()


def sample_texts_view(sample: Sample) -> dict:
    """What the sample page adds: the figures of every text, and the chosen text (`?text=N`,
    1-based) cut into plain and copied segments."""
    figures = sample_figure_rows(sample)
    chosen = min(max(request.args.get("text", 1, type=int) or 1, 1), max(len(figures), 1))
    texts = read_texts(sample, HIGHLIGHT_CHARS, only=chosen - 1) if figures else None
    for i, row in enumerate(figures, start=1):
        row["url"] = url_for("pages.sample_page", sample_id=sample.id, text=i) + "#highlighted"
        row["chosen"] = i == chosen
    shown = None
    if texts and chosen <= len(texts) and chosen <= len(figures):
        name, text = texts[chosen - 1]
        shown = {
            "name": figures[chosen - 1]["name"] or name,
            "segments": segments(text, figures[chosen - 1]["spans"]),
            "cut": figures[chosen - 1].get("chars") is not None and figures[chosen - 1]["chars"] > len(text),
        }
    return {"figures": figures, "shown": shown, "highlight_chars": HIGHLIGHT_CHARS}


@pages_bp.get("/jobs/<int:job_id>/samples/compare")
def compare_samples(job_id: int):
    """The job's finished samples' texts side by side, ordered by temperature."""
    job: Job = get_visible(Job, job_id)
    stmt = (
        visible(select(Sample).where(Sample.job_id == job.id, Sample.status == WorkStatus.succeeded), Sample)
        .order_by(Sample.id.desc())
        .limit(COMPARE_SAMPLES)
    )
    columns: list[dict] = []
    reads = 0  # samples' objects opened: one per column at most
    for sample in get_db().scalars(stmt):
        figures = sample_figure_rows(sample)
        if not figures:
            continue
        if len(columns) >= COMPARE_TEXTS or reads >= COMPARE_TEXTS:
            break
        reads += 1
        texts = read_texts(sample, COMPARE_CHARS, COMPARE_SAMPLE_BYTES) or []
        for row, (_name, text) in zip(figures, texts, strict=False):
            if len(columns) >= COMPARE_TEXTS:
                break
            columns.append(
                {
                    **row,
                    "sample_id": sample.id,
                    "sample_url": url_for("pages.sample_page", sample_id=sample.id),
                    "epoch": sample.epoch,
                    "precision": sample.precision,
                    "options_label": options_label(sample),
                    "segments": segments(text, row["spans"]),
                }
            )
    columns.sort(key=lambda c: (c["temperature"] if c["temperature"] is not None else -1, c["sample_id"]))
    return render_template(
        "pages/samples_compare.html",
        job_id=job.id,
        columns=columns,
        compare_chars=COMPARE_CHARS,
        compare_texts=COMPARE_TEXTS,
    )


# ---- a sample's page ----------------------------------------------------------------------------


def _preview(sample: Sample) -> tuple[str | None, str | None]:
    """(first lines of the (first) text, its name in a zip) of a finished sample."""
    if sample.status != WorkStatus.succeeded or not sample.object_key:
        return None, None
    try:
        stream = get_store().open(sample.object_key)
    except NotFound:
        return None, None
    name = None
    try:
        if sample.count * len(sample.temperatures) == 1:
            head = stream.read(PREVIEW_BYTES)
        else:
            first = next(zip_heads(stream, PREVIEW_BYTES, PREVIEW_ZIP_BYTES, wanted=0), None)
            if first is None:
                return None, None
            name, head = first
    except OSError:  # a preview is a courtesy: a store that fails here leaves the page without one
        return None, None
    finally:
        stream.close()
    text = head.decode("utf-8", errors="ignore")
    return "\n".join(text.splitlines()[:PREVIEW_LINES]), name


def _sample_state(sample: Sample) -> dict:
    row = for_user(sample_row(sample))
    return {"id": sample.id, "status": row["status"], "progress_label": row["progress_label"], "error": row["error"]}


@pages_bp.get("/samples/<int:sample_id>")
def sample_page(sample_id: int):
    sample = get_visible(Sample, sample_id)
    row = for_user(sample_row(sample))
    preview, preview_name = _preview(sample)
    return render_template(
        "pages/sample.html",
        sample=row,
        job_id=sample.job_id,
        seed_text=sample.seed_text,
        preview=preview,
        preview_name=preview_name,
        preview_lines=PREVIEW_LINES,
        download_url=url_for("pages.sample_text", sample_id=sample.id) if row["status"] == "succeeded" else None,
        download_name=f"sample-{sample.id}." + ("txt" if sample.count * len(sample.temperatures) == 1 else "zip"),
        live=row["status"] in ("queued", "running"),
        poll_url=url_for("pages.sample_live", sample_id=sample.id),
        stream_url=url_for("pages.sample_stream", sample_id=sample.id),
        poll_ms=poll_ms(),
        view=sample_texts_view(sample),
        compare_url=url_for("pages.compare_samples", job_id=sample.job_id),
    )


@pages_bp.get("/samples/<int:sample_id>/live")
def sample_live(sample_id: int):
    return jsonify(_sample_state(get_visible(Sample, sample_id)))


@pages_bp.get("/samples/<int:sample_id>/text")
def sample_text(sample_id: int):
    return sample_download(get_visible(Sample, sample_id))


@pages_bp.get("/samples/<int:sample_id>/stream")
def sample_stream(sample_id: int):
    """The first text as it is written (Server-Sent Events, as GET /api/v1/samples/{id}/stream
    answers), for the page's EventSource: the page's session is its sign-in."""
    offset = request.args.get("offset", type=int)
    return text_stream(current_user(), sample_id, request.args.get("text", 0, type=int) or 0, resume_offset(offset))
