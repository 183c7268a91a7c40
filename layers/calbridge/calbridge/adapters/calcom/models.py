"""Typed shapes of the Cal.com API v2 payloads calbridge sends and reads.

Field names are snake_case in Python and camelCase on the wire (alias generator). Response models
are lenient on purpose (docs/reference/calcom.md §0): unknown keys are ignored, `null` counts as absent,
optional keys may be missing, and naive timestamps are read as UTC. Request models are strict,
because Cal.com silently strips what it does not know and answers a bad booking body with a 400 that
looks exactly like "slot taken".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

# --- shared pieces ---------------------------------------------------------------------------


def utc_z(moment: datetime) -> str:
    """An aware datetime as the ISO-8601 UTC string Cal.com expects: `2025-06-03T14:00:00Z`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime so the instant is unambiguous")
    timespec = "milliseconds" if moment.microsecond else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _assume_utc(moment: datetime) -> datetime:
    """Cal.com sends UTC `...Z` strings; should an offset ever be missing, read it as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]
"""A timestamp read from Cal.com: always aware (keeps the offset Cal.com sent)."""


class _CalcomModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, alias_generator=to_camel)


class _Response(_CalcomModel):
    """Base of everything parsed from Cal.com: `null` means the same as a missing key."""

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class _Request(_CalcomModel):
    """Base of request bodies; `body()` is exactly what goes on the wire."""

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- bookings: requests --------------------------------------------------------------------

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


def _check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Cal.com's own limits (§2.1), checked here so a violation is not mistaken for a taken slot."""
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValueError(f"metadata allows at most {METADATA_MAX_KEYS} keys, got {len(metadata)}")
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise ValueError(f"metadata key {key!r} is longer than {METADATA_MAX_KEY_LENGTH} characters")
        if len(value) > METADATA_MAX_VALUE_LENGTH:
            raise ValueError(
                f"metadata value of {key!r} is longer than {METADATA_MAX_VALUE_LENGTH} characters"
            )
    return metadata


BookingMetadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]


class AttendeeInput(_Request):
    """The person booking. Cal.com needs an e-mail or a phone number (E.164) to reach them."""

    name: str = Field(min_length=1)
    time_zone: str = Field(min_length=1)
    email: str | None = None
    phone_number: str | None = None
    language: str = "en"

    @model_validator(mode="after")
    def _reachable(self) -> AttendeeInput:
        if not self.email and not self.phone_number:
            raise ValueError("attendee needs an email or a phone_number")
        return self


class CreateBookingRequest(_Request):
    """Body of `POST /v2/bookings`. Put your correlation id in `metadata` (there is no idempotency key).

    No `routing`: it describes a routing form's response (Cal.com requires its `responseId`), so it
    cannot pin a host; the event type does (docs/adr/0013-one-event-type-per-staff-member.md)."""

    start: AwareDatetime
    event_type_id: int
    attendee: AttendeeInput
    metadata: BookingMetadata = Field(default_factory=dict)
    length_in_minutes: int | None = Field(default=None, ge=1)
    booking_fields_responses: dict[str, Any] | None = None

    @field_serializer("start")
    def _start_as_utc(self, start: datetime) -> str:
        return utc_z(start)


class RescheduleBookingRequest(_Request):
    """Body of `POST /v2/bookings/{uid}/reschedule`."""

    start: AwareDatetime
    rescheduling_reason: str | None = None
    rescheduled_by: str | None = None

    @field_serializer("start")
    def _start_as_utc(self, start: datetime) -> str:
        return utc_z(start)


# --- bookings: responses -------------------------------------------------------------------


class BookingHost(_Response):
    """The organizer; `id` is the string "unknown" when the booking has no user."""

    id: int | str
    name: str | None = None
    email: str | None = None
    display_email: str | None = None
    username: str | None = None
    time_zone: str | None = None


class BookingAttendee(_Response):
    """A booker, or a co-host on collective / fixed-host round-robin bookings (§7)."""

    name: str | None = None
    email: str | None = None
    display_email: str | None = None
    time_zone: str | None = None
    language: str | None = None
    phone_number: str | None = None
    absent: bool | None = None


class BookingEventType(_Response):
    id: int
    slug: str | None = None


class Booking(_Response):
    """A booking (`BookingOutput_2024_08_13`). `status` is accepted | pending | cancelled | rejected."""

    id: int
    uid: str
    title: str = ""
    description: str | None = None
    status: str
    start: UtcDatetime
    end: UtcDatetime
    duration: int | None = None
    event_type_id: int | None = None
    event_type: BookingEventType | None = None
    hosts: list[BookingHost] = Field(default_factory=list)
    attendees: list[BookingAttendee] = Field(default_factory=list)
    guests: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    booking_fields_responses: dict[str, Any] = Field(default_factory=dict)
    location: str | None = None
    meeting_url: str | None = None
    absent_host: bool | None = None
    cancellation_reason: str | None = None
    cancelled_by_email: str | None = None
    rescheduling_reason: str | None = None
    rescheduled_by_email: str | None = None
    rescheduled_from_uid: str | None = None
    rescheduled_to_uid: str | None = None
    recurring_booking_uid: str | None = None
    ics_uid: str | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None

    @property
    def organizer(self) -> BookingHost | None:
        """`hosts[0]` is the organizer; REST bookings have no `organizer` field (§2.2)."""
        return self.hosts[0] if self.hosts else None

    @property
    def resolved_event_type_id(self) -> int | None:
        """`eventType.id`, falling back to the deprecated top-level `eventTypeId`."""
        return self.event_type.id if self.event_type else self.event_type_id


class Pagination(_Response):
    """Offset pagination of `GET /v2/bookings`; the docs and the code spell one key differently."""

    items_returned: int | None = Field(
        default=None, validation_alias=AliasChoices("itemsReturned", "returnedItems", "items_returned")
    )
    total_items: int | None = None
    items_per_page: int | None = None
    remaining_items: int | None = None
    current_page: int | None = None
    total_pages: int | None = None
    has_next_page: bool | None = None
    has_previous_page: bool | None = None


# --- slots ---------------------------------------------------------------------------------


class Slot(_Response):
    """One bookable start, in the offset of the `timeZone` asked for (convert with `utc_z`)."""

    start: UtcDatetime
    end: UtcDatetime | None = None
    seats_booked: int | None = None
    seats_remaining: int | None = None
    seats_total: int | None = None
    booking_uid: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_string(cls, data: Any) -> Any:
        """`format=time` on some versions lists bare start strings; accept them too."""
        return {"start": data} if isinstance(data, str) else data


class AvailableSlots(_Response):
    """Slots per local date. Days without slots are dropped: Cal.com sends `[]` or omits them."""

    days: dict[date, list[Slot]] = Field(default_factory=dict)

    @field_validator("days", mode="before")
    @classmethod
    def _drop_empty_days(cls, days: Any) -> Any:
        if isinstance(days, dict):
            return {day: slots for day, slots in days.items() if slots}
        return days

    @property
    def slots(self) -> list[Slot]:
        """Every slot, earliest first."""
        return sorted((slot for day in self.days.values() for slot in day), key=lambda slot: slot.start)


# --- teams and memberships -----------------------------------------------------------------


class MembershipUser(_Response):
    """The member's profile. It has no `id`: use `TeamMembership.user_id` (§4.2)."""

    email: str | None = None
    username: str | None = None
    name: str | None = None
    avatar_url: str | None = None
    bio: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class TeamMembership(_Response):
    """`role` is MEMBER | ADMIN | OWNER; pending invitations have `accepted=False`."""

    id: int
    user_id: int
    team_id: int
    accepted: bool = False
    role: str | None = None
    disable_impersonation: bool | None = None
    user: MembershipUser = Field(default_factory=MembershipUser)


# --- event types ---------------------------------------------------------------------------


class SchedulingType(StrEnum):
    ROUND_ROBIN = "roundRobin"
    COLLECTIVE = "collective"
    MANAGED = "managed"


class HostPriority(StrEnum):
    LOWEST = "lowest"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    HIGHEST = "highest"


_SCHEDULING_TYPES = {kind.value.lower(): kind for kind in SchedulingType}
_PRIORITIES = list(HostPriority)


def _scheduling_type(value: Any) -> Any:
    """Accept `roundRobin`, `ROUND_ROBIN`, `round_robin` alike (Cal.com accepts both enums on input)."""
    if isinstance(value, str):
        return _SCHEDULING_TYPES.get(value.replace("_", "").lower(), value)
    return value


def _priority(value: Any) -> Any:
    """Accept the names in any case and the stored numbers 0..4 (lowest..highest)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(_PRIORITIES):
        return _PRIORITIES[value]
    return value.lower() if isinstance(value, str) else value


SchedulingTypeField = Annotated[SchedulingType, BeforeValidator(_scheduling_type)]
HostPriorityField = Annotated[HostPriority, BeforeValidator(_priority)]


class TeamEventTypeHost(_Response):
    """A host of a team event type. `mandatory`/`priority` only matter for round robin."""

    user_id: int
    mandatory: bool | None = None
    priority: HostPriorityField | None = None
    name: str | None = None
    username: str | None = None
    avatar_url: str | None = None

    def as_input(self) -> dict[str, Any]:
        """The writable part: Cal.com reads only userId, mandatory and priority."""
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, include={"user_id", "mandatory", "priority"}
        )


class EventTypeTeam(_Response):
    id: int
    slug: str | None = None
    name: str | None = None


class EmailSettings(_CalcomModel):
    """`emailSettings` of a team event type: Cal.com keeps them only for an organization's teams
    (elsewhere it sets both back to false; docs/calcom-emails.md)."""

    disable_emails_to_attendees: bool = False
    disable_emails_to_hosts: bool = False


class TeamEventType(_Response):
    """A team event type (`TeamEventTypeOutput_2024_06_14`); for managed types hosts are child owners."""

    id: int
    title: str = ""
    slug: str = ""
    description: str | None = None
    length_in_minutes: int | None = None
    scheduling_type: SchedulingTypeField | None = None
    hidden: bool = False
    team_id: int | None = None
    owner_id: int | None = None
    parent_event_type_id: int | None = None
    assign_all_team_members: bool | None = None
    reschedule_with_same_round_robin_host: bool | None = None
    slot_interval: int | None = None  # minutes between offered starts; null = the event length
    minimum_booking_notice: int | None = None  # minutes
    email_settings: EmailSettings | None = None
    hosts: list[TeamEventTypeHost] = Field(default_factory=list)
    team: EventTypeTeam | None = None


class _TeamEventTypeWrite(_Request):
    """Fields shared by create and update; `hosts` and `assign_all_team_members` exclude each other."""

    hosts: list[TeamEventTypeHost] | None = None
    assign_all_team_members: bool | None = None
    hidden: bool | None = None
    description: str | None = None
    reschedule_with_same_round_robin_host: bool | None = None
    slot_interval: int | None = Field(default=None, ge=1)  # Cal.com `slotInterval`, minutes
    minimum_booking_notice: int | None = Field(default=None, ge=0)  # minutes; Cal.com's default 120
    email_settings: EmailSettings | None = None

    @field_serializer("hosts")
    def _hosts_as_input(self, hosts: list[TeamEventTypeHost] | None) -> list[dict[str, Any]] | None:
        return None if hosts is None else [host.as_input() for host in hosts]

    @model_validator(mode="after")
    def _hosts_or_everyone(self) -> _TeamEventTypeWrite:
        if self.hosts is not None and self.assign_all_team_members:
            raise ValueError("give hosts or assign_all_team_members, not both")
        return self


class TeamEventTypeCreate(_TeamEventTypeWrite):
    """Body of `POST /v2/teams/{teamId}/event-types`."""

    title: str = Field(min_length=1)
    slug: str = Field(min_length=1)
    length_in_minutes: int = Field(ge=1)
    scheduling_type: SchedulingTypeField


class TeamEventTypeUpdate(_TeamEventTypeWrite):
    """Body of `PATCH /v2/teams/{teamId}/event-types/{id}`: only the fields set (not None) are sent.

    `hosts` REPLACES the whole host list: send every host you want to keep.
    """

    title: str | None = Field(default=None, min_length=1)
    slug: str | None = Field(default=None, min_length=1)
    length_in_minutes: int | None = Field(default=None, ge=1)
    scheduling_type: SchedulingTypeField | None = None


class EventTypeUser(_Response):
    id: int
    name: str | None = None
    username: str | None = None


class UserEventType(_Response):
    """A personal event type (`GET /v2/event-types?username=`); its host is `owner_id` / `users`."""

    id: int
    title: str = ""
    slug: str = ""
    description: str | None = None
    length_in_minutes: int | None = None
    hidden: bool = False
    owner_id: int | None = None
    users: list[EventTypeUser] = Field(default_factory=list)
