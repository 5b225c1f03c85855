"""Attack: one signed-in user posts a sweep whose grid crosses more combinations than memory holds
(a body under 1 KB: 7 keys x 10 values is 10^7 variants, 20 keys x 10 values 10^20). The API
answers 422 naming SWEEP_MAX_VARIANTS from the lists' lengths, before anything is expanded:
fast, and with the API process's resident memory (VmRSS, read from /proc) about where it was.

Figures (the embedded stack: `python -m services.serve`, SQLite; measured on a 2-core machine):
with the grid expanded before the size check, the 7 x 10 body took the API process from 102 MB
to a peak of 2.80 GB and 32 s before its 422, and the 20 x 10 body passed 3 GB within 19 s
without an answer (stopped there); with the size computed first, each is a 422 in 0.05 s and
the process's VmRSS does not move (+0.0 MB)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.serving.conftest import serve  # noqa: F401 - the fixture: a real services.serve process

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")

HYPERPARAMETERS = ["mode", "layers", "units", "dropout", "seq_len", "step", "batch_size"]
MAX_SECONDS = 2.0  # a 422 computed from list lengths; the expansion took 10 s for 7 keys
MAX_GROWTH_MB = 20.0  # resident memory the API process may gain over both requests


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def post(server, body: bytes) -> tuple[int, dict, float]:
    request = urllib.request.Request(
        f"{server.url}/api/v1/sweeps",
        data=body,
        headers={**server.headers(), "Content-Type": "application/json"},
        method="POST",
    )
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response), time.monotonic() - began
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc), time.monotonic() - began


def grid_body(keys: list[str], corpus_id: int = 1) -> bytes:
    grid = {key: list(range(10)) for key in keys}
    return json.dumps({"corpus_id": corpus_id, "grid": grid}, separators=(",", ":")).encode()


def add_corpus(database_url: str) -> int:
    """alice's corpus, so that the sweep names one she may use (as an attacker's would)."""
    from sqlalchemy import select

    from shared.db.models import User
    from shared.db.session import session_scope
    from tests.factories import corpus_row

    with session_scope(database_url) as session:
        alice = session.scalar(select(User).where(User.name == "alice"))
        corpus = corpus_row(owner=alice, name="a.txt", object_key="corpora/" + "a" * 32 + ".txt")
        session.add(corpus)
        session.flush()
        return corpus.id


def test_a_grid_of_ten_to_the_twenty_variants_is_a_fast_422_and_costs_no_memory(serve, tmp_path):  # noqa: F811
    server = serve(threads=2)
    corpus_id = add_corpus(f"sqlite:///{tmp_path / 'var-0' / 'charlstm.db'}")
    seven = grid_body(HYPERPARAMETERS, corpus_id)
    twenty = grid_body([f"h{i:02d}" for i in range(13)] + HYPERPARAMETERS, corpus_id)
    assert len(seven) < 1024 and len(twenty) < 1024
    post(server, grid_body(["seed"], corpus_id))  # warm: the first request imports and builds what every request uses
    before = rss_mb(server.process.pid)
    answers = [post(server, seven), post(server, twenty)]
    growth = rss_mb(server.process.pid) - before
    seconds = [round(s, 3) for _, _, s in answers]
    print(f"grid attack: 7x10 and 20x10 bodies answered in {seconds} s; API VmRSS {before:.0f} MB, +{growth:.1f} MB")
    for status, body, elapsed in answers:
        assert status == 422, body
        assert any("SWEEP_MAX_VARIANTS" in d["msg"] for d in body["detail"]), body
        assert elapsed < MAX_SECONDS, (elapsed, body)
    unknown = [d["loc"] for d in answers[1][1]["detail"] if d["loc"] != ["grid"]]
    assert unknown and all(loc[0] == "grid" and loc[1].startswith("h") for loc in unknown)  # the bad keys named
    assert growth < MAX_GROWTH_MB, f"the API process grew by {growth:.0f} MB"
