"""The cluster's client host: `python -m tests.cluster.agent`, run with `ip netns exec` on a host of
the cluster, since the test process (in the root namespace) cannot reach the cluster's addresses.

It reads one JSON object per line on stdin, `{"op": NAME, ...arguments}`, and answers each with one
line on stdout, `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`. What it can do:
HTTP requests to either API (with a token, or as a browser: a cookie jar of its own per session
name, sent to whichever API with one `Host` name, as a browser behind round-robin DNS does), SQL
reads of the records (shared.db.models), S3 listings (shared.storage), the migration, and a probe
thread that keeps asking both APIs while a scenario runs.

Settings come from the environment (DATABASE_URL, S3_*); `CLUSTER_APIS` is `name=url,name=url`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import traceback
from typing import Any

import requests
from sqlalchemy import select

from shared.db.models import Epoch, Job, Sample
from shared.db.session import session_scope
from shared.settings import Settings
from shared.storage import S3Store, store_from_settings
from shared.storage.keys import ATTEMPT_PREFIXES
from tests.waiting import wait_for

SITE = "charlstm.cluster"  # the one name both APIs answer to (the Host header a browser sends)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Agent:
    def __init__(self) -> None:
        self.settings = Settings()
        self.apis = dict(pair.split("=", 1) for pair in os.environ["CLUSTER_APIS"].split(","))
        self.store = store_from_settings(self.settings)
        self.cookies: dict[str, dict[str, str]] = {}
        self.probe: Probe | None = None

    # ---- HTTP -----------------------------------------------------------------------------------

    def http(
        self,
        api: str,
        method: str,
        path: str,
        token: str | None = None,
        session: str | None = None,
        json_body: Any = None,
        data: dict | None = None,
        files: dict | None = None,
        timeout: float = 10,
    ) -> dict:
        """One request, redirects not followed. `session`: a browser's cookie jar by that name."""
        headers = {"Host": SITE}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        jar = self.cookies.setdefault(session, {}) if session else {}
        if jar:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        upload = {name: (filename, text.encode()) for name, (filename, text) in (files or {}).items()}
        response = requests.request(
            method,
            self.apis[api] + path,
            headers=headers,
            json=json_body,
            data=data,
            files=upload or None,
            timeout=timeout,
            allow_redirects=False,
        )
        if session:
            jar.update((name, value) for name, value in response.cookies.get_dict().items() if value is not None)
        try:
            body = response.json()
        except ValueError:
            body = None
        return {
            "status": response.status_code,
            "json": body,
            "text": response.text[:20000],
            "chars": len(response.text),
            "location": response.headers.get("Location"),
        }

    def csrf(self, api: str, session: str, path: str = "/login") -> str:
        page = self.http(api, "GET", path, session=session)
        match = CSRF_RE.search(page["text"])
        if match is None:
            raise RuntimeError(f"no csrf_token on {path} ({page['status']}): {page['text'][:300]}")
        return match.group(1)

    def wait_http(self, api: str, timeout: float = 60) -> float:
        began = time.monotonic()

        def healthy() -> bool:
            try:
                return requests.get(self.apis[api] + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet: asked again until the timeout
                return False

        try:
            wait_for(healthy, timeout, f"{api} to answer", 0.2)
        except TimeoutError:
            raise TimeoutError(f"{api} not answering after {timeout} s") from None
        return time.monotonic() - began

    def probe_start(self, token: str, path: str, interval: float = 0.5) -> None:
        self.probe_stop()
        self.probe = Probe(self, token, path, interval)

    def probe_stop(self) -> dict | None:
        probe, self.probe = self.probe, None
        return probe.stop() if probe else None

    # ---- the database and object storage ----------------------------------------------------------

    def migrate(self) -> None:
        from shared.db.migrate import upgrade

        upgrade(self.settings.database_url)

    def make_user(self, name: str, admin: bool = False) -> str:
        from shared.auth import create_user_token

        with session_scope(self.settings.database_url) as session:
            return create_user_token(session, name, admin)

    def job(self, job_id: int) -> dict:
        with session_scope(self.settings.database_url) as session:
            job = session.get(Job, job_id)
            if job is None:
                raise LookupError(f"no job {job_id}")
            epochs = session.scalars(select(Epoch).where(Epoch.job_id == job_id).order_by(Epoch.id))
            return {
                **_fields(job, "id", "status", "worker", "attempts", "requeues", "epoch", "progress", "error"),
                "lease": getattr(job, "lease", None),
                "epochs": [
                    {
                        "epoch": e.epoch,
                        "key": e.checkpoint_key,
                        "created": e.created_at.timestamp(),
                        "pruned": e.pruned_at is not None,
                    }
                    for e in epochs
                ],
            }

    def sample(self, sample_id: int) -> dict:
        with session_scope(self.settings.database_url) as session:
            sample = session.get(Sample, sample_id)
            if sample is None:
                raise LookupError(f"no sample {sample_id}")
            fields = _fields(sample, "id", "status", "worker", "object_key", "error", "progress", "attempts")
            return {**fields, "lease": getattr(sample, "lease", None)}

    def objects(self, prefixes: list[str] | None = None) -> dict[str, float]:
        """Every object under `prefixes` (default: the attempts' folders), with when it was last
        written (seconds since the epoch)."""
        found: dict[str, float] = {}
        for prefix in prefixes or ATTEMPT_PREFIXES:
            found.update((key, at.timestamp()) for key, at in self.store.list_modified(prefix).items())
        return found

    def orphans(self) -> list[str]:
        """Objects under jobs/, samples/ and analyses/ that no record references."""
        from shared.lifecycle.objects import referenced_keys, unreferenced

        keys = sorted(self.objects())
        with session_scope(self.settings.database_url) as session:
            return sorted(unreferenced(keys, referenced_keys(session)))

    def activity(self) -> list[str]:
        """PostgreSQL's sessions with an open transaction: who holds what (for a failure's message)."""
        from sqlalchemy import text

        query = text(
            "SELECT client_addr, state, now() - xact_start AS open_for, left(query, 120) FROM pg_stat_activity "
            "WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start"
        )
        with session_scope(self.settings.database_url) as session:
            return [" | ".join(str(value) for value in row) for row in session.execute(query)]

    def ensure_bucket(self) -> None:
        assert isinstance(self.store, S3Store), self.store
        self.store.ensure_bucket()


class Probe:
    """Both APIs asked every `interval` seconds, /healthz and an authenticated GET, until stopped."""

    def __init__(self, agent: Agent, token: str, path: str, interval: float):
        self.agent, self.token, self.path, self.interval = agent, token, path, interval
        self.requests = 0
        self.failures: list[str] = []
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for api, url in self.agent.apis.items():
                for path, headers in (("/healthz", {}), (self.path, {"Authorization": f"Bearer {self.token}"})):
                    began = time.monotonic()
                    try:
                        status = requests.get(url + path, headers=headers, timeout=5).status_code
                        problem = None if status == 200 else f"status {status}"
                    except requests.RequestException as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    self.slowest = max(self.slowest, time.monotonic() - began)
                    self.requests += 1
                    if problem:
                        self.failures.append(f"{time.strftime('%H:%M:%S')} {api} GET {path}: {problem}")

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(10)
        return {"requests": self.requests, "failures": self.failures, "slowest": round(self.slowest, 3)}


def _fields(record: Any, *names: str) -> dict:
    values = {name: getattr(record, name) for name in names}
    return {name: getattr(value, "value", value) for name, value in values.items()}


def main() -> None:
    agent = Agent()
    out = sys.stdout
    sys.stdout = sys.stderr  # only answers on the protocol's stream
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            if op.startswith("_") or not callable(getattr(agent, op, None)):
                raise AttributeError(f"no operation {op!r}")
            answer = {"ok": True, "result": getattr(agent, op)(**request)}
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the test
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        out.write(json.dumps(answer, default=str) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
