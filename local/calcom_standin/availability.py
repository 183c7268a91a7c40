"""Time helpers and the slot arithmetic of the Cal.com stand-in (pure functions, no state).

Everything is computed on aware UTC datetimes; members' working hours are turned into UTC
intervals day by day with zoneinfo, so a DST change moves the UTC instant and keeps the local
clock time (09:00 stays 09:00 local, the offset changes from +01:00 to +02:00).

Slot grid (what Cal.com does, simplified):
- the grid of an event type is built from the hosts' working ranges: round robin = the union of
  the RR hosts' ranges (intersected with the fixed hosts' ranges if there are fixed hosts),
  collective = the intersection of all hosts' ranges;
- in each range, slots start at the range start and step by ``slotInterval`` or, when that is
  null (the default), by the event length; a slot must end inside its range;
- a slot is offered only if every fixed host is free for the whole slot and, with round-robin
  hosts, at least one RR host works and is free for the whole slot (so a merged RR range never
  offers a slot that no single host can take);
- existing bookings are subtracted per slot (they do not shift the grid), whatever event type
  they belong to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[datetime, datetime]  # [start, end), aware UTC

_ISO_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII | re.IGNORECASE,
)
_UTC_SUFFIX_RE = re.compile(r"(?:Z|[+-]00(?::?00)?)$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Parsing and formatting


def zone(name: object) -> ZoneInfo | None:
    """A ZoneInfo for a valid IANA name, else None."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def is_date_only(value: str) -> bool:
    return len(value) == 10


def parse_iso(value: object) -> datetime | None:
    """An ISO 8601 date or date-time as aware UTC; a value without an offset is read as UTC
    (as Cal.com's servers do). None when it does not parse."""
    if not isinstance(value, str) or not _ISO_RE.fullmatch(value):
        return None
    text = value.replace(" ", "T")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    # Python < 3.11 quirks are irrelevant (3.12); trim nanoseconds to microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if not 1970 <= parsed.year <= 9000:
        return None
    return parsed


def parse_utc_instant(value: object) -> datetime | None:
    """A date-time that is explicitly UTC (``Z`` or ``+00:00``), as ``start`` of a booking must be.

    Stricter than Cal.com, which converts other offsets: a non-UTC start is a client bug here."""
    if not isinstance(value, str) or is_date_only(value) or not _UTC_SUFFIX_RE.search(value):
        return None
    return parse_iso(value)


def iso_ms_z(value: datetime) -> str:
    """``2025-06-03T14:00:00.000Z`` (what Cal.com's REST API prints)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_s_z(value: datetime) -> str:
    """``2025-06-03T14:00:00Z`` (what Cal.com's webhooks print for start/end)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_in_zone(value: datetime, zone_name: str | None) -> str:
    """Luxon's ``toISO()`` after ``setZone(zone)``: milliseconds, ``Z`` for UTC itself, otherwise
    the zone's offset at that instant (``2025-06-03T16:00:00.000+02:00``)."""
    if zone_name is None or zone_name.upper() in ("UTC", "ETC/UTC", "GMT", "Z"):
        return iso_ms_z(value)
    tz = ZoneInfo(zone_name)
    return value.astimezone(tz).isoformat(timespec="milliseconds")


def utc_offset_minutes(value: datetime, zone_name: str) -> int:
    offset = value.astimezone(ZoneInfo(zone_name)).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def parse_hhmm(value: object) -> int:
    """``"09:00"`` -> 540 minutes after midnight; ``"24:00"`` allowed as the end of the day."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value):
        raise ValueError(f"time must look like HH:MM, got {value!r}")
    hours, minutes = (int(part) for part in value.split(":"))
    total = hours * 60 + minutes
    if minutes > 59 or total > 24 * 60:
        raise ValueError(f"invalid time {value!r}")
    return total


def local_instant(day: date, minute_of_day: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a day in a zone (24:00 = next day's 00:00).

    A wall time inside a spring-forward gap resolves with the offset before the change
    (zoneinfo's fold=0), which is what a calendar does with "02:30" on that day."""
    if minute_of_day >= 24 * 60:
        day = day + timedelta(days=1)
        minute_of_day -= 24 * 60
    local = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=tz)
    return local.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Working hours


def cal_weekday(day: date) -> int:
    """Cal.com / JavaScript numbering: 0 = Sunday, 1 = Monday ... 6 = Saturday."""
    return (day.weekday() + 1) % 7


@dataclass
class WorkingHours:
    """A member's weekly schedule in their own time zone, plus per-date overrides."""

    time_zone: str
    weekly: list[tuple[frozenset[int], int, int]] = field(default_factory=list)  # days, start, end
    overrides: dict[date, list[tuple[int, int]]] = field(default_factory=dict)  # [] = day off

    def ranges_for(self, day: date) -> list[tuple[int, int]]:
        if day in self.overrides:
            return list(self.overrides[day])
        weekday = cal_weekday(day)
        return [(start, end) for days, start, end in self.weekly if weekday in days]

    def intervals(self, window_start: datetime, window_end: datetime) -> list[Interval]:
        """UTC working intervals of every local day touching the window (not clipped, so the
        slot grid stays aligned to the start of the working range)."""
        tz = ZoneInfo(self.time_zone)
        first = window_start.astimezone(tz).date() - timedelta(days=1)
        last = window_end.astimezone(tz).date() + timedelta(days=1)
        out: list[Interval] = []
        day = first
        while day <= last:
            for start, end in self.ranges_for(day):
                a, b = local_instant(day, start, tz), local_instant(day, end, tz)
                if b > a and b > window_start - timedelta(days=1) and a < window_end + timedelta(days=1):
                    out.append((a, b))
            day += timedelta(days=1)
        return merge(out)


def parse_working_hours(time_zone: str, weekly: object, overrides: object = None) -> WorkingHours:
    """Fixture schema: ``[{"days": [1, 2, 3], "start": "09:00", "end": "18:00"}, ...]`` with days
    0/7 = Sunday, 1 = Monday ... 6 = Saturday; overrides ``[{"date": "2026-03-30",
    "ranges": [{"start": "10:00", "end": "12:00"}]}]`` (empty ranges = not working that day)."""
    if zone(time_zone) is None:
        raise ValueError(f"invalid time zone {time_zone!r}")
    hours = WorkingHours(time_zone=time_zone)
    for item in weekly or []:
        if not isinstance(item, dict):
            raise ValueError(f"working_hours items must be objects, got {item!r}")
        days = frozenset(int(d) % 7 for d in item.get("days", []))
        hours.weekly.append((days, parse_hhmm(item.get("start")), parse_hhmm(item.get("end"))))
    for item in overrides or []:
        if not isinstance(item, dict):
            raise ValueError(f"date_overrides items must be objects, got {item!r}")
        day = date.fromisoformat(str(item["date"]))
        hours.overrides[day] = [
            (parse_hhmm(r.get("start")), parse_hhmm(r.get("end"))) for r in item.get("ranges", [])
        ]
    return hours


# ---------------------------------------------------------------------------------------------
# Interval arithmetic


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted union; touching intervals are joined."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    a, b = merge(a), merge(b)
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def contains(intervals: list[Interval], start: datetime, end: datetime) -> bool:
    return any(a <= start and end <= b for a, b in intervals)


def overlaps(intervals: Iterable[Interval], start: datetime, end: datetime) -> bool:
    return any(a < end and start < b for a, b in intervals)


# ---------------------------------------------------------------------------------------------
# Hosts and slots


@dataclass
class HostWindow:
    """One host's working intervals and busy intervals (bookings) around a window."""

    user_id: int
    working: list[Interval]
    busy: list[Interval]

    def free(self, start: datetime, end: datetime, before: timedelta, after: timedelta) -> bool:
        return contains(self.working, start, end) and not overlaps(self.busy, start - before, end + after)


@dataclass
class SlotPlan:
    """Who must be free (fixed) and who may take the slot (round robin)."""

    fixed: list[HostWindow]
    rr: list[HostWindow]
    duration: timedelta
    interval: timedelta
    before: timedelta = timedelta(0)
    after: timedelta = timedelta(0)
    rr_required: bool = False  # the event type has RR hosts: one of them must take the slot

    def grid_ranges(self) -> list[Interval]:
        if not self.fixed and not self.rr:
            return []
        ranges: list[Interval] | None = None
        for host in self.fixed:
            ranges = host.working if ranges is None else intersect(ranges, host.working)
        if self.rr_required:
            union = merge(iv for host in self.rr for iv in host.working)
            ranges = union if ranges is None else intersect(ranges, union)
        return ranges or []

    def grid(self) -> Iterator[datetime]:
        step = self.interval if self.interval > timedelta(0) else self.duration
        for start, end in self.grid_ranges():
            t = start
            while t + self.duration <= end:
                yield t
                t += step

    def free_rr(self, start: datetime) -> list[HostWindow]:
        end = start + self.duration
        return [h for h in self.rr if h.free(start, end, self.before, self.after)]

    def fixed_free(self, start: datetime) -> bool:
        end = start + self.duration
        return all(h.free(start, end, self.before, self.after) for h in self.fixed)

    def available(self, start: datetime) -> bool:
        if not self.fixed_free(start):
            return False
        return not self.rr_required or bool(self.free_rr(start))


def ceil_seconds(value: float) -> int:
    return max(0, math.ceil(value))
