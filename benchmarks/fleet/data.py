"""The fleet's database: its own PostgreSQL database, migrated, then loaded in bulk (COPY through
psycopg, not ORM objects) with a fleet's history: USERS users (one token and one corpus each),
`jobs` jobs spread over them, most finished (their epochs recorded: 2 to 5 for a succeeded job),
the newest QUEUED_SHARE queued (each user's oldest queued one dispatched, the rest waiting their
turn, as the fair queues leave them), and twice as many samples, all finished."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import make_url

from shared.auth import hash_token, new_token
from shared.db.migrate import upgrade
from shared.db.models import new_dispatch_token
from shared.engine.config import Hyperparameters
from shared.storage.keys import checkpoint_key

USERS = 1000
QUEUED_SHARE = 0.08  # the newest jobs wait for a worker
FINISHED = (("succeeded", 0.90), ("failed", 0.07), ("cancelled", 0.03))
SAMPLES_PER_JOB = 2
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLES = ("batch_losses", "analyses", "samples", "epochs", "jobs", "sweeps", "corpora", "web_sessions", "tokens",
          "users", "worker_processes")  # fmt: skip


@dataclass
class Fleet:
    """What the load wrote that the simulation needs: each user's token, jobs and samples, and the
    dispatched jobs (id, token) that the broker holds."""

    tokens: dict[int, str] = field(default_factory=dict)
    jobs_of: dict[int, list[int]] = field(default_factory=dict)
    samples_of: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # user: [(job, sample)]
    dispatched: list[tuple[int, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg's connection string."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(name: str, admin_url: str = ADMIN_URL) -> str:
    """A new empty database `name` (dropped first if there), its SQLAlchemy URL."""
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset(url: str) -> None:
    """Migrate to head and empty every table (ids restarted)."""
    upgrade(url)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


def _copy(conn: psycopg.Connection, table: str, columns: str, rows) -> int:
    count = 0
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def load(url: str, jobs: int, seed: int = 0) -> Fleet:
    """Empty the database and load `jobs` jobs (and their epochs and samples) from USERS users."""
    reset(url)
    rng, fleet, now = random.Random(seed), Fleet(), datetime.now(UTC)
    start = now - timedelta(days=365)
    users = min(USERS, jobs)
    hyper = json.dumps(Hyperparameters(epochs=5).model_dump(mode="json"))
    with psycopg.connect(libpq(url)) as conn:
        fleet.tokens = {u: new_token() for u in range(1, users + 1)}
        fleet.rows["users"] = _copy(conn, "users", "id, name, is_admin, created_at",
                                    ((u, f"user{u}", False, start) for u in fleet.tokens))  # fmt: skip
        _copy(conn, "tokens", "id, user_id, token_hash, created_at",
              ((u, u, hash_token(t), start) for u, t in fleet.tokens.items()))  # fmt: skip
        corpus_rows = ((u, u, "corpus", f"corpora/fleet-{u}.txt", 2_000_000, "0" * 64, 2_000_000, 100, 2_000_000,
                        98, "abc", start) for u in fleet.tokens)  # fmt: skip
        _copy(conn, "corpora", "id, owner_id, name, object_key, bytes, sha256, raw_chars, raw_unique, clean_chars,"
              " clean_unique, vocabulary, created_at", corpus_rows)  # fmt: skip
        first_queued = jobs - int(jobs * QUEUED_SHARE) + 1
        job_rows: list[tuple] = []
        epoch_rows, status_of, in_broker = [], {}, set()
        for j in range(1, jobs + 1):
            owner, created = (j - 1) % users + 1, start + (now - start) * (j / (jobs + 1))
            fleet.jobs_of.setdefault(owner, []).append(j)
            if j >= first_queued:
                dispatched, token = owner not in in_broker, new_dispatch_token()
                if dispatched:
                    in_broker.add(owner)
                    fleet.dispatched.append((j, token))
                status_of[j] = (owner, "dispatched" if dispatched else "waiting")
                job_rows.append((j, owner, owner, hyper, "queued", 0, 0, 0.0, None, False, None, created, None, None,
                                 None, token, now if dispatched else None, 0, 0.0, 0))  # fmt: skip
                continue
            status = rng.choices([s for s, _ in FINISHED], [w for _, w in FINISHED])[0]
            epochs = rng.randint(2, 5) if status == "succeeded" else rng.randint(0, 2)
            lease = f"{j:016x}"
            for e in range(1, epochs + 1):
                epoch_rows.append((j, e, 1.5 - 0.1 * e, 1.6 - 0.1 * e, 60.0, 50_000.0, checkpoint_key(j, e, lease),
                                   created + timedelta(minutes=e), 5_000_000))  # fmt: skip
            ended = created + timedelta(minutes=epochs + 1)
            job_rows.append((j, owner, owner, hyper, status, 1, epochs, 1.0 if status == "succeeded" else 0.0,
                             1.6 - 0.1 * epochs if epochs else None, status == "cancelled",
                             None if status != "failed" else "out of memory", created, created, ended, ended,
                             None, created, 0, 60.0 * epochs, 5_000_000 * epochs))  # fmt: skip
            status_of[j] = (owner, status)
        fleet.rows["jobs"] = _copy(conn, "jobs", "id, owner_id, corpus_id, hyperparameters, status, attempts, epoch,"
                                   " progress, best_val_loss, cancel_requested, error, created_at, started_at,"
                                   " finished_at, heartbeat_at, dispatch_token, dispatched_at, requeues, train_seconds,"
                                   " storage_bytes", job_rows)  # fmt: skip
        fleet.rows["epochs"] = _copy(conn, "epochs", "job_id, epoch, loss, val_loss, seconds, chars_per_second,"
                                     " checkpoint_key, created_at, checkpoint_bytes", epoch_rows)  # fmt: skip
        finished = [j for j in range(1, first_queued) if status_of[j][1] == "succeeded"] or [1]
        sample_rows = []
        for s in range(1, SAMPLES_PER_JOB * jobs + 1):
            j = rng.choice(finished)
            owner, created = status_of[j][0], start + timedelta(seconds=s)
            fleet.samples_of.setdefault(owner, []).append((j, s))
            status = "succeeded" if rng.random() < 0.95 else "failed"
            sample_rows.append((s, owner, j, checkpoint_key(j, 1, f"{j:016x}"), 50_000, "[0.75]", 1, status, 1,
                                f"samples/{s}/{s:016x}.txt" if status == "succeeded" else None, created, created,
                                created, 1.0, created))  # fmt: skip
        fleet.rows["samples"] = _copy(conn, "samples", "id, owner_id, job_id, checkpoint_key, length, temperatures,"
                                      " count, status, attempts, object_key, created_at, started_at, finished_at,"
                                      " progress, dispatched_at", sample_rows)  # fmt: skip
        for table in ("users", "tokens", "corpora", "jobs", "epochs", "samples"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return fleet


def database_bytes(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0
