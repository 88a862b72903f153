"""Prometheus durations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertreflex.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("0s", 0),
        ("500ms", 0.5),
        ("30s", 30),
        ("10m", 600),
        ("1h30m", 5400),
        ("1d", 86400),
        ("2w", 1209600),
        ("1y", 31536000),
        ("1h0m5s250ms", 3605.25),
    ],
)
def test_valid(text: str, seconds: float) -> None:
    """Every unit, and combinations from largest to smallest."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "1m1h", "1.5s", "-1s", "1s1s", "s"])
def test_invalid(text: str) -> None:
    """Malformed durations are refused with a message quoting them."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(0, 10**12))
def test_round_trip(ms: int) -> None:
    """format_duration is the inverse of parse_duration for whole milliseconds."""
    assert round(parse_duration(format_duration(ms / 1000)) * 1000) == ms
