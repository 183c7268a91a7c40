"""An iCalendar file (RFC 5545) holding every segment of one appointment, for its confirmation
e-mail (iTIP methods of RFC 5546: REQUEST for a booking or a reschedule, CANCEL for a cancel).

One VEVENT per segment, each with a UID stable for the appointment's life ("<appointment>-<segment
key>@calbridge"): a calendar that imported the booking moves the same entries when a reschedule
arrives with a higher SEQUENCE, and removes them on the cancel. RFC 5545 gives each VEVENT its own
UID (one UID twice would be a recurrence instance, needing a RECURRENCE-ID). Times are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PRODID = "-//calbridge//confirmations//EN"
UID_DOMAIN = "calbridge"
#: RFC 5545 3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break.
MAX_LINE_OCTETS = 75
CRLF = "\r\n"

Method = Literal["REQUEST", "CANCEL"]


class CalendarEntry(BaseModel):
    """One segment as a VEVENT."""

    model_config = ConfigDict(frozen=True)

    uid: str = Field(min_length=1)
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    location: str | None = None


class Party(BaseModel):
    """The organizer (the salon) or the attendee (the caller): a name and an e-mail address."""

    model_config = ConfigDict(frozen=True)

    name: str
    email: str


def segment_uid(appointment_id: str, segment_key: str) -> str:
    return f"{appointment_id}-{segment_key}@{UID_DOMAIN}"


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma escaped, line breaks as \\n."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def _param(value: str) -> str:
    """A parameter value (RFC 5545 3.2): quoted, as a name may hold ':', ';' or ','; DQUOTE and
    control characters cannot appear in one at all."""
    cleaned = "".join(ch for ch in value if ch != '"' and (ch == "\t" or ord(ch) >= 0x20))
    return f'"{cleaned}"'


def fold(line: str) -> str:
    """A content line folded at 75 octets (RFC 5545 3.1): CRLF and one space before each
    continuation, never inside a UTF-8 character; the space counts towards its line's 75."""
    parts: list[str] = []
    current, size, limit = "", 0, MAX_LINE_OCTETS
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, MAX_LINE_OCTETS - 1
        current += ch
        size += width
    parts.append(current)
    return (CRLF + " ").join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def build_calendar(
    method: Method,
    entries: Sequence[CalendarEntry],
    *,
    sequence: int,
    organizer: Party,
    attendee: Party,
    stamp: datetime,
) -> str:
    """The whole file, CRLF line ends, every line folded; `sequence` counts the appointment's
    revisions (0 when booked, one more per reschedule, one more again for its cancel)."""
    if not entries:
        raise ValueError("a calendar needs at least one entry")
    status = "CANCELLED" if method == "CANCEL" else "CONFIRMED"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
    ]
    for entry in entries:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{entry.uid}",
            f"DTSTAMP:{_utc(stamp)}",
            f"DTSTART:{_utc(entry.start)}",
            f"DTEND:{_utc(entry.end)}",
            f"SEQUENCE:{sequence}",
            f"STATUS:{status}",
            f"SUMMARY:{escape_text(entry.summary)}",
        ]
        if entry.description:
            lines.append(f"DESCRIPTION:{escape_text(entry.description)}")
        if entry.location:
            lines.append(f"LOCATION:{escape_text(entry.location)}")
        lines += [
            f"ORGANIZER;CN={_param(organizer.name)}:mailto:{organizer.email}",
            f"ATTENDEE;CN={_param(attendee.name)};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE"
            f":mailto:{attendee.email}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)
