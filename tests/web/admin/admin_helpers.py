"""Helpers for the admin tests: the app under test, and rows written straight through the models."""

import hashlib
import os
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

ADMIN_REDIS_URL = os.environ.get("TEST_ADMIN_REDIS_URL", "redis://127.0.0.1:6379/13")
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def build_app(db_url: str, celery, tmp_dir):
    """The API app (its factory registers the admin pages) on the admin tests' database and broker."""
    from services.app import create_app
    from shared.settings import Settings

    app = create_app(
        Settings(
            DATABASE_URL=db_url,
            BROKER_URL=ADMIN_REDIS_URL,
            CHARLSTM_VAR_DIR=str(tmp_dir),
            SECRET_KEY="admin-test-secret-" + "0123456789abcdef" * 2,
        )
    )
    app.config.update(TESTING=True, ADMIN_BROKER_TIMEOUT=1.0)
    app.extensions["celery"] = celery
    return app


# ---- rows -------------------------------------------------------------------------------------


def make_user(session, name: str, admin: bool = False) -> str:
    """A user with one token; returns the plain token."""
    from shared.db.models import Token, User

    token = secrets.token_urlsafe(24)
    user = User(name=name, is_admin=admin)
    user.tokens.append(Token(token_hash=hashlib.sha256(token.encode()).hexdigest()))
    session.add(user)
    session.commit()
    return token


def make_corpus(session, owner_name: str = "alice", name: str = "python.txt"):
    from sqlalchemy import select

    from shared.db.models import User
    from tests.factories import corpus_row

    owner = session.scalar(select(User).where(User.name == owner_name))
    if owner is None:
        make_user(session, owner_name)
        owner = session.scalar(select(User).where(User.name == owner_name))
    corpus = corpus_row(
        owner=owner,
        name=name,
        chars=3_900_000,
        raw_unique=318,
        clean_chars=3_890_000,
        clean_unique=74,
        vocabulary="\n abc<def>",
    )
    session.add(corpus)
    session.commit()
    return corpus


def make_job(
    session,
    status: str = "running",
    epochs: int = 4,
    epoch: int = 0,
    progress: float = 0.0,
    history: Sequence[tuple[float, float | None]] = (),
    owner_name: str = "alice",
    **fields,
):
    """A job on a new corpus, with one Epoch row (and checkpoint key) per (loss, val_loss) in `history`."""
    from shared.db.models import Epoch, Job, WorkStatus

    corpus = make_corpus(session, owner_name)
    now = datetime.now(UTC)
    job = Job(
        owner_id=corpus.owner_id,
        corpus=corpus,
        status=WorkStatus(status),
        hyperparameters={"epochs": epochs, "layers": 3, "units": 512, "seq_len": 50, "batch_size": 128},
        epoch=epoch or len(history),
        progress=progress,
        created_at=now - timedelta(minutes=30),
        started_at=now - timedelta(minutes=29) if status != "queued" else None,
        train_seconds=sum(60.0 + i for i in range(1, len(history) + 1)),
        **fields,
    )
    for i, (loss, val) in enumerate(history, start=1):
        job.epochs.append(
            Epoch(
                epoch=i,
                loss=loss,
                val_loss=val,
                seconds=60.0 + i,
                chars_per_second=50_000.0,
                checkpoint_key=f"jobs/{i:04d}/ckpt-epoch-{i:04d}.keras",
            )
        )
    if history:
        vals = [v for _, v in history if v is not None]
        job.best_val_loss = min(vals) if vals else None
    session.add(job)
    session.commit()
    return job
