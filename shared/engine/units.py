"""Losses in nats and bits: Keras reports cross-entropy in nats per character, people read bits per
character. The one conversion, used by the engine, the API, the pages and the CLI."""

from __future__ import annotations

import math

LN2 = math.log(2)


def bits(nats: float | None) -> float | None:
    """A loss in nats per character as bits per character (None, infinite or NaN: None)."""
    return None if nats is None or not math.isfinite(nats) else nats / LN2
