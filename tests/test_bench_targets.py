"""`make bench`'s targets: a check is met or missed by its direction, and lands in the benchmark's JSON."""

import json

from benchmarks import common, targets


def test_a_target_is_met_or_missed_by_its_direction(tmp_path, monkeypatch):
    faster = targets.check("unit-bench", "speed-up", 2.5, 3.0, issue=13)
    overhead = targets.check("unit-bench", "overhead", 0.08, 0.10, higher_is_better=False, unit="")
    assert not faster.met and overhead.met
    assert "target >= 3x" in faster.line() and "MISSED" in faster.line()
    assert "target <= 0.1" in overhead.line() and overhead.line().endswith(": met")
    assert all(t.line() in targets.summary() for t in (faster, overhead))

    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    stored = json.loads(common.write_results("unit-bench", {"x": 1}).read_text())
    assert [(t["name"], t["met"]) for t in stored["targets"]] == [("speed-up", False), ("overhead", True)]
    assert stored["targets"][0]["issue"] == 13
