"""In-memory state of the Cal.com stand-in: teams, members, team event types and bookings.

All reads and mutations go through :class:`Store` under one re-entrant lock, so two concurrent
creates for the same slot serialise: exactly one wins, the other gets Cal.com's 400.

Error texts are Cal.com's where they are known (see README.md for the evidence); everything the
HTTP layer needs to answer an error is carried by :class:`ApiError`.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.calcom_standin import availability as av

# ---------------------------------------------------------------------------------------------
# Errors and messages

EXCEPTION_CODES = {
    400: "BadRequestException",
    401: "UnauthorizedException",
    403: "ForbiddenException",
    404: "NotFoundException",
    409: "ConflictException",
    422: "UnprocessableEntityException",
    429: "ThrottlerException",
    500: "InternalServerErrorException",
    502: "BadGatewayException",
    503: "ServiceUnavailableException",
    504: "GatewayTimeoutException",
}

MSG_PAST = "Attempting to book a meeting in the past."
MSG_OUT_OF_BOUNDS = (
    "The event type can't be booked at the \"start\" time provided. This could be because it's too soon "
    "(violating the minimum booking notice) or too far in the future (outside the event's scheduling "
    "window). Try fetching available slots first using the GET /v2/slots endpoint and then make a booking "
    'with "start" time equal to one of the available slots: https://cal.com/docs/api-reference/v2/slots'
)
MSG_HOSTS_UNAVAILABLE = "One of the hosts either already has booking at this time or is not available"
MSG_USER_UNAVAILABLE = "User either already has booking at this time or is not available"
MSG_SINGLE_LENGTH = (
    "Can't specify 'lengthInMinutes' because event type does not have multiple possible lengths. "
    "Please, remove the 'lengthInMinutes' field from the request."
)
MSG_CANCEL_ENDED = "Cannot cancel a booking that has already ended"
MSG_SLUG_EXISTS = "Team event type with this slug already exists"

PRIORITIES = {"lowest": 0, "low": 1, "medium": 2, "high": 3, "highest": 4}
SCHEDULING_TYPES = {
    "roundRobin": "roundRobin",
    "ROUND_ROBIN": "roundRobin",
    "collective": "collective",
    "COLLECTIVE": "collective",
    "managed": "managed",
    "MANAGED": "managed",
}

# Output key order of BookingOutput_2024_08_13; absent keys are omitted.
BOOKING_KEYS = (
    "id", "uid", "title", "description", "hosts", "status", "cancellationReason", "cancelledByEmail",
    "reschedulingReason", "rescheduledByEmail", "rescheduledFromUid", "rescheduledToUid", "start", "end",
    "duration", "eventTypeId", "eventType", "meetingUrl", "location", "absentHost", "createdAt", "updatedAt",
    "metadata", "rating", "icsUid", "attendees", "guests", "bookingFieldsResponses",
)  # fmt: skip

_BASE58 = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


class ApiError(Exception):
    """An error answer. ``raw`` = Nest's bare ``{"statusCode","message"}`` body instead of the envelope;
    ``details`` = extra ``error.details`` (the global ValidationPipe's ``errors``)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        raw: bool = False,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or EXCEPTION_CODES.get(status, "HttpException")
        self.raw = raw
        self.details = details


def pipe_error(errors: list[dict[str, Any]]) -> ApiError:
    """Cal.com's global ValidationPipe: a generic message, the class-validator errors in details
    (apps/api/v2/src/bootstrap.ts: exceptionFactory -> BadRequestException({errors}))."""
    return ApiError(400, "Bad Request Exception", details={"errors": errors})


def constraint(prop: str, key: str, message: str) -> dict[str, Any]:
    return {"property": prop, "children": [], "constraints": {key: message}}


# ---------------------------------------------------------------------------------------------
# Clock


class Clock:
    """Real UTC time, or a frozen instant set through the control API (for deterministic tests)."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            frozen = self._frozen
        return frozen if frozen is not None else datetime.now(UTC)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self, instant: datetime | None) -> None:
        with self._lock:
            self._frozen = instant.astimezone(UTC) if instant is not None else None

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is None:
                raise ValueError("the clock is not frozen; set {'now': ...} first")
            self._frozen = self._frozen + timedelta(seconds=seconds)


# ---------------------------------------------------------------------------------------------
# Model


def _pick(raw: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in raw and raw[name] is not None:
            return raw[name]
    return default


@dataclass
class Member:
    """A user and their membership of one team (the stand-in's users belong to exactly one team)."""

    membership_id: int
    user_id: int
    team_id: int
    email: str
    name: str
    username: str
    role: str
    accepted: bool
    time_zone: str
    hours: av.WorkingHours
    avatar_url: str | None = None
    bio: str | None = None
    metadata: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def host_snapshot(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "name": self.name,
            "email": self.email,
            "displayEmail": self.email,
            "username": self.username,
            "timeZone": self.time_zone,
        }


def parse_member(raw: dict[str, Any], default_membership_id: int, team_id: int) -> Member:
    if not isinstance(raw, dict) or _pick(raw, "user_id", "userId") is None:
        raise ValueError(f"a member needs user_id: {raw!r}")
    email = str(_pick(raw, "email", default=""))
    time_zone = str(_pick(raw, "time_zone", "timeZone", default="UTC"))
    hours = av.parse_working_hours(
        time_zone, _pick(raw, "working_hours", "workingHours", default=[]), raw.get("date_overrides")
    )
    return Member(
        membership_id=int(_pick(raw, "membership_id", "membershipId", default=default_membership_id)),
        user_id=int(_pick(raw, "user_id", "userId")),
        team_id=team_id,
        email=email,
        name=str(_pick(raw, "name", default=email.split("@")[0])),
        username=str(_pick(raw, "username", default=email.split("@")[0])),
        role=_role(raw),
        accepted=bool(_pick(raw, "accepted", default=True)),
        time_zone=time_zone,
        hours=hours,
        avatar_url=_pick(raw, "avatar_url", "avatarUrl"),
        bio=raw.get("bio"),
        metadata=raw.get("metadata"),
        raw=copy.deepcopy(raw),
    )


# Cal.com's membership roles, highest first (TEAM_ROLES in apps/api/v2/src/lib/roles/constants.ts
# without the TEAM_ prefix; RolesGuard's hasMinimumRole compares indexes in this order).
TEAM_ROLES = ("OWNER", "ADMIN", "MEMBER")


def _role(raw: dict[str, Any]) -> str:
    role = str(_pick(raw, "role", default="MEMBER")).upper()
    if role not in TEAM_ROLES:
        raise ValueError(f"role must be one of {list(TEAM_ROLES)}: {role!r}")
    return role


def _check_key_format(api_key: Any) -> None:
    if not isinstance(api_key, str) or not api_key.startswith("cal_") or len(api_key) < 12:
        raise ValueError("api_key: a Cal.com key starts with cal_ (docs/reference/calcom.md §1.1)")


def parse_team(raw: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("id") is None:
        raise ValueError(f"a team needs an id: {raw!r}")
    return {
        "id": int(raw["id"]),
        "slug": str(raw.get("slug") or slugify(str(raw.get("name", "")))),
        "name": str(raw.get("name", "")),
        # An organization's sub-team has a parent (Cal.com honours emailSettings only there).
        "parent_id": _pick(raw, "parent_id", "parentId"),
    }


@dataclass
class Host:
    user_id: int
    mandatory: bool = False
    priority: str = "medium"


@dataclass
class EventType:
    id: int
    team_id: int
    title: str
    slug: str
    length: int
    scheduling_type: str  # "roundRobin" | "collective"
    hosts: list[Host]
    hidden: bool = False
    description: str = ""
    length_options: list[int] | None = None
    assign_all_team_members: bool = False
    # Minutes; Cal.com's column default (packages/prisma/schema.prisma: `minimumBookingNotice Int
    # @default(120)`), which API-created event types get when the body does not set it.
    minimum_booking_notice: int = 120
    before_event_buffer: int = 0
    after_event_buffer: int = 0
    slot_interval: int | None = None
    reschedule_with_same_round_robin_host: bool = False
    locations: list[dict[str, Any]] = field(
        default_factory=lambda: [{"type": "integration", "integration": "cal-video"}]
    )
    booking_fields: list[dict[str, Any]] = field(default_factory=list)
    # Hidden (ApiHideProperty) in Cal.com's inputs: rrHostSubsetIds only filter hosts when this is
    # set and the event type is round robin (findQualifiedHostsWithDelegationCredentials.ts).
    rr_host_subset_enabled: bool = False
    # `emailSettings` as Cal.com keeps it (metadata.disableStandardEmails.all), None = never set.
    email_settings: dict[str, bool] | None = None

    @property
    def hosts_emails_off(self) -> bool:
        return bool(self.email_settings and self.email_settings.get("disableEmailsToHosts"))

    @property
    def attendee_emails_off(self) -> bool:
        return bool(self.email_settings and self.email_settings.get("disableEmailsToAttendees"))


@dataclass
class Booking:
    id: int
    uid: str
    event_type_id: int | None
    event_type_slug: str | None
    title: str
    description: str
    start: datetime
    end: datetime
    organizer: dict[str, Any]  # host snapshot {id, name, email, displayEmail, username, timeZone}
    co_hosts: list[dict[str, Any]]  # other hosts on the booking (stored as attendee rows by Cal.com)
    rr_host_id: int | None  # the round-robin assigned host, if any
    attendee: dict[str, Any]  # the booker {name, email, timeZone, language, phoneNumber?}
    guests: list[str] | None
    metadata: dict[str, Any]
    responses: dict[str, Any]  # custom bookingFieldsResponses sent by the client
    location: str
    created_at: datetime
    status: str = "accepted"
    cancellation_reason: str = ""
    cancelled_by_email: str = ""
    rescheduling_reason: str | None = None
    rescheduled_by_email: str | None = None
    rescheduled_from_uid: str | None = None
    rescheduled_to_uid: str | None = None
    updated_at: datetime | None = None
    team_id: int | None = None

    @property
    def host_user_ids(self) -> list[int]:
        return [self.organizer["id"], *(h["id"] for h in self.co_hosts)]

    @property
    def duration(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def active(self) -> bool:
        return self.status in ("accepted", "pending")

    def attendee_rows(self) -> list[dict[str, Any]]:
        booker = {
            "name": self.attendee["name"],
            "email": self.attendee["email"],
            "displayEmail": self.attendee["email"],
            "timeZone": self.attendee["timeZone"],
            "language": self.attendee.get("language", "en"),
            "absent": False,
        }
        if self.attendee.get("phoneNumber"):
            booker["phoneNumber"] = self.attendee["phoneNumber"]
        rows = [booker]
        for guest in self.guests or []:
            rows.append(
                {
                    "name": "",
                    "email": guest,
                    "displayEmail": guest,
                    "timeZone": self.attendee["timeZone"],
                    "language": "en",
                    "absent": False,
                }
            )
        for host in self.co_hosts:
            rows.append(
                {
                    "name": host["name"],
                    "email": host["email"],
                    "displayEmail": host["email"],
                    "timeZone": host["timeZone"],
                    "language": "en",
                    "absent": False,
                }
            )
        return rows

    def fields_responses(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.attendee["name"],
            "email": self.attendee["email"],
            "displayEmail": self.attendee["email"],
            "guests": list(self.guests or []),
            "location": {"value": "integrations:daily", "optionValue": ""},
        }
        for key, value in self.responses.items():
            out.setdefault(key, value)
        if self.attendee.get("phoneNumber"):
            out["attendeePhoneNumber"] = self.attendee["phoneNumber"]
        if self.rescheduling_reason is not None and self.rescheduled_from_uid:
            out["rescheduledReason"] = self.rescheduling_reason
        return out

    def to_output(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "id": self.id,
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "hosts": [dict(self.organizer)],
            "status": self.status,
            "cancellationReason": self.cancellation_reason,
            "cancelledByEmail": self.cancelled_by_email,
            "start": av.iso_ms_z(self.start),
            "end": av.iso_ms_z(self.end),
            "duration": self.duration,
            "eventTypeId": self.event_type_id,
            "eventType": {"id": self.event_type_id, "slug": self.event_type_slug},
            "meetingUrl": self.location,
            "location": self.location,
            "absentHost": False,
            "createdAt": av.iso_ms_z(self.created_at),
            "updatedAt": av.iso_ms_z(self.updated_at) if self.updated_at else None,
            "metadata": dict(self.metadata),
            "icsUid": f"{self.uid}@Cal.com",
            "attendees": self.attendee_rows(),
            "guests": list(self.guests or []),
            "bookingFieldsResponses": self.fields_responses(),
        }
        optional = {
            "reschedulingReason": self.rescheduling_reason,
            "rescheduledByEmail": self.rescheduled_by_email,
            "rescheduledFromUid": self.rescheduled_from_uid,
            "rescheduledToUid": self.rescheduled_to_uid,
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        return {key: fields[key] for key in BOOKING_KEYS if key in fields}


def new_uid() -> str:
    """22 characters of base58, like Cal.com's short-uuid uids."""
    number = uuid.UUID(bytes=secrets.token_bytes(16)).int
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_BASE58[remainder])
    return "".join(reversed(digits)).rjust(22, _BASE58[0])[:22]


def slugify(value: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", value.strip().lower())
    return re.sub(r"-{2,}", "-", slug).strip("-")


# ---------------------------------------------------------------------------------------------
# Request reading (pure). The contract (contract.py) has validated and stripped the body before
# any of this runs, so these functions only read it.


@dataclass
class Attendee:
    name: str
    email: str
    time_zone: str
    language: str = "en"
    phone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "email": self.email, "timeZone": self.time_zone, "language": self.language}
        if self.phone:
            out["phoneNumber"] = self.phone
        return out


def read_attendee(raw: dict[str, Any]) -> Attendee:
    """A phone-only attendee gets ``<digits>@sms.cal.com`` as e-mail, as Cal.com stores it."""
    phone = raw.get("phoneNumber") or None
    email = raw.get("email") or re.sub(r"\D", "", phone or "") + "@sms.cal.com"
    return Attendee(
        str(raw["name"]), str(email), str(raw["timeZone"]), str(raw.get("language") or "en"), phone
    )


@dataclass
class CreateInput:
    start: datetime
    attendee: Attendee
    event_type_id: int | None
    event_type_slug: str | None
    team_slug: str | None
    username: str | None
    guests: list[str] | None
    metadata: dict[str, Any]
    responses: dict[str, Any]
    location: object
    length: int | None
    subset_ids: list[int] | None  # the hidden rrHostSubsetIds
    routing: dict[str, Any] | None


def read_create(body: dict[str, Any]) -> CreateInput:
    return CreateInput(
        start=read_start(body),
        attendee=read_attendee(body["attendee"]),
        event_type_id=body.get("eventTypeId"),
        event_type_slug=body.get("eventTypeSlug"),
        team_slug=body.get("teamSlug"),
        username=body.get("username"),
        guests=body.get("guests"),
        metadata=dict(body.get("metadata") or {}),
        responses=dict(body.get("bookingFieldsResponses") or {}),
        location=body.get("location") if body.get("location") is not None else body.get("meetingUrl"),
        length=body.get("lengthInMinutes"),
        subset_ids=body.get("rrHostSubsetIds"),
        routing=body.get("routing"),
    )


def read_start(body: dict[str, Any]) -> datetime:
    start = av.parse_iso(body["start"])
    if start is None:  # the contract's pattern passed, the calendar date did not (2026-02-30)
        raise ApiError(400, "start property is wrong,start must be a valid ISO 8601 date string ")
    return start


# ---------------------------------------------------------------------------------------------
# The store


@dataclass
class Behaviour:
    """Switches for behaviours where the brief and Cal.com's code differ (see README.md)."""

    # "ok": cancelling a cancelled booking answers 200 with it unchanged (the brief's choice);
    # "error": Cal.com's 400 "Can't cancel booking with uid=... because it has been cancelled already..."
    cancel_cancelled: str = "error"  # as Cal.com: 400 on a second cancel
    # Cal.com's handleCancelBooking refuses a cancel without cancellationReason when the API key's
    # user is the booking's organizer ("Cancellation reason is required when you are the host").
    require_cancellation_reason_for_host: bool = False

    def update(self, values: dict[str, Any]) -> None:
        if "cancel_cancelled" in values:
            if values["cancel_cancelled"] not in ("ok", "error"):
                raise ValueError("cancel_cancelled must be 'ok' or 'error'")
            self.cancel_cancelled = values["cancel_cancelled"]
        if "require_cancellation_reason_for_host" in values:
            self.require_cancellation_reason_for_host = bool(values["require_cancellation_reason_for_host"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "cancel_cancelled": self.cancel_cancelled,
            "require_cancellation_reason_for_host": self.require_cancellation_reason_for_host,
        }


@dataclass
class Mutation:
    """What a mutating call did, for the webhook dispatcher (triggers with payloads)."""

    booking: dict[str, Any]
    webhooks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


_MISSING = object()


class Store:
    """Teams, members, event types and bookings, loaded from the fixture's ``calcom`` section.

    The fixture's ``team`` is the primary team: members, event types and keys of the fixture belong
    to it unless they name another. More teams (other Cal.com accounts, each with its own members and
    API key) come from the fixture's ``other_teams`` or ``POST /_standin/teams``."""

    def __init__(self, fixture: dict[str, Any], clock: Clock, behaviour: Behaviour | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self._fixture = copy.deepcopy(fixture.get("calcom", fixture))
        self._default_behaviour = copy.deepcopy(behaviour or Behaviour())
        self.reset()

    # -- loading ------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            cal = copy.deepcopy(self._fixture)
            self.behaviour = copy.deepcopy(self._default_behaviour)
            self.api_key: str = str(cal["api_key"])
            self.team = parse_team(cal["team"])
            self.teams: dict[int, dict[str, Any]] = {self.team["id"]: self.team}
            self.members: dict[int, Member] = {}
            for raw in cal.get("members", []):
                self._add_member(raw, self.team["id"])
            self.event_types: dict[int, EventType] = {}
            for raw in cal.get("event_types", []):
                et = self._event_type_from_fixture(raw)
                self.event_types[et.id] = et
            self.bookings: list[Booking] = []
            self.emails: list[dict[str, Any]] = []  # what Cal.com would have mailed (GET /_standin/emails)
            # Membership entries served as given after the real ones (POST /_standin/memberships/extra):
            # duplicates and broken entries for tests of the team sync's input checks.
            self.extra_memberships: list[dict[str, Any]] = []
            self._next_booking_id = int(cal.get("booking_id_start", 700001))
            for raw in cal.get("bookings", []):
                self.seed_booking(raw)
            owner = cal.get("api_key_user_id")
            if owner is None:
                owners = [m for m in self.members.values() if m.role == "OWNER"] or list(
                    self.members.values()
                )
                owner = owners[0].user_id if owners else None
            self.api_key_user_id: int | None = int(owner) if owner is not None else None
            # Every key Cal.com would accept, with the user it acts as. Cal.com's API keys are
            # user-scoped (docs/reference/calcom.md §1.1: the key acts as its creator; team routes
            # check that user's membership, RolesGuard): a key of another admin of the team sees
            # the team too (POST /_standin/api-keys), and a revoked one is refused with 401.
            self.api_keys: dict[str, int | None] = {self.api_key: self.api_key_user_id}
            for raw in cal.get("other_teams", []):
                self.add_team(raw)

    def _add_member(self, raw: dict[str, Any], team_id: int) -> Member:
        """A new user in `team_id` (membership ids count on across teams: Cal.com's Membership table
        has one id sequence)."""
        user_id = int(_pick(raw, "user_id", "userId"))
        if user_id in self.members:
            raise ValueError(f"user {user_id} is already a member of team {self.members[user_id].team_id}")
        member = parse_member(raw, default_membership_id=9000 + len(self.members), team_id=team_id)
        self.members[user_id] = member
        return member

    def add_team(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Another Cal.com team with its own members and, optionally, the API key of one of them
        (``{"id", "slug"?, "name", "members": [...], "api_key"?, "api_key_user_id"?}``; the key acts
        as the given user, else the team's first OWNER). What a salon that signs up to Cal.com on its
        own has: its team, its staff, a key its owner created (docs/reference/calcom.md §1.1)."""
        with self.lock:
            team = parse_team(raw)
            if team["id"] in self.teams:
                raise ValueError(f"team {team['id']} exists")
            if any(t["slug"] == team["slug"] for t in self.teams.values()):
                raise ValueError(f"a team with slug {team['slug']!r} exists")
            raw_members = raw.get("members") or []
            if not isinstance(raw_members, list) or not raw_members:
                raise ValueError("a team needs members (its owner at least)")
            first_id = 9000 + len(self.members)
            members = [parse_member(m, first_id + i, team["id"]) for i, m in enumerate(raw_members)]
            user_ids = [m.user_id for m in members]
            known = [u for u in user_ids if u in self.members]
            if known or len(set(user_ids)) != len(user_ids):
                raise ValueError(
                    f"users {known or user_ids} are members of another team or listed twice (the "
                    "stand-in's users have one team)"
                )
            owner = _pick(raw, "api_key_user_id", "apiKeyUserId")
            if owner is None:
                owner = next((m.user_id for m in members if m.role == "OWNER"), user_ids[0])
            if int(owner) not in user_ids:
                raise ValueError(f"api_key_user_id {owner} is not a member of the team")
            if raw.get("api_key") is not None:
                _check_key_format(raw["api_key"])
            # Everything checked: nothing is half added.
            self.teams[team["id"]] = team
            self.members.update({m.user_id: m for m in members})
            if raw.get("api_key") is not None:
                self.add_api_key(str(raw["api_key"]), int(owner))
            return team

    def team_by_slug(self, slug: str) -> dict[str, Any] | None:
        return next((t for t in self.teams.values() if t["slug"] == slug), None)

    def team_event_type(self, team_slug: str | None, slug: str | None) -> EventType | None:
        """A team's event type by the team's slug and its own (slugs are unique within a team)."""
        team = self.team_by_slug(team_slug) if team_slug is not None else None
        if team is None:
            return None
        return next(
            (e for e in self.event_types.values() if e.team_id == team["id"] and e.slug == slug), None
        )

    def teams_of(self, user_id: int | None) -> list[dict[str, Any]]:
        """`GET /v2/teams`: the teams of the key's user."""
        member = self.members.get(user_id) if user_id is not None else None
        return [self.teams[member.team_id]] if member is not None else []

    def authorize_team(self, caller: int | None, team_id: int, minimum: str) -> None:
        """Cal.com's RolesGuard for `/v2/teams/{teamId}/...` (apps/api/v2/src/modules/auth/guards/
        roles/roles.guard.ts): the key's user must be a member of the team (the membership is looked
        up by team and user, accepted or not), with at least the route's role."""
        member = self.members.get(caller) if caller is not None else None
        if member is None or member.team_id != team_id:
            raise ApiError(403, f"RolesGuard - User is not a member of the team with id={team_id}.")
        if TEAM_ROLES.index(member.role) > TEAM_ROLES.index(minimum):
            raise ApiError(
                403,
                f"RolesGuard - user with id={caller} does not have the minimum required role=TEAM_{minimum} "
                f"within team with id={team_id}.",
            )

    def add_api_key(self, api_key: str, user_id: int | None = None) -> int | None:
        """Accept `api_key` from now on, acting as `user_id` (default: the fixture key's user), who
        must be a member of a team; the user it acts as."""
        _check_key_format(api_key)
        with self.lock:
            user = self.api_key_user_id if user_id is None else int(user_id)
            if user is not None and user not in self.members:
                raise ValueError(f"user_id {user} is not a member of any team")
            self.api_keys[api_key] = user
            return user

    def revoke_api_key(self, api_key: str) -> bool:
        """Cal.com refuses a deleted key from then on (401); False when it was not known."""
        with self.lock:
            return self.api_keys.pop(api_key, _MISSING) is not _MISSING

    def knows_api_key(self, api_key: str) -> bool:
        with self.lock:
            return api_key in self.api_keys

    def api_key_user(self, api_key: str) -> int | None:
        """The user a key acts as (None: unknown, or a fixture key of a team without members)."""
        with self.lock:
            return self.api_keys.get(api_key)

    def _event_type_from_fixture(self, raw: dict[str, Any]) -> EventType:
        scheduling = SCHEDULING_TYPES.get(str(_pick(raw, "scheduling_type", "schedulingType", default="")))
        if scheduling not in ("roundRobin", "collective"):
            raise ValueError(f"event type {raw.get('id')}: scheduling_type must be roundRobin or collective")
        hosts = [self._parse_host(h, scheduling) for h in raw.get("hosts", [])]
        options = _pick(raw, "length_options", "lengthInMinutesOptions")
        return EventType(
            id=int(raw["id"]),
            team_id=int(_pick(raw, "team_id", "teamId", default=self.team["id"])),
            title=str(raw["title"]),
            slug=str(raw.get("slug") or slugify(str(raw["title"]))),
            length=int(_pick(raw, "length", "lengthInMinutes")),
            scheduling_type=scheduling,
            hosts=hosts,
            hidden=bool(raw.get("hidden", False)),
            description=str(raw.get("description", "")),
            length_options=[int(v) for v in options] if options else None,
            assign_all_team_members=bool(
                _pick(raw, "assign_all_team_members", "assignAllTeamMembers", default=False)
            ),
            minimum_booking_notice=int(
                _pick(raw, "minimum_booking_notice", "minimumBookingNotice", default=120)
            ),
            before_event_buffer=int(_pick(raw, "before_event_buffer", "beforeEventBuffer", default=0)),
            after_event_buffer=int(_pick(raw, "after_event_buffer", "afterEventBuffer", default=0)),
            slot_interval=_pick(raw, "slot_interval", "slotInterval"),
            reschedule_with_same_round_robin_host=bool(
                _pick(
                    raw,
                    "reschedule_with_same_round_robin_host",
                    "rescheduleWithSameRoundRobinHost",
                    default=False,
                )
            ),
            locations=_pick(raw, "locations", default=[{"type": "integration", "integration": "cal-video"}]),
            booking_fields=_pick(raw, "booking_fields", "bookingFields", default=[]),
            rr_host_subset_enabled=bool(
                _pick(raw, "rr_host_subset_enabled", "rrHostSubsetEnabled", default=False)
            ),
        )

    @staticmethod
    def _parse_host(raw: dict[str, Any], scheduling: str) -> Host:
        priority = str(raw.get("priority") or "medium")
        if priority not in PRIORITIES:
            raise ValueError(f"host priority must be one of {list(PRIORITIES)}")
        if scheduling == "collective":
            return Host(int(_pick(raw, "userId", "user_id")), True, "medium")
        return Host(int(_pick(raw, "userId", "user_id")), bool(raw.get("mandatory", False)), priority)

    def seed_booking(self, raw: dict[str, Any]) -> Booking:
        """A booking from the fixture / control API, written as is (no availability checks).

        Schema: ``{"start": iso, "end"?: iso | "duration"?: minutes, "event_type_id"?: int,
        "host_user_id": int, "co_host_user_ids"?: [int], "attendee"?: {name, email, timeZone},
        "status"?: "accepted"|"cancelled", "metadata"?: {}, "uid"?, "id"?, "title"?, "created_at"?}``."""
        with self.lock:
            start = av.parse_iso(raw.get("start"))
            if start is None:
                raise ValueError("booking start must be an ISO date-time")
            et_id = _pick(raw, "event_type_id", "eventTypeId")
            et = self.event_types.get(int(et_id)) if et_id is not None else None
            if et_id is not None and et is None:
                raise ValueError(f"unknown event type {et_id}")
            end = av.parse_iso(raw.get("end")) if raw.get("end") else None
            if end is None:
                minutes = int(_pick(raw, "duration", default=et.length if et else 30))
                end = start + timedelta(minutes=minutes)
            host_id = _pick(raw, "host_user_id", "hostUserId", "organizer_user_id")
            if host_id is None and et is not None and self.hosts_of(et):
                host_id = self.hosts_of(et)[0].user_id
            if host_id is None or int(host_id) not in self.members:
                raise ValueError(f"booking host_user_id {host_id} is not a team member")
            organizer = self.members[int(host_id)]
            co_hosts = [self.members[int(u)].host_snapshot() for u in raw.get("co_host_user_ids", [])]
            attendee = {
                "name": "Walk-in",
                "email": "walk-in@example.com",
                "timeZone": organizer.time_zone,
                "language": "en",
                **(raw.get("attendee") or {}),
            }
            uid = str(raw.get("uid") or new_uid())
            if self.find(uid) is not None:
                raise ValueError(f"duplicate booking uid {uid}")
            booking_id = int(raw["id"]) if raw.get("id") else self._new_id()
            self._next_booking_id = max(self._next_booking_id, booking_id + 1)
            created = av.parse_iso(raw.get("created_at")) or self.clock.now()
            title = raw.get("title") or (
                f"{et.title if et else 'Busy'} between {organizer.name} and {attendee['name']}"
            )
            booking = Booking(
                id=booking_id,
                uid=uid,
                event_type_id=et.id if et else None,
                event_type_slug=et.slug if et else None,
                title=str(title),
                description=str(raw.get("description", "")),
                start=start,
                end=end,
                organizer=organizer.host_snapshot(),
                co_hosts=co_hosts,
                rr_host_id=int(host_id) if et and et.scheduling_type == "roundRobin" else None,
                attendee=attendee,
                guests=None,
                metadata=dict(raw.get("metadata") or {}),
                responses={},
                location=f"https://app.cal.com/video/{uid}",
                created_at=created,
                status=str(raw.get("status", "accepted")),
                team_id=et.team_id if et else self.team["id"],
            )
            self.bookings.append(booking)
            return booking

    def _new_id(self) -> int:
        value = self._next_booking_id
        self._next_booking_id += 1
        return value

    # -- members ------------------------------------------------------------------------------

    def upsert_member(self, raw: dict[str, Any]) -> Member:
        with self.lock:
            user_id = int(_pick(raw, "user_id", "userId"))
            existing = self.members.get(user_id)
            team_id = int(
                _pick(raw, "team_id", "teamId", default=existing.team_id if existing else self.team["id"])
            )
            if team_id not in self.teams or (existing is not None and existing.team_id != team_id):
                raise ValueError(f"team_id {team_id}: an unknown team, or not the user's team")
            merged = {**(existing.raw if existing else {}), **raw}
            default_id = existing.membership_id if existing else 9000 + len(self.members) + 1
            member = parse_member(merged, default_membership_id=default_id, team_id=team_id)
            self.members[user_id] = member
            return member

    def delete_member(self, user_id: int) -> None:
        """Removes the membership and, as Cal.com does, the user as host of the team's event types."""
        with self.lock:
            if user_id not in self.members:
                raise KeyError(user_id)
            del self.members[user_id]
            for et in self.event_types.values():
                et.hosts = [h for h in et.hosts if h.user_id != user_id]

    def sorted_members(self, team_id: int) -> list[Member]:
        return sorted(
            (m for m in self.members.values() if m.team_id == team_id), key=lambda m: m.membership_id
        )

    def membership_listing(self, team_id: int) -> list[dict[str, Any]]:
        """What `GET /v2/teams/{id}/memberships` pages through: the members, then (primary team only)
        the extra entries."""
        members = [self.membership_output(m) for m in self.sorted_members(team_id)]
        extra = self.extra_memberships if team_id == self.team["id"] else []
        return members + copy.deepcopy(extra)

    def membership_output(self, member: Member) -> dict[str, Any]:
        user: dict[str, Any] = {
            "avatarUrl": member.avatar_url,
            "username": member.username,
            "name": member.name,
            "email": member.email,
            "bio": member.bio,
        }
        if member.metadata is not None:
            user["metadata"] = member.metadata
        return {
            "id": member.membership_id,
            "userId": member.user_id,
            "teamId": member.team_id,
            "accepted": member.accepted,
            "role": member.role,
            "disableImpersonation": False,
            "user": user,
        }

    # -- event types --------------------------------------------------------------------------

    def hosts_of(self, et: EventType) -> list[Host]:
        if et.assign_all_team_members:
            return [
                Host(m.user_id, et.scheduling_type == "collective")
                for m in self.sorted_members(et.team_id)
                if m.accepted
            ]
        return list(et.hosts)

    def event_type_output(self, et: EventType) -> dict[str, Any]:
        hosts = []
        for host in self.hosts_of(et):
            member = self.members.get(host.user_id)
            item: dict[str, Any] = {
                "userId": host.user_id,
                "name": member.name if member else None,
                "username": member.username if member else None,
                "avatarUrl": member.avatar_url if member else None,
            }
            if et.scheduling_type == "roundRobin":
                item["mandatory"] = host.mandatory
                item["priority"] = host.priority
            hosts.append(item)
        out: dict[str, Any] = {
            "id": et.id,
            "teamId": et.team_id,
            "ownerId": None,
            "parentEventTypeId": None,
            "title": et.title,
            "slug": et.slug,
            "description": et.description,
            "lengthInMinutes": et.length,
        }
        if et.length_options:
            out["lengthInMinutesOptions"] = list(et.length_options)
        out.update(
            {
                "schedulingType": et.scheduling_type,
                "assignAllTeamMembers": et.assign_all_team_members,
                "hidden": et.hidden,
                "rescheduleWithSameRoundRobinHost": et.reschedule_with_same_round_robin_host,
                "hosts": hosts,
                "locations": copy.deepcopy(et.locations),
                "bookingFields": copy.deepcopy(et.booking_fields),
                "minimumBookingNotice": et.minimum_booking_notice,
                "beforeEventBuffer": et.before_event_buffer,
                "afterEventBuffer": et.after_event_buffer,
                "slotInterval": et.slot_interval,
                "rrHostSubsetEnabled": et.rr_host_subset_enabled,
                "team": {key: self.teams[et.team_id][key] for key in ("id", "slug", "name")},
            }
        )
        if et.email_settings is not None:
            out["emailSettings"] = dict(et.email_settings)
        return out

    def get_event_type(self, event_type_id: int, team_id: int | None = None) -> EventType:
        et = self.event_types.get(event_type_id)
        if et is None or (team_id is not None and et.team_id != team_id):
            raise ApiError(404, f"Event type with id {event_type_id} not found")
        return et

    def _hosts(self, raw_hosts: list[dict[str, Any]], scheduling: str, team_id: int) -> list[Host]:
        hosts = [self._parse_host(item, scheduling) for item in raw_hosts]
        missing = [
            h.user_id
            for h in hosts
            if h.user_id not in self.members or self.members[h.user_id].team_id != team_id
        ]
        if missing:
            ids = ", ".join(str(u) for u in missing)
            raise ApiError(404, f"Invalid hosts: {ids} are not members of team with id {team_id}.")
        return hosts

    def _apply_event_type_fields(self, et: EventType, body: dict[str, Any]) -> None:
        """Copy what the body sets (the contract has checked the types; unknown keys are gone)."""
        if "title" in body:
            et.title = body["title"]
        if "slug" in body:
            et.slug = slugify(body["slug"])
            if not et.slug:
                raise ApiError(400, "slug property is wrong,slug must contain a letter or a digit ")
        if "lengthInMinutes" in body:
            et.length = body["lengthInMinutes"]
        if "lengthInMinutesOptions" in body:
            et.length_options = list(body["lengthInMinutesOptions"]) or None
        for key, attr in (
            ("description", "description"),
            ("hidden", "hidden"),
            ("rescheduleWithSameRoundRobinHost", "reschedule_with_same_round_robin_host"),
            ("assignAllTeamMembers", "assign_all_team_members"),
            ("minimumBookingNotice", "minimum_booking_notice"),
            ("beforeEventBuffer", "before_event_buffer"),
            ("afterEventBuffer", "after_event_buffer"),
            ("rrHostSubsetEnabled", "rr_host_subset_enabled"),
        ):
            if body.get(key) is not None:
                setattr(et, attr, copy.deepcopy(body[key]))
        if "slotInterval" in body:
            et.slot_interval = body["slotInterval"] if (body["slotInterval"] or 0) > 0 else None
        if body.get("locations") is not None:
            et.locations = copy.deepcopy(body["locations"])
        if body.get("bookingFields") is not None:
            et.booking_fields = copy.deepcopy(body["bookingFields"])
        if body.get("emailSettings") is not None:
            et.email_settings = self._email_settings(body["emailSettings"], et.email_settings, et.team_id)

    def _email_settings(
        self, wanted: dict[str, Any], current: dict[str, bool] | None, team_id: int
    ) -> dict[str, bool]:
        """What Cal.com keeps of `emailSettings`: the API writes it to metadata.disableStandardEmails.all
        (organizations/event-types/services/input.service.ts), then the event type update handler
        sets both flags back to false unless the team is an organization's sub-team
        (trpc/.../eventTypes/heavy/update.handler.ts: `if (!eventType?.team?.parentId)`)."""
        settings = dict(current or {"disableEmailsToAttendees": False, "disableEmailsToHosts": False})
        for key in ("disableEmailsToAttendees", "disableEmailsToHosts"):
            if isinstance(wanted.get(key), bool):
                settings[key] = wanted[key] if self.teams[team_id].get("parent_id") is not None else False
        return settings

    @staticmethod
    def _scheduling_type(value: str) -> str:
        scheduling = SCHEDULING_TYPES[value]
        if scheduling == "managed":
            raise ApiError(400, "The Cal.com stand-in does not implement managed event types.")
        return scheduling

    def create_event_type(self, team_id: int, body: dict[str, Any]) -> EventType:
        with self.lock:
            et = EventType(
                id=0, team_id=team_id, title="", slug="", length=0,
                scheduling_type=self._scheduling_type(body["schedulingType"]), hosts=[],
            )  # fmt: skip
            self._apply_event_type_fields(et, body)
            hosts = self._hosts(body.get("hosts") or [], et.scheduling_type, team_id)
            if any(o.slug == et.slug and o.team_id == team_id for o in self.event_types.values()):
                raise ApiError(400, MSG_SLUG_EXISTS)
            et.hosts = hosts
            et.id = max([*self.event_types, 3_800_000]) + 1
            self.event_types[et.id] = et
            return et

    def update_event_type(self, team_id: int, event_type_id: int, body: dict[str, Any]) -> EventType:
        with self.lock:
            current = self.get_event_type(event_type_id, team_id)
            et = copy.deepcopy(current)
            if body.get("schedulingType") is not None:
                scheduling = self._scheduling_type(body["schedulingType"])
                if scheduling != current.scheduling_type:
                    if body.get("hosts") is None and not body.get("assignAllTeamMembers"):
                        raise ApiError(
                            400,
                            "Hosts required when switching schedulingType. Please provide 'hosts' or set "
                            "'assignAllTeamMembers' to true.",
                        )
                    et.scheduling_type = scheduling
            self._apply_event_type_fields(et, body)
            if et.slug != current.slug and any(
                o.slug == et.slug and o.team_id == team_id and o.id != et.id
                for o in self.event_types.values()
            ):
                raise ApiError(400, MSG_SLUG_EXISTS)
            if body.get("hosts") is not None:
                et.hosts = self._hosts(body["hosts"], et.scheduling_type, team_id)  # replaces the list
                if "assignAllTeamMembers" not in body:
                    et.assign_all_team_members = False
            elif et.scheduling_type == "collective":
                et.hosts = [Host(h.user_id, True, "medium") for h in et.hosts]
            self.event_types[et.id] = et
            return et

    def delete_event_type(self, team_id: int, event_type_id: int) -> dict[str, Any]:
        with self.lock:
            et = self.get_event_type(event_type_id, team_id)
            del self.event_types[et.id]
            return {"id": et.id, "title": et.title}

    # -- availability -------------------------------------------------------------------------

    def _host_window(self, user_id: int, window: av.Interval, exclude_uid: str | None) -> av.HostWindow:
        member = self.members.get(user_id)
        if member is None or not member.accepted:
            return av.HostWindow(user_id, [], [])
        start, end = window
        working = member.hours.intervals(start, end)
        lo, hi = start - timedelta(days=2), end + timedelta(days=2)
        busy = [
            (b.start, b.end)
            for b in self.bookings
            if b.active
            and b.uid != exclude_uid
            and user_id in b.host_user_ids
            and b.end > lo
            and b.start < hi
        ]
        return av.HostWindow(user_id, working, busy)

    @staticmethod
    def subset(et: EventType, ids: list[int] | None) -> list[int] | None:
        """rrHostSubsetIds as Cal.com applies them (isWithinRRHostSubset in
        packages/features/bookings/lib/host-filtering/findQualifiedHostsWithDelegationCredentials.ts):
        ignored unless the event type has rrHostSubsetEnabled and is round robin; then they filter
        fixed and round-robin hosts alike, with no fallback when none is left."""
        if not ids or not et.rr_host_subset_enabled or et.scheduling_type != "roundRobin":
            return None
        return list(ids)

    def _plan(
        self,
        et: EventType,
        duration: int,
        window: av.Interval,
        *,
        subset: list[int] | None = None,
        exclude_uid: str | None = None,
    ) -> av.SlotPlan:
        hosts = self.hosts_of(et)
        if et.scheduling_type == "collective":
            fixed_ids, rr_ids = [h.user_id for h in hosts], []
        else:
            fixed_ids = [h.user_id for h in hosts if h.mandatory]
            rr_ids = [h.user_id for h in hosts if not h.mandatory]
        if subset is not None:
            fixed_ids = [u for u in fixed_ids if u in subset]
            rr_ids = [u for u in rr_ids if u in subset]
        return av.SlotPlan(
            fixed=[self._host_window(u, window, exclude_uid) for u in fixed_ids],
            rr=[self._host_window(u, window, exclude_uid) for u in rr_ids],
            duration=timedelta(minutes=duration),
            interval=timedelta(minutes=et.slot_interval or duration),
            before=timedelta(minutes=et.before_event_buffer),
            after=timedelta(minutes=et.after_event_buffer),
            rr_required=bool(rr_ids),
        )

    def slots(
        self,
        et: EventType,
        start: datetime,
        end: datetime,
        *,
        duration: int,
        subset: list[int] | None = None,
        exclude_uid: str | None = None,
    ) -> list[datetime]:
        """Bookable starts in [start, end]; none before now + the minimum notice (Cal.com's slots
        util.ts clamps the search start to it and drops what `isTimeOutOfBounds` flags)."""
        with self.lock:
            now = self.clock.now()
            earliest = now + timedelta(minutes=et.minimum_booking_notice)
            plan = self._plan(et, duration, (start, end), subset=subset, exclude_uid=exclude_uid)
            starts = {t for t in plan.grid() if start <= t <= end and t >= earliest and plan.available(t)}
            return sorted(starts)

    def _choose_rr_host(self, et: EventType, candidates: list[int]) -> int:
        """Priority high first, then least recently booked for this event type, then host order."""
        hosts = self.hosts_of(et)
        priority = {h.user_id: PRIORITIES[h.priority] for h in hosts}
        order = {h.user_id: i for i, h in enumerate(hosts)}
        last: dict[int, int] = {}
        for b in self.bookings:
            if b.event_type_id == et.id and b.status == "accepted" and b.rr_host_id in priority:
                last[b.rr_host_id] = max(last.get(b.rr_host_id, -1), b.id)
        return min(candidates, key=lambda u: (-priority.get(u, 2), last.get(u, -1), order.get(u, 0)))

    def _place(
        self,
        et: EventType,
        start: datetime,
        duration: int,
        *,
        subset: list[int] | None,
        exclude_uid: str | None,
        unavailable_message: str,
        keep_rr_host: int | None = None,
    ) -> tuple[list[int], int | None]:
        """The hosts for a booking at ``start``: (fixed host ids in order, RR host id or None)."""
        now = self.clock.now()
        if start < now:
            raise ApiError(400, MSG_PAST)
        if start < now + timedelta(minutes=et.minimum_booking_notice):
            raise ApiError(400, MSG_OUT_OF_BOUNDS)
        window = (start - timedelta(days=1), start + timedelta(days=1))
        plan = self._plan(et, duration, window, subset=subset, exclude_uid=exclude_uid)
        grids = [plan]
        if subset is not None:
            grids.append(self._plan(et, duration, window, exclude_uid=exclude_uid))
        if not any(start in set(p.grid()) for p in grids):
            raise ApiError(400, MSG_OUT_OF_BOUNDS)
        if not plan.fixed and not plan.rr:
            raise ApiError(400, unavailable_message)
        if not plan.fixed_free(start):
            raise ApiError(400, unavailable_message)
        fixed_ids = [h.user_id for h in plan.fixed]
        if not plan.rr_required:
            return fixed_ids, None
        free = [h.user_id for h in plan.free_rr(start)]
        if keep_rr_host is not None and any(h.user_id == keep_rr_host for h in plan.rr):
            free = [u for u in free if u == keep_rr_host]
        if not free:
            raise ApiError(400, unavailable_message)
        return fixed_ids, self._choose_rr_host(et, free)

    def _length(self, et: EventType, requested: int | None) -> int:
        if requested is None:
            return et.length
        if not et.length_options:
            raise ApiError(400, MSG_SINGLE_LENGTH)
        if requested not in et.length_options:
            options = ", ".join(str(v) for v in et.length_options)
            raise ApiError(
                400,
                "Provided 'lengthInMinutes' is not one of the possible lengths for the event type. "
                f"The possible lengths are: {options}",
            )
        return requested

    # -- bookings -----------------------------------------------------------------------------

    def find(self, uid: str) -> Booking | None:
        for booking in self.bookings:
            if booking.uid == uid:
                return booking
        return None

    def _resolve_event_type(self, request: CreateInput) -> EventType:
        if request.event_type_id:
            et = self.event_types.get(request.event_type_id)
            if et is None:
                raise ApiError(404, f"Event type with id {request.event_type_id} not found.")
            return et
        if request.username:
            raise ApiError(
                404,
                f"Event type with slug {request.event_type_slug} belonging to user {request.username} "
                "not found.",
            )
        et = self.team_event_type(request.team_slug, request.event_type_slug)
        if et is not None:
            return et
        raise ApiError(
            404,
            f"Event type with slug {request.event_type_slug} belonging to team {request.team_slug} "
            "not found.",
        )

    def _check_has_hosts(self, et: EventType) -> None:
        if not self.hosts_of(et):
            raise ApiError(
                422,
                "Can't book this team event type because it has no hosts. Please, add at least 1 host to "
                "event "
                f"type with id={et.id} belonging to team with id={et.team_id} and try again.",
            )

    def _compose(
        self,
        et: EventType,
        start: datetime,
        duration: int,
        fixed_ids: list[int],
        rr_id: int | None,
        attendee: dict[str, Any],
        **extra: Any,
    ) -> Booking:
        ids = [*fixed_ids, *([rr_id] if rr_id is not None else [])]
        organizer = self.members[ids[0]]
        uid = new_uid()
        location = extra.pop("location", None) or f"https://app.cal.com/video/{uid}"
        return Booking(
            id=self._new_id(),
            uid=uid,
            event_type_id=et.id,
            event_type_slug=et.slug,
            title=f"{et.title} between {organizer.name} and {attendee['name']}",
            description=et.description,
            start=start,
            end=start + timedelta(minutes=duration),
            organizer=organizer.host_snapshot(),
            co_hosts=[self.members[u].host_snapshot() for u in ids[1:]],
            rr_host_id=rr_id,
            attendee=attendee,
            created_at=self.clock.now(),
            team_id=et.team_id,
            location=location,
            **extra,
        )

    def create_booking(self, body: dict[str, Any]) -> Mutation:
        request = read_create(body)
        with self.lock:
            et = self._resolve_event_type(request)
            self._check_has_hosts(et)
            if request.routing is not None:
                # Cal.com looks the routing form response up (RegularBookingService: routedTeamMemberIds
                # need routingFormResponseId); the stand-in has no routing forms.
                raise ApiError(
                    400,
                    f"Routing form response with id {request.routing.get('responseId')} not found (the "
                    "Cal.com stand-in has no routing forms; routing is for bookings a routing form made).",
                )
            duration = self._length(et, request.length)
            if et.scheduling_type == "roundRobin":
                # RegularBookingService: for a round-robin event type, the same attendee at the same
                # start gets the booking it already has (getValidBookingFromEventTypeForAttendee).
                existing = self._same_attendee_booking(et, request.start, request.attendee)
                if existing is not None:
                    return Mutation(existing.to_output())
            fixed_ids, rr_id = self._place(
                et,
                request.start,
                duration,
                subset=self.subset(et, request.subset_ids),
                exclude_uid=None,
                unavailable_message=MSG_HOSTS_UNAVAILABLE,
            )
            booking = self._compose(
                et,
                request.start,
                duration,
                fixed_ids,
                rr_id,
                request.attendee.to_dict(),
                guests=request.guests,
                metadata=request.metadata,
                responses=request.responses,
                location=_location_text(request.location),
            )
            self.bookings.append(booking)
            self._mail("Scheduled", booking, et)
            output = booking.to_output()
            return Mutation(output, [("BOOKING_CREATED", self.webhook_payload(booking, "ACCEPTED"))])

    def _same_attendee_booking(self, et: EventType, start: datetime, attendee: Attendee) -> Booking | None:
        for booking in self.bookings:
            if (
                booking.active
                and booking.event_type_id == et.id
                and booking.start == start
                and (
                    booking.attendee["email"].lower() == attendee.email.lower()
                    or (attendee.phone is not None and booking.attendee.get("phoneNumber") == attendee.phone)
                )
            ):
                return booking
        return None

    # -- e-mails ------------------------------------------------------------------------------

    def _mail(self, kind: str, booking: Booking, et: EventType | None) -> None:
        """The standard e-mails Cal.com sends for a booking event (packages/emails/email-manager.ts:
        Organizer<Kind>Email to the organizer and every co-host unless the event type disables host
        e-mails, Attendee<Kind>Email to the booker and guests unless it disables attendee e-mails;
        API-key bookings have noEmail=false). A phone-only attendee's <digits>@sms.cal.com is no
        mailbox and gets none. For a new booking of a @gmail.com attendee Cal.com also schedules its
        mandatory reminder 1 h before (scheduleMandatoryReminder.ts)."""
        hosts_off = et is not None and et.hosts_emails_off
        attendees_off = et is not None and et.attendee_emails_off
        sent_at = av.iso_ms_z(self.clock.now())

        def add(template: str, to: str, role: str, **extra: Any) -> None:
            if to.endswith("@sms.cal.com"):
                return
            self.emails.append(
                {
                    "template": template,
                    "to": to,
                    "role": role,
                    "booking_uid": booking.uid,
                    "event_type_id": booking.event_type_id,
                    "at": sent_at,
                    **extra,
                }
            )

        if not hosts_off:
            for host in [booking.organizer, *booking.co_hosts]:
                add(f"Organizer{kind}Email", host["email"], "host")
        if not attendees_off:
            for address in [booking.attendee["email"], *(booking.guests or [])]:
                add(f"Attendee{kind}Email", address, "attendee")
            if kind == "Scheduled" and any("@gmail.com" in a for a in [booking.attendee["email"]]):
                send_at = av.iso_ms_z(booking.start - timedelta(hours=1))
                add("AttendeeMandatoryReminderEmail", booking.attendee["email"], "attendee", send_at=send_at)

    def get_booking(self, uid: str) -> dict[str, Any]:
        with self.lock:
            booking = self.find(uid)
            if booking is None:
                raise ApiError(404, f"Booking with uid={uid} was not found in the database")
            return booking.to_output()

    def cancel_booking(self, uid: str, data: dict[str, Any], caller: int | None = None) -> Mutation:
        """`caller`: the user the request's API key acts as (default: the fixture key's)."""
        with self.lock:
            booking = self.find(uid)
            if booking is None:
                raise ApiError(404, f"Booking with uid={uid} not found")
            if not booking.active:
                if self.behaviour.cancel_cancelled == "error":
                    raise ApiError(
                        400,
                        f"Can't cancel booking with uid={uid} because it has been cancelled already. Please "
                        "provide uid of a booking that is not cancelled.",
                    )
                return Mutation(booking.to_output())
            now = self.clock.now()
            if booking.end <= now:
                raise ApiError(400, MSG_CANCEL_ENDED, raw=True)
            caller = self.api_key_user_id if caller is None else caller
            key_user = self.members.get(caller) if caller is not None else None
            reason = data.get("cancellationReason") or ""
            if (
                self.behaviour.require_cancellation_reason_for_host
                and not reason
                and key_user is not None
                and booking.organizer["id"] == key_user.user_id
            ):
                raise ApiError(400, "Cancellation reason is required when you are the host")
            booking.status = "cancelled"
            booking.cancellation_reason = reason
            booking.cancelled_by_email = key_user.email if key_user else ""
            booking.updated_at = now
            self._mail("Cancelled", booking, self.event_types.get(booking.event_type_id or 0))
            payload = self.webhook_payload(booking, "CANCELLED")
            payload["cancellationReason"] = reason
            payload["cancelledBy"] = booking.cancelled_by_email
            return Mutation(booking.to_output(), [("BOOKING_CANCELLED", payload)])

    def reschedule_booking(self, uid: str, data: dict[str, Any]) -> Mutation:
        start = read_start(data)
        with self.lock:
            old = self.find(uid)
            if old is None:
                raise ApiError(404, f"Booking with uid={uid} was not found in the database")
            if not old.active:
                if old.rescheduled_to_uid:
                    to = old.rescheduled_to_uid
                    raise ApiError(
                        400,
                        f"Can't reschedule booking with uid={uid} because it has been cancelled and "
                        "rescheduled "
                        f"already to booking with uid={to}. You probably want to reschedule {to} instead by "
                        "passing it within the request URL.",
                    )
                raise ApiError(
                    400,
                    f"Can't reschedule booking with uid={uid} because it has been cancelled. Please provide "
                    "uid "
                    "of a booking that is not cancelled.",
                )
            et = self.event_types.get(old.event_type_id) if old.event_type_id is not None else None
            if et is None:
                raise ApiError(404, f"Event type with id {old.event_type_id} not found.")
            self._check_has_hosts(et)
            keep = old.rr_host_id if et.reschedule_with_same_round_robin_host else None
            fixed_ids, rr_id = self._place(
                et,
                start,
                old.duration,
                subset=self.subset(et, data.get("rrHostSubsetIds")),
                exclude_uid=old.uid,
                # Cal.com's reschedule maps "no available users" with bookingTeamEventType=false.
                unavailable_message=MSG_USER_UNAVAILABLE,
                keep_rr_host=keep,
            )
            now = self.clock.now()
            reason = data.get("reschedulingReason")
            new = self._compose(
                et,
                start,
                old.duration,
                fixed_ids,
                rr_id,
                dict(old.attendee),
                guests=old.guests,
                metadata=dict(old.metadata),
                responses=dict(old.responses),
                rescheduling_reason=reason,
                rescheduled_by_email=data.get("rescheduledBy"),
                rescheduled_from_uid=old.uid,
            )
            new.updated_at = None
            old.status = "cancelled"
            old.rescheduled_to_uid = new.uid
            old.updated_at = now
            if data.get("rescheduledBy") is not None:
                old.rescheduled_by_email = data["rescheduledBy"]
            if reason is not None:
                old.rescheduling_reason = reason
            self.bookings.append(new)
            self._mail("Rescheduled", new, et)
            payload = self.webhook_payload(new, "ACCEPTED")
            payload.update(
                {
                    "rescheduleUid": old.uid,
                    "rescheduleId": old.id,
                    "rescheduleStartTime": av.iso_s_z(old.start),
                    "rescheduleEndTime": av.iso_s_z(old.end),
                    "rescheduledBy": data.get("rescheduledBy"),
                }
            )
            return Mutation(new.to_output(), [("BOOKING_RESCHEDULED", payload)])

    def visible_to(self, booking: Booking, caller: int | None) -> bool:
        """Whether `GET /v2/bookings` lists `booking` to the key's user, as Cal.com's getBookings
        (packages/trpc/server/routers/viewer/bookings/get.handler.ts, used by the v2 bookings
        service): bookings the user organizes or attends (by e-mail), and, in a team where the user
        is ADMIN or OWNER, bookings of the team's event types, organized by or attended by a member."""
        user = self.members.get(caller) if caller is not None else None
        if user is None:
            return False
        emails = {row["email"].lower() for row in booking.attendee_rows()}
        if booking.organizer["id"] == user.user_id or user.email.lower() in emails:
            return True
        if user.role not in ("OWNER", "ADMIN"):
            return False
        team = self.sorted_members(user.team_id)
        return (
            booking.team_id == user.team_id
            or any(m.user_id == booking.organizer["id"] for m in team)
            or any(m.email.lower() in emails for m in team)
        )

    def list_bookings(
        self, query: dict[str, str], caller: int | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The query has passed the contract (values well-formed, unknown keys stripped). `caller`:
        the user the request's API key acts as (default: the fixture key's)."""
        raw_status = query.get("status")
        statuses = ["upcoming"] if raw_status is None else [s.strip() for s in raw_status.split(",")]

        def ids(*names: str) -> list[int] | None:
            for name in names:
                if query.get(name) is not None:
                    return [int(p) for p in query[name].split(",")]
            return None

        event_type_ids = ids("eventTypeIds", "eventTypeId")
        team_ids = ids("teamsIds", "teamId")
        bounds: dict[str, datetime] = {}
        for name in (
            "afterStart",
            "beforeEnd",
            "afterCreatedAt",
            "beforeCreatedAt",
            "afterUpdatedAt",
            "beforeUpdatedAt",
        ):
            if query.get(name) is not None:
                parsed = av.parse_iso(query[name])
                if parsed is None:
                    side = "fromDate" if name.startswith("after") else "toDate"
                    raise pipe_error(
                        [constraint(name, "isIso8601", f"{side} must be a valid ISO 8601 date.")]
                    )
                bounds[name] = parsed
        sort: tuple[str, bool] | None = None
        for name, attr in (
            ("sortStart", "start"),
            ("sortEnd", "end"),
            ("sortCreated", "created_at"),
            ("sortUpdatedAt", "updated_at"),
        ):
            if query.get(name) is not None and sort is None:
                sort = (attr, query[name] == "desc")
        take = int(query.get("take") or 100)
        skip = int(query.get("skip") or 0)
        email = query.get("attendeeEmail")
        if email is not None:
            email = re.sub(r"\s+", "+", email.strip())
        name = query.get("attendeeName")
        booking_uid = query.get("bookingUid")
        with self.lock:
            now = self.clock.now()

            def status_ok(b: Booking) -> bool:
                for status in statuses:
                    if status == "upcoming" and b.active and b.end >= now:
                        return True
                    if status == "past" and b.active and b.end <= now:
                        return True
                    if status == "cancelled" and not b.active:
                        return True
                    if status == "unconfirmed" and b.status == "pending" and b.end >= now:
                        return True
                return False

            viewer = self.api_key_user_id if caller is None else caller

            def keep(b: Booking) -> bool:
                if not self.visible_to(b, viewer):
                    return False
                rows = b.attendee_rows()
                if email and not any(r["email"].lower() == email.lower() for r in rows):
                    return False
                if name and not any(r["name"] == name.strip() for r in rows):
                    return False
                if booking_uid and b.uid != booking_uid.strip():
                    return False
                if event_type_ids and b.event_type_id not in event_type_ids:
                    return False
                if team_ids and b.team_id not in team_ids:
                    return False
                checks = (
                    ("afterStart", b.start, True),
                    ("beforeEnd", b.end, False),
                    ("afterCreatedAt", b.created_at, True),
                    ("beforeCreatedAt", b.created_at, False),
                    ("afterUpdatedAt", b.updated_at or b.created_at, True),
                    ("beforeUpdatedAt", b.updated_at or b.created_at, False),
                )
                for bound_name, value, lower in checks:
                    bound = bounds.get(bound_name)
                    if bound is not None and (value < bound if lower else value > bound):
                        return False
                return status_ok(b)

            items = [b for b in self.bookings if keep(b)]
            if sort is None:
                sort = ("start", len(statuses) == 1 and statuses[0] in ("past", "cancelled"))
            items.sort(key=lambda b: b.id)
            attr, descending = sort
            items.sort(key=lambda b: getattr(b, attr) or b.created_at, reverse=descending)
            total = len(items)
            page = [b.to_output() for b in items[skip : skip + take]]
        return page, pagination(skip=skip, take=take, total=total)

    def all_bookings(self) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for b in self.bookings:
                item = b.to_output()
                item["hostUserIds"] = b.host_user_ids
                out.append(item)
            return out

    # -- webhooks -----------------------------------------------------------------------------

    def webhook_payload(self, booking: Booking, status: str) -> dict[str, Any]:
        """Cal.com's booking webhook ``payload`` (CalendarEvent + extras), abridged."""
        et = self.event_types.get(booking.event_type_id) if booking.event_type_id is not None else None
        organizer = booking.organizer

        def person(p: dict[str, Any]) -> dict[str, Any]:
            return {
                "name": p["name"],
                "email": p["email"],
                "timeZone": p["timeZone"],
                "language": {"locale": p.get("language", "en")},
                "utcOffset": av.utc_offset_minutes(booking.start, p["timeZone"]),
            }

        attendees = [person(booking.attendee)]
        for guest in booking.guests or []:
            attendees.append(person({"name": "", "email": guest, "timeZone": booking.attendee["timeZone"]}))
        return {
            "type": booking.event_type_slug,
            "title": booking.title,
            "description": booking.description,
            "additionalNotes": booking.description,
            "startTime": av.iso_s_z(booking.start),
            "endTime": av.iso_s_z(booking.end),
            "organizer": {
                "id": organizer["id"],
                "name": organizer["name"],
                "email": organizer["email"],
                "username": organizer["username"],
                "timeZone": organizer["timeZone"],
                "language": {"locale": "en"},
                "timeFormat": "h:mma",
                "utcOffset": av.utc_offset_minutes(booking.start, organizer["timeZone"]),
            },
            "attendees": attendees,
            "responses": {
                "name": {"label": "your_name", "value": booking.attendee["name"]},
                "email": {"label": "email_address", "value": booking.attendee["email"]},
            },
            "location": booking.location,
            "team": {
                "id": booking.team_id,
                "name": self.teams[booking.team_id]["name"] if booking.team_id in self.teams else "",
                "members": [person(h) for h in booking.co_hosts],
            },
            "uid": booking.uid,
            "bookingId": booking.id,
            "eventTypeId": booking.event_type_id,
            "status": status,
            "metadata": {"videoCallUrl": booking.location, **booking.metadata},
            "eventTitle": et.title if et else None,
            "eventDescription": et.description if et else None,
            "length": booking.duration,
            "requiresConfirmation": False,
            "price": 0,
            "currency": "usd",
        }


def _location_text(value: object) -> str | None:
    """The booking's ``location``: a string as sent, the address/link/phone of a location object, an
    ``integrations:<app>`` for other apps; None = Cal Video (the booking gets a video URL)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):
        for key in ("address", "link", "phone", "location"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
        integration = value.get("integration")
        if isinstance(integration, str) and integration and integration != "cal-video":
            return f"integrations:{integration}"
    return None


def pagination(*, skip: int, take: int, total: int) -> dict[str, Any]:
    """Cal.com's getPagination (apps/api/v2/src/lib/pagination/pagination.ts)."""
    safe_skip = max(0, min(skip, total))
    total_pages = -(-total // take) if take else 0
    current = 0 if total_pages == 0 else max(1, min(safe_skip // take + 1, total_pages))
    return {
        "itemsReturned": max(0, min(total - safe_skip, take)),
        "totalItems": total,
        "itemsPerPage": take,
        "remainingItems": max(0, min(total - (safe_skip + take), total)),
        "currentPage": current,
        "totalPages": total_pages,
        "hasNextPage": safe_skip + take < total,
        "hasPreviousPage": safe_skip > 0,
    }
