"""The one time format a person reads: absolute times with the zone, ages for lists."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared import timefmt


def test_absolute_names_the_zone_to_the_second():
    assert timefmt.absolute(datetime(2026, 12, 6, 1, 50, 40, 11505, tzinfo=UTC)) == "2026-12-06 01:50:40 UTC"


def test_absolute_reads_naive_times_as_utc_and_converts_other_zones():
    assert timefmt.absolute(datetime(2026, 12, 6, 1, 50, 40)) == "2026-12-06 01:50:40 UTC"
    paris = timezone(timedelta(hours=1))
    assert timefmt.absolute(datetime(2026, 12, 6, 2, 50, 40, tzinfo=paris)) == "2026-12-06 01:50:40 UTC"


@pytest.mark.parametrize(
    "text", ["2026-12-06T01:50:40.011505Z", "2026-12-06T01:50:40+00:00", "2026-12-06T02:50:40+01:00"]
)
def test_absolute_reads_the_apis_iso_strings(text):
    assert timefmt.absolute(text) == "2026-12-06 01:50:40 UTC"


def test_missing_times_read_as_the_dash_or_what_the_caller_asks():
    assert timefmt.absolute(None) == timefmt.DASH
    assert timefmt.absolute("", missing="-") == "-"
    assert timefmt.age(None) == timefmt.DASH
    assert timefmt.age(float("nan"), missing="-") == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (-3, "0s"), (45, "45s"), (132, "2m 12s"), (3600 * 3 + 120, "3h 02m"), (86400 * 2 + 3600 * 4, "2d 04h")],
)
def test_age(seconds, text):
    assert timefmt.age(seconds) == text


def test_age_since():
    now = datetime(2026, 12, 6, 1, 52, 52, tzinfo=UTC)
    assert timefmt.age_since("2026-12-06T01:50:40Z", now) == "2m 12s"
    assert timefmt.age_since(None, now) == timefmt.DASH


@pytest.mark.parametrize(
    ("text", "units", "bare", "seconds"),
    [
        ("15m", "dhms", None, 900),
        ("1h30m", "dhms", None, 5400),
        (" 2D ", "dhm", None, 172800),
        ("900", "hms", "s", 900),
    ],
)
def test_parse_duration(text, units, bare, seconds):
    assert timefmt.parse_duration(text, units, bare=bare) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "units"), [("15", "dhms"), ("5s", "dhm"), ("m", "dhms"), ("1.5h", "dhms"), ("", "s")])
def test_what_is_not_a_duration_is_a_value_error(text, units):
    with pytest.raises(ValueError, match="is not a duration"):
        timefmt.parse_duration(text, units)


def test_a_duration_too_long_for_a_timedelta_is_a_value_error():
    with pytest.raises(ValueError, match="too long"):
        timefmt.parse_duration("9" * 20 + "d")
