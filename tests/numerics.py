"""Float comparisons whose tolerance scales with what is compared.

Two correct float32 computations that sum in different orders (another CPU's instruction set,
another thread count, rows split across devices) differ by a few units in the last place of their
largest values, so a fixed absolute tolerance that fits values near 1 fails on cell states near 10.
`assert_close` allows `rel` times the largest magnitude in `expected` (never less than `rel`
itself, so arrays near zero are compared as if their scale were 1)."""

import numpy as np


def tolerance(expected, rel: float) -> float:
    """The absolute tolerance for comparing with `expected`: `rel` x its largest magnitude (at least 1)."""
    values = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    return rel * max(1.0, scale)


def assert_close(actual, expected, rel: float, err_msg: str = "") -> None:
    """Every element of `actual` within `tolerance(expected, rel)` of `expected`."""
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance(expected, rel), err_msg=err_msg)
