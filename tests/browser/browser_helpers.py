"""Helpers for the browser tests: console-error collection, sign-in, rows made through the
lifecycle as the API and the workers make them, and the horizontal-scroll measurement."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
WORKER = "browser-test-worker"
TEST_LEASE = "t35t1ea5e"  # the lease under which these helpers' objects are keyed (no claim made them)


@dataclass
class ConsoleErrors:
    """Console messages of type error and uncaught page exceptions, from every watched page."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} ({msg.location.get('url')})")

    def assert_none(self) -> None:
        assert self.errors == [], f"the page logged errors: {self.errors}"


def sign_in(page, base_url: str, token: str, next_path: str | None = None) -> None:
    url = f"{base_url}/login" + (f"?next={next_path}" if next_path else "")
    page.goto(url)
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )


def user_id(session, name: str) -> int:
    from sqlalchemy import select

    from shared.db.models import User

    return session.scalar(select(User.id).where(User.name == name))


def make_corpus(session, owner_id: int, name: str = "stdlib.py"):
    from tests.factories import corpus_row

    corpus = corpus_row(
        owner_id=owner_id,
        name=name,
        chars=300_000,
        raw_unique=90,
        clean_chars=299_000,
        clean_unique=80,
        vocabulary="\n abcdefghijklmnopqrstuvwxyz():=",
    )
    session.add(corpus)
    session.commit()
    return corpus


def running_job(session, owner_id: int, epochs: int = 5):
    """A job created and claimed through the lifecycle, as the API and a training worker do."""
    from shared import lifecycle
    from shared.engine.config import Hyperparameters

    corpus = make_corpus(session, owner_id)
    job = lifecycle.create_job(session, owner_id, corpus.id, Hyperparameters(layers=1, units=16, epochs=epochs))
    session.commit()
    assert lifecycle.claim_job(session, job.id, WORKER) is not None
    session.commit()
    return job.id


def record_epoch(session, job_id: int, epoch: int, loss: float, val_loss: float) -> None:
    """An epoch recorded through the lifecycle, as a training worker does."""
    from shared import lifecycle
    from shared.engine.training.train import EpochReport
    from shared.storage.keys import checkpoint_key

    report = EpochReport(epoch=epoch, loss=loss, val_loss=val_loss, seconds=1.5, chars_per_second=40_000.0)
    lifecycle.record_epoch(session, job_id, report, checkpoint_key(job_id, epoch, TEST_LEASE), worker=WORKER)
    session.commit()


def finished_analysis(db_session, store, job_id: int, text: str) -> int:
    """An analysis run as the worker runs it (the engine on the light sampler), stored."""
    from shared import lifecycle
    from shared.db.models import Job
    from shared.engine.inference.light import load_light_sampler
    from shared.engine.inspection.analysis import analyze
    from tests.analysis_helpers import tiny_checkpoint

    job = db_session.get(Job, job_id)
    analysis = lifecycle.create_analysis(db_session, job.owner_id, job, job.epochs[0], text)
    db_session.commit()
    lifecycle.claim_analysis(db_session, analysis.id, "browser-test")
    result = analyze(load_light_sampler(tiny_checkpoint()), text)
    key = f"analyses/{analysis.id}.json"
    store.put_bytes(key, json.dumps(result).encode())
    top = {k: result[k] for k in ("features", "layers", "units", "top")}
    lifecycle.finish_analysis(db_session, analysis.id, object_key=key, top=top, chars=len(result["text"]))
    db_session.commit()
    return analysis.id
