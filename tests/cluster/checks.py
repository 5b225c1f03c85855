"""What every scenario checks: the API answered throughout, each epoch was recorded once and in
order, no recorded object was overwritten, and after the reconciler's next sweep no object is left
that the records do not reference."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.waiting import wait_for

from .harness import FAST, Cluster

PROBED = "/api/v1/jobs?per_page=5"  # the authenticated GET the probe sends, besides /healthz
GRACE = float(FAST["ORPHAN_GRACE"])
ROUND = float(FAST["RECONCILE_INTERVAL"])


@contextmanager
def api_answering(cluster: Cluster) -> Iterator[dict]:
    """Both APIs asked (/healthz and an authenticated GET, every 0.5 s) while the block runs; then
    every answer must have been a 200. The dict yielded gets the probe's counts."""
    cluster.agent.call("probe_start", token=cluster.token, path=PROBED)
    outcome: dict = {}
    try:
        yield outcome
    finally:
        outcome.update(cluster.agent.call("probe_stop"))
    assert outcome["requests"] >= 8, outcome
    assert outcome["failures"] == [], outcome


def epochs_once_in_order(job: dict, epochs: int) -> None:
    """Epochs 1..epochs, each recorded once, recorded in order, each under its own key."""
    numbers = [e["epoch"] for e in job["epochs"]]
    assert numbers == list(range(1, epochs + 1)), numbers
    created = [e["created"] for e in job["epochs"]]
    assert created == sorted(created), job["epochs"]
    keys = [e["key"] for e in job["epochs"]]
    assert len(set(keys)) == len(keys), keys
    assert not any(e["pruned"] for e in job["epochs"]), job["epochs"]  # keep_every 1


def recorded_by_one_attempt(job: dict, first: int) -> None:
    """Epochs from `first` on are under the lease of the attempt that finished the job (the fencing
    rule: an attempt writes only under keys that name its lease)."""
    later = [e["key"] for e in job["epochs"] if e["epoch"] >= first]
    assert job["lease"] and all(f"/{job['lease']}/" in key for key in later), (job["lease"], later)


def nothing_overwritten(cluster: Cluster, job: dict) -> None:
    """Every recorded checkpoint's objects were last written before its epoch was recorded."""
    stored = cluster.agent.call("objects", prefixes=[f"jobs/{job['id']}/"])
    for epoch in job["epochs"]:
        written = {key: at for key, at in stored.items() if key.startswith(epoch["key"].rstrip("/") + "/")}
        assert written, f"epoch {epoch['epoch']}: nothing stored under {epoch['key']}"
        late = {key: at - epoch["created"] for key, at in written.items() if at > epoch["created"] + 0.5}
        assert not late, f"epoch {epoch['epoch']}: written after it was recorded (seconds): {late}"


def no_orphans(cluster: Cluster) -> float:
    """Waits for the reconciler to sweep what no record references (older than ORPHAN_GRACE);
    returns the seconds it took. Fails naming what is left after the grace and a few rounds."""
    began = time.monotonic()
    left: list = []

    def swept() -> bool:
        left[:] = cluster.agent.call("orphans")
        return not left

    try:
        wait_for(swept, GRACE + 10 * ROUND + 5, "the reconciler to sweep unreferenced objects", ROUND)
    except TimeoutError:
        raise AssertionError(f"objects no record references, {GRACE} s after: {left}") from None
    return time.monotonic() - began


def timings(name: str, probe: dict, **seconds: float) -> None:
    """One line per scenario (`pytest -s` shows them): its timings and what the API probe saw."""
    figures = ", ".join(f"{what.replace('_', ' ')} {value:.1f} s" for what, value in seconds.items())
    answered = f"API: {probe['requests']} requests answered, slowest {probe['slowest']:.2f} s"
    print(f"\n[cluster timing] {name}: {figures}; {answered}")
