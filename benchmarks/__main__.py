"""`make bench`: every benchmark, each a ratio measured within one run; JSON in bench-results/.

Each benchmark runs in a process of its own, one after the other, so that none inherits another's
thread pools (numba's, BLAS's, TensorFlow's), caches or memory; the targets' summary is read back
from the JSON each wrote in this run. The exit status is 1 when a benchmark failed.
"""

import json
import subprocess
import sys
import time

from . import common, targets

BENCHMARKS = ("sampling", "sampling_service", "training", "upload", "load", "quality", "sample_figures")


def collected(names, since: float) -> list[targets.Target]:
    """The targets stored by the benchmarks `names` in JSON written at `since` or later (this run's:
    a file left from an earlier run, by a benchmark that failed this time, is not counted)."""
    rows: list[targets.Target] = []
    for name in names:
        path = common.RESULTS_DIR / f"{name}.json"
        if path.exists() and path.stat().st_mtime >= since:
            rows += targets.stored(json.loads(path.read_text(encoding="utf-8")))
    return rows


def main() -> int:
    began = time.time()
    failed = []
    for name in BENCHMARKS:
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False).returncode != 0:
            failed.append(name)
    print(targets.summary(collected(BENCHMARKS, began)))
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
