"""Helpers shared by the benchmarks: machine description, float32 GEMM peak, BLAS thread control,
result JSON (bench-results/<name>.json) and plain-text tables."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .targets import checked

RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR", Path(__file__).resolve().parent.parent / "bench-results"))


def quick() -> bool:
    """BENCH_QUICK=1 (or --quick on the command line): a short smoke-test version of a benchmark."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0") or "--quick" in sys.argv[1:]


# --- BLAS threads (numpy's bundled OpenBLAS, through ctypes; no threadpoolctl needed) -----------

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def _openblas():
    paths = glob.glob(str(Path(np.__file__).parent.parent / "numpy.libs" / "*openblas*.so*"))
    try:
        with open("/proc/self/maps") as maps:
            paths += sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        pass
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            return setter, getter
    return None


_BLAS = _openblas()


def blas_threads() -> int | None:
    """OpenBLAS's current thread count (None when numpy's BLAS is not a findable OpenBLAS)."""
    return None if _BLAS is None else int(_BLAS[1]())


@contextlib.contextmanager
def limit_blas_threads(n: int):
    """Run a block with n BLAS threads (no-op when the BLAS cannot be controlled)."""
    before = blas_threads()
    if _BLAS is not None:
        _BLAS[0](ctypes.c_int(int(n)))
    try:
        yield blas_threads()
    finally:
        if _BLAS is not None and before is not None:
            _BLAS[0](ctypes.c_int(before))


# --- measurements -----------------------------------------------------------------------------


def machine() -> dict:
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas_threads": blas_threads(),
        "load_average_1min": load,
        "platform": platform.platform(),
    }


def best_time(fn, repeats: int = 3) -> float:
    """The fastest of `repeats` runs of fn(), in seconds."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best


def measure_gemm_flops(n: int = 2048, seconds: float = 1.0) -> float:
    """This machine's float32 matrix-multiply rate in FLOP/s: the best of repeated n x n products
    (2 n^3 FLOPs each) over about `seconds`, with numpy's default BLAS threads."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm up
    best, deadline = float("inf"), time.perf_counter() + seconds
    while True:
        began = time.perf_counter()
        np.matmul(a, b, out=out)
        now = time.perf_counter()
        best = min(best, now - began)
        if now >= deadline:
            return 2.0 * n**3 / best


# --- output -----------------------------------------------------------------------------------


def write_results(name: str, results: dict) -> Path:
    """Write bench-results/<name>.json: the results with the time and the machine they came from, and
    the targets checked under the same name (benchmarks/targets.py)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "results": results,
        "targets": [t.to_dict() for t in checked(name)],
    }
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_table(title: str, rows, header=None) -> None:
    """Print rows (tuples of cells) as aligned columns under a title; first column left-aligned."""
    rows = [tuple(str(cell) for cell in row) for row in rows]
    if header:
        rows = [tuple(header)] + rows
    if not rows:
        print(title)
        return
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(max(map(len, rows)))]
    line = "-" * (sum(widths) + 3 * (len(widths) - 1))
    print(f"\n{title}\n{line}")
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=False)]
        print(" | ".join(cells).rstrip())
        if header and n == 0:
            print(line)
    print(line)
