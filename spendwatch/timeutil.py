"""Parsing of the few time shapes users type: durations ("90s", "15m", "1h", "3d", "2w"), instants
(`YYYY-MM-DD` or RFC 3339) and clock times ("08:00").

Everything returned is timezone-aware UTC, because the store and every provider API speak UTC; a
naive datetime anywhere in spendwatch is a bug.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

UTC = UTC
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'1h' -> timedelta(hours=1). Raises ValueError with the accepted shapes."""
    m = _DURATION.match(str(text))
    if not m or int(m.group(1)) == 0:
        raise ValueError(f'not a duration ("{text}"); use e.g. "30s", "15m", "1h", "3d", "1w"')
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def format_duration(delta: timedelta) -> str:
    """The inverse of parse_duration for whole units, used in plans and messages."""
    secs = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0 and secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def parse_instant(text: str) -> datetime:
    """`YYYY-MM-DD` (midnight UTC) or RFC 3339 (offset required unless it ends in Z; naive means UTC)."""
    s = str(text).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            dt = datetime.combine(date.fromisoformat(s), time(0), UTC)
        else:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace(" ", "T", 1))
            dt = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise ValueError(f'not a date or RFC 3339 time ("{text}"); use 2026-01-31 or 2026-01-31T12:00:00Z') from None
    except OverflowError:  # year 1 with a positive offset
        dt = datetime.min.replace(tzinfo=UTC)
    from .limits import time_problem

    if time_problem(dt, end_inclusive=True):  # year 1 or 9999 would overflow "the day before" / "+ 1 period"
        raise ValueError(f'"{text}" is outside the supported time range (2000-01-01 to 2100-01-01)')
    return dt


def parse_clock(text: str) -> time:
    """'08:00' -> time(8, 0)."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f'not a clock time ("{text}"); use HH:MM, e.g. "08:00"')
    return time(int(m.group(1)), int(m.group(2)))


def utcnow() -> datetime:
    """The one clock; tests pass explicit times instead of patching this."""
    return datetime.now(UTC)


def floor_to(dt: datetime, step: timedelta) -> datetime:
    """Floor an aware datetime to a multiple of `step` since the Unix epoch (UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((dt - epoch) // step) * step


def day_start(dt: datetime) -> datetime:
    """Midnight UTC of the day holding dt."""
    return datetime.combine(dt.astimezone(UTC).date(), time(0), UTC)
