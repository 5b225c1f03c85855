"""How a person reads a time, the one owner of it for the pages and the CLI (the API keeps
ISO 8601 for machines):

- `absolute(moment)`: `2026-12-06 01:50:40 UTC`, to the second, in UTC, the zone named;
- `age(seconds)`: a span, `45s`, `2m 12s`, `3h 02m`, `2d 04h` (lists show ages with the
  absolute time on hover).

Both accept a missing value and answer DASH. `absolute` takes an aware or a naive datetime (naive
is UTC: every stored time is) or an ISO 8601 string (what the API sends)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

DASH = "\u2014"
DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DURATION_PART = re.compile(r"(\d+)([dhms])")
ABSOLUTE_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def as_moment(value: datetime | str | None) -> datetime | None:
    """`value` as an aware UTC datetime; naive datetimes are UTC, strings are ISO 8601 (a
    trailing `Z` included). None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def absolute(value: datetime | str | None, missing: str = DASH) -> str:
    """`2026-12-06 01:50:40 UTC`; `missing` when there is no time."""
    moment = as_moment(value)
    return moment.strftime(ABSOLUTE_FORMAT) if moment else missing


def age(seconds: float | None, missing: str = DASH) -> str:
    """`45s`, `12m 05s`, `3h 02m`, `2d 04h`; `missing` for None or a non-finite number.
    Negative spans (clocks a little apart) read as 0s."""
    if seconds is None or not math.isfinite(seconds):
        return missing
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def age_since(value: datetime | str | None, now: datetime, missing: str = DASH) -> str:
    """The age of `value` at `now` (an aware datetime)."""
    moment = as_moment(value)
    return age((now - moment).total_seconds(), missing) if moment else missing


def parse_duration(text: str, units: str = "dhms", bare: str | None = None) -> timedelta:
    """A duration written as numbers with units among `units` ("15m", "1h30m", "30d"), or a bare
    number in the unit `bare` when given ("900" with bare "s"); ValueError otherwise."""
    text = text.strip().lower()
    if bare is not None and text.isdigit():
        text += bare
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text or any(u not in units for _, u in parts):
        shown = ", ".join(f"a number and {u}" for u in units)
        raise ValueError(f"{text!r} is not a duration: {shown}" + (f", or a bare number ({bare})" if bare else ""))
    try:
        return sum((timedelta(**{DURATION_UNITS[u]: int(n)}) for n, u in parts), timedelta())
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None
