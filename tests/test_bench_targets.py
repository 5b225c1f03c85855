"""`make bench`'s targets: a check is met or missed by its direction, and lands in the benchmark's JSON."""

import json

from benchmarks import common, targets


def test_a_target_is_met_or_missed_by_its_direction(tmp_path, monkeypatch):
    faster = targets.check("unit-bench", "speed-up", 2.5, 3.0, goal_of="int8 sampler")
    overhead = targets.check("unit-bench", "overhead", 0.08, 0.10, higher_is_better=False, unit="")
    assert not faster.met and overhead.met
    assert "target >= 3x" in faster.line() and "MISSED" in faster.line()
    assert "target <= 0.1" in overhead.line() and overhead.line().endswith(": met")
    assert all(t.line() in targets.summary() for t in (faster, overhead))

    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    stored = json.loads(common.write_results("unit-bench", {"x": 1}).read_text())
    assert [(t["name"], t["met"]) for t in stored["targets"]] == [("speed-up", False), ("overhead", True)]
    assert stored["targets"][0]["goal_of"] == "int8 sampler"
    assert targets.stored(stored) == [faster, overhead]  # what `make bench` sums up from the JSON


def test_make_bench_sums_up_the_targets_each_benchmark_process_stored_in_this_run(tmp_path, monkeypatch):
    import os
    import time

    from benchmarks.__main__ import collected

    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(targets, "_CHECKED", [])
    old = targets.check("old-bench", "from an earlier run", 1.0, 3.0)
    common.write_results("old-bench", {})
    os.utime(tmp_path / "old-bench.json", (time.time() - 3600, time.time() - 3600))
    began = time.time() - 1
    fast = targets.check("fast-bench", "speed-up", 4.0, 3.0)
    slow = targets.check("slow-bench", "speed-up", 2.0, 3.0)
    common.write_results("fast-bench", {})
    common.write_results("slow-bench", {})
    rows = collected(("fast-bench", "old-bench", "slow-bench", "never-ran"), began)
    assert rows == [fast, slow] and old not in rows
    assert targets.summary(rows).splitlines()[0] == "targets: 1 of 2 met"
