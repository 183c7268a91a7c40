"""Cal.com hosts and how they are matched to local staff (pure: no I/O).

Strategies by priority (DESIGN.md "Host resolution", seeds phase2 roadmap); each gives at most one
`Match` per staff member, and only active staff members are candidates:

========================  ========  ==========  ==============  =====================================
strategy                  priority  confidence  source          host ... equals staff ...
========================  ========  ==========  ==============  =====================================
manual rule               200       100         MANUAL          id / e-mail / username of a rule
e-mail                    100       95          AUTO_EMAIL      e-mail → `email` or `other_emails`
Cal.com username / id     90        90          AUTO_USERNAME   username → `calcom_username`,
                                                                id → `calcom_user_id`
exact name                50        75          AUTO_NAME       name, ignoring case, spaces, umlaut
                                                                spelling (ü = ue) and accents
                                                                (`exact_name_key`)
fuzzy name                25        50 … 74     AUTO_FUZZY      see `name_matching` (its docstring
                                                                has the confidence mapping)
========================  ========  ==========  ==============  =====================================

E-mails compare stripped and lower-cased; usernames case-insensitively. `decide()` keeps each staff
member's strongest match (priority, then confidence), orders the candidates by (priority,
confidence), and links only an unambiguous top candidate at or above the threshold. The service
layer handles existing mappings and persistence; this module only decides.

Parsing is lenient (docs/reference/calcom.md §0): unknown keys are ignored, and a value of the wrong
type (a number as a name, a list as an e-mail) counts as missing. Exceptions and extraction
warnings never quote e-mails; match and decision reasons (audit records) may.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from calbridge.domain.models import StaffMember
from calbridge.domain.name_matching import exact_name_key, fuzzy_name_match, token_spellings

DEFAULT_THRESHOLD = 75

MANUAL_PRIORITY, MANUAL_CONFIDENCE = 200, 100
EMAIL_PRIORITY, EMAIL_CONFIDENCE = 100, 95
USERNAME_PRIORITY, USERNAME_CONFIDENCE = 90, 90
NAME_PRIORITY, NAME_CONFIDENCE = 50, 75
FUZZY_PRIORITY = 25

PLACEHOLDER = "unknown"  # Cal.com's value for a booking without a user, and for a missing username
_DIGITS = re.compile(r"[0-9]+")


class MappingSource(StrEnum):
    AUTO_EMAIL = "auto_email"
    AUTO_USERNAME = "auto_username"
    AUTO_NAME = "auto_name"
    AUTO_FUZZY = "auto_fuzzy"
    MANUAL = "manual"
    ADMIN = "admin"


class InvalidHost(ValueError):
    """Host data that cannot identify anybody (no usable id, e-mail, username or name)."""


def normalize_email(value: object) -> str | None:
    """'  Fabian@AskPro.de ' -> 'fabian@askpro.de'; anything that is not a string with an '@' -> None."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if "@" in email else None


def _text(value: object) -> str | None:
    """A stripped, non-empty string; `{firstName, lastName}` joined; anything else -> None."""
    if isinstance(value, Mapping):
        parts = [_text(value.get("firstName")), _text(value.get("lastName"))]
        value = " ".join(p for p in parts if p)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _safe(value: object) -> str:
    """A value fit for an exception message: short, and never an e-mail."""
    text = str(value)
    if "@" in text:
        return "<redacted>"
    return repr(text[:32] + "…") if len(text) > 32 else repr(text)


def _parse_id(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidHost("host id is a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if value <= 0:
            raise InvalidHost(f"host id must be positive, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text or text.casefold() == PLACEHOLDER:
            return None
        if not _DIGITS.fullmatch(text):
            raise InvalidHost(f"non-numeric host id {_safe(text)}")
        return _parse_id(int(text))
    raise InvalidHost(f"host id has an unsupported type ({type(value).__name__})")


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    return next((data[k] for k in keys if data.get(k) is not None), None)


class HostRef(BaseModel):
    """A Cal.com host as a booking, webhook or membership describes it."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None  # None when Cal.com sends "unknown" or no id
    email: str | None = None  # normalised: stripped, lower-case
    name: str | None = None
    username: str | None = None
    time_zone: str | None = None
    display_email: str | None = None  # Cal.com's `displayEmail` when it differs from `email`

    @field_validator("email", "display_email", mode="before")
    @classmethod
    def _normalise_email(cls, value: object) -> str | None:
        return normalize_email(value)

    @field_validator("name", "username", "time_zone", mode="before")
    @classmethod
    def _strip(cls, value: object) -> str | None:
        return _text(value)

    @classmethod
    def from_calcom(cls, data: Mapping[str, Any]) -> HostRef:
        """Lenient parse of `{id, email, name, username, timeZone}` (also `userId`, `displayEmail`).

        Raises InvalidHost for a non-numeric id other than "unknown", or when nothing usable is left.
        Wrong types count as missing (a number as a name is no name). The literal "unknown" is
        Cal.com's placeholder, not a value: an "unknown" name or username counts as missing too.
        """
        if not isinstance(data, Mapping):
            raise InvalidHost(f"host is not an object ({type(data).__name__})")
        host_id = _parse_id(data.get("id"))
        if host_id is None:
            host_id = _parse_id(_first(data, "userId", "user_id"))
        email = normalize_email(data.get("email"))
        display_email = normalize_email(_first(data, "displayEmail", "display_email"))
        name = _text(data.get("name"))
        username = _text(data.get("username"))
        name = None if name and name.casefold() == PLACEHOLDER else name
        username = None if username and username.casefold() == PLACEHOLDER else username
        if host_id is None and not (email or display_email or username or name):
            raise InvalidHost("host has no id, e-mail, username or name")
        return cls(
            id=host_id,
            email=email or display_email,
            display_email=display_email if email and display_email != email else None,
            name=name,
            username=username,
            time_zone=_text(_first(data, "timeZone", "time_zone")),
        )

    @property
    def emails(self) -> tuple[str, ...]:
        """Every e-mail the host is known by (`email`, then a differing `displayEmail`)."""
        return tuple(e for e in (self.email, self.display_email) if e)

    @property
    def label(self) -> str:
        """How logs and audits name the host without exposing the e-mail."""
        return f"host {self.id}" if self.id is not None else f"host {self.username or self.name or '?'}"


class ManualRule(BaseModel):
    """An admin's rule: this Cal.com host id, e-mail or username is this staff member."""

    model_config = ConfigDict(frozen=True)

    match_on: Literal["host_id", "email", "username"]
    value: str
    staff_id: str

    def applies_to(self, host: HostRef) -> bool:
        wanted = self.value.strip()
        if self.match_on == "host_id":
            return host.id is not None and bool(_DIGITS.fullmatch(wanted)) and int(wanted) == host.id
        if self.match_on == "email":
            return normalize_email(wanted) in host.emails
        return host.username is not None and wanted.casefold() == host.username.casefold()

    @property
    def description(self) -> str:
        what = {"host_id": "Cal.com host id", "email": "e-mail", "username": "Cal.com username"}
        return f"{what[self.match_on]} {self.value.strip()}"


class Match(BaseModel):
    """One strategy's opinion, explaining itself."""

    model_config = ConfigDict(frozen=True)

    staff_id: str
    source: MappingSource
    priority: int
    confidence: int = Field(ge=0, le=100)
    reason: str

    @property
    def rank(self) -> tuple[int, int]:
        return self.priority, self.confidence


class Outcome(StrEnum):
    LINK = "link"  # auto-link: best match at/above the threshold and unambiguous
    REVIEW = "review"  # candidates exist but none may be linked automatically
    UNMATCHED = "unmatched"  # nobody plausible


class MatchDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    best: Match | None = None
    candidates: tuple[Match, ...] = ()  # best first, one per staff member
    reason: str


# ---------------------------------------------------------------------------------------- strategies


def _manual(
    host: HostRef, staff: Sequence[StaffMember], rules: Sequence[ManualRule], notes: list[str]
) -> Iterator[Match]:
    by_id = {m.staff_id: m for m in staff}
    for rule in rules:
        if not rule.applies_to(host):
            continue
        member = by_id.get(rule.staff_id)
        if member is None:
            notes.append(f"manual rule {rule.description} points at unknown staff member {rule.staff_id}")
        elif not member.active:
            notes.append(f"manual rule {rule.description} points at inactive staff member {rule.staff_id}")
        else:
            yield Match(
                staff_id=member.staff_id,
                source=MappingSource.MANUAL,
                priority=MANUAL_PRIORITY,
                confidence=MANUAL_CONFIDENCE,
                reason=f"manual rule: {rule.description} is staff member {member.staff_id}",
            )


def _email(host: HostRef, member: StaffMember) -> Match | None:
    if not host.emails:
        return None
    primary = normalize_email(member.email)
    others = {normalize_email(e) for e in member.other_emails} - {None}
    for email in host.emails:
        if email == primary:
            where = "the staff member's e-mail"
        elif email in others:
            where = "one of the staff member's other e-mails"
        else:
            continue
        return Match(
            staff_id=member.staff_id,
            source=MappingSource.AUTO_EMAIL,
            priority=EMAIL_PRIORITY,
            confidence=EMAIL_CONFIDENCE,
            reason=f"e-mail {email} matches {where}",
        )
    return None


def _username(host: HostRef, member: StaffMember) -> Match | None:
    if host.id is not None and member.calcom_user_id == host.id:
        reason = f"Cal.com user id {host.id} is the staff member's linked Cal.com user id"
    elif (
        host.username
        and member.calcom_username
        and host.username.casefold() == member.calcom_username.strip().casefold()
    ):
        reason = f"Cal.com username {host.username} matches the staff member's Cal.com username"
    else:
        return None
    return Match(
        staff_id=member.staff_id,
        source=MappingSource.AUTO_USERNAME,
        priority=USERNAME_PRIORITY,
        confidence=USERNAME_CONFIDENCE,
        reason=reason,
    )


def _exact_name(host: HostRef, member: StaffMember) -> Match | None:
    if not host.name or exact_name_key(host.name) != exact_name_key(member.name):
        return None
    return Match(
        staff_id=member.staff_id,
        source=MappingSource.AUTO_NAME,
        priority=NAME_PRIORITY,
        confidence=NAME_CONFIDENCE,
        reason=(
            f"name {host.name!r} equals the staff member's name {member.name!r}, "
            "ignoring case, spaces, umlaut spelling and accents"
        ),
    )


def _fuzzy_name(host: HostRef, member: StaffMember) -> Match | None:
    found = fuzzy_name_match(host.name, member.name) if host.name else None
    if found is None:
        return None
    return Match(
        staff_id=member.staff_id,
        source=MappingSource.AUTO_FUZZY,
        priority=FUZZY_PRIORITY,
        confidence=found.confidence,
        reason=f"name {host.name!r} resembles the staff member's name {member.name!r}: {found.description}",
    )


_AUTOMATIC = (_email, _username, _exact_name, _fuzzy_name)


# ---------------------------------------------------------------------------------------- staff index


class StaffIndex:
    """The staff members a host could match, found without comparing the host with everyone.

    Every automatic strategy needs something in common with the host: an e-mail (also the staff
    member's other e-mails), the Cal.com user id or username, the exact name, or, for fuzzy names,
    one token spelling (a fuzzy match needs an equal token pair: `token_spellings`). `candidates`
    returns the staff sharing any of these, plus those the manual rules name, in directory order,
    so `decide(host, index.candidates(host, rules), rules)` decides as `decide` over the whole
    staff does, in time that grows with the candidates instead of the company (the team sync
    resolves every member of a team).
    """

    def __init__(self, staff: Sequence[StaffMember]) -> None:
        self._staff: dict[str, StaffMember] = {}
        self._position: dict[str, int] = {}
        self._keys: dict[str, set[str]] = {}
        for member in staff:
            if member.staff_id in self._staff:
                continue  # decide() keeps a staff id's first entry too
            self._position[member.staff_id] = len(self._staff)
            self._staff[member.staff_id] = member
            keys = {
                f"email:{e}" for e in (normalize_email(x) for x in (member.email, *member.other_emails)) if e
            }
            keys |= {f"name:{spelling}" for spelling in token_spellings(member.name)}
            keys.add(f"exact:{exact_name_key(member.name)}")
            if member.calcom_user_id is not None:
                keys.add(f"id:{member.calcom_user_id}")
            if member.calcom_username and member.calcom_username.strip():
                keys.add(f"username:{member.calcom_username.strip().casefold()}")
            for key in keys:
                self._keys.setdefault(key, set()).add(member.staff_id)

    def candidates(self, host: HostRef, manual_rules: Sequence[ManualRule] = ()) -> list[StaffMember]:
        keys = {f"email:{e}" for e in host.emails}
        if host.id is not None:
            keys.add(f"id:{host.id}")
        if host.username:
            keys.add(f"username:{host.username.casefold()}")
        if host.name:
            keys.add(f"exact:{exact_name_key(host.name)}")
            keys |= {f"name:{spelling}" for spelling in token_spellings(host.name)}
        found = {staff_id for key in keys for staff_id in self._keys.get(key, ())}
        found |= {rule.staff_id for rule in manual_rules if rule.staff_id in self._staff}
        return [self._staff[staff_id] for staff_id in sorted(found, key=self._position.__getitem__)]


# ---------------------------------------------------------------------------------------- decision


def _validate_threshold(threshold: object) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 100:
        raise ValueError(f"threshold must be an integer from 0 to 100, got {threshold!r}")
    return threshold


def _sentence(main: str, notes: Iterable[str]) -> str:
    extra = "; ".join(notes)
    return f"{main}; {extra}" if extra else main


def decide(
    host: HostRef,
    staff: Sequence[StaffMember],
    manual_rules: Sequence[ManualRule] = (),
    threshold: int = DEFAULT_THRESHOLD,
) -> MatchDecision:
    """Run every strategy against the company's active staff and decide.

    LINK only when the strongest candidate is unique and its confidence reaches `threshold`
    (0..100, default 75); equally strong candidates of different staff members are REVIEW, never
    LINK. Notes (e.g. a manual rule pointing at an inactive staff member) end up in `reason`.
    """
    threshold = _validate_threshold(threshold)
    members: dict[str, StaffMember] = {}
    for member in staff:
        members.setdefault(member.staff_id, member)  # a staff id listed twice is one person
    active = [m for m in members.values() if m.active]
    notes: list[str] = []

    strongest: dict[str, Match] = {}

    def keep(match: Match | None) -> None:
        if match is None:
            return
        current = strongest.get(match.staff_id)
        if current is None or match.rank > current.rank:
            strongest[match.staff_id] = match

    for match in _manual(host, list(members.values()), manual_rules, notes):
        keep(match)
    for member in active:
        for strategy in _AUTOMATIC:
            keep(strategy(host, member))

    order = {m.staff_id: index for index, m in enumerate(active)}
    candidates = tuple(
        sorted(strongest.values(), key=lambda m: (-m.priority, -m.confidence, order[m.staff_id]))
    )
    if not candidates:
        return MatchDecision(
            outcome=Outcome.UNMATCHED,
            reason=_sentence(f"no active staff member matches {host.label}", notes),
        )
    top = candidates[0]
    tied = [c for c in candidates if c.rank == top.rank]
    if len(tied) > 1:
        who = ", ".join(c.staff_id for c in tied)
        return MatchDecision(
            outcome=Outcome.REVIEW,
            candidates=candidates,
            reason=_sentence(
                f"ambiguous: {len(tied)} staff members match equally well "
                f"({top.source.value}, confidence {top.confidence}: {who}), so {host.label} is not linked",
                notes,
            ),
        )
    if top.confidence >= threshold:
        others = len(candidates) - 1
        weaker = f", {others} weaker candidate{'s' if others > 1 else ''} set aside" if others else ""
        return MatchDecision(
            outcome=Outcome.LINK,
            best=top,
            candidates=candidates,
            reason=_sentence(
                f"{host.label} linked to staff member {top.staff_id}: {top.reason} "
                f"(confidence {top.confidence} >= threshold {threshold}{weaker})",
                notes,
            ),
        )
    return MatchDecision(
        outcome=Outcome.REVIEW,
        candidates=candidates,
        reason=_sentence(
            f"best candidate for {host.label} is staff member {top.staff_id} ({top.reason}), "
            f"but its confidence {top.confidence} is below the auto-link threshold {threshold}",
            notes,
        ),
    )


# ---------------------------------------------------------------------------------------- extraction


class HostExtraction(BaseModel):
    model_config = ConfigDict(frozen=True)

    hosts: tuple[HostRef, ...] = ()  # the organizer first
    warnings: tuple[str, ...] = ()


def _booking_label(booking: Mapping[str, Any]) -> str:
    # The numeric id, not the uid: a uid is a capability token on Cal.com's public endpoints and
    # these labels end up in logs.
    for key in ("id", "bookingId"):
        value = booking.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            text = str(value).strip()
            return text if "@" not in text and len(text) <= 64 else _safe(text)
    return "(without id)"


def _unwrap(booking: object, warnings: list[str]) -> Mapping[str, Any] | None:
    """The booking itself from a REST envelope (`{status, data}`) or a webhook (`{triggerEvent, payload}`)."""
    if not isinstance(booking, Mapping):
        return None
    if "triggerEvent" in booking and isinstance(booking.get("payload"), Mapping):
        return booking["payload"]
    if "data" in booking and not {"uid", "hosts", "organizer"} & booking.keys():
        data = booking["data"]
        if isinstance(data, Mapping):
            return data
        if isinstance(data, list):
            first = next((item for item in data if isinstance(item, Mapping)), None)
            if first is not None:
                if len(data) > 1:
                    warnings.append(f"response holds {len(data)} bookings; using the first one's hosts")
                return first
        return None
    return booking


def _is_placeholder(item: Mapping[str, Any]) -> bool:
    """Cal.com's `{"id": "unknown", "name": "unknown", ...}` for a booking without a user."""
    raw_id = item.get("id")
    return (
        isinstance(raw_id, str)
        and raw_id.strip().casefold() == PLACEHOLDER
        and not normalize_email(item.get("email"))
        and not normalize_email(_first(item, "displayEmail", "display_email"))
    )


class _Hosts:
    """Collects hosts in order, without duplicates (same id or same e-mail)."""

    def __init__(self, label: str, warnings: list[str]) -> None:
        self.label = label
        self.warnings = warnings
        self.hosts: list[HostRef] = []
        self._ids: set[int] = set()
        self._emails: set[str] = set()

    def add(self, item: object, where: str) -> None:
        if not isinstance(item, Mapping):
            self.warnings.append(f"booking {self.label}: {where} is not an object; skipped")
            return
        if _is_placeholder(item):
            self.warnings.append(
                f"booking {self.label}: {where} is Cal.com's 'unknown' placeholder host "
                "(booking without a user); skipped"
            )
            return
        try:
            host = HostRef.from_calcom(item)
        except InvalidHost as exc:
            self.warnings.append(f"booking {self.label}: {where} skipped: {exc}")
            return
        if (host.id is not None and host.id in self._ids) or self._emails.intersection(host.emails):
            return
        self.hosts.append(host)
        if host.id is not None:
            self._ids.add(host.id)
        self._emails.update(host.emails)

    def as_list(self, value: object, where: str) -> list[Any]:
        """`value` when it is a list; [] when missing, or with a warning when it is something else."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.warnings.append(f"booking {self.label}: {where} is not a list; ignored")
            return []
        return value


def _responses_host(booking: Mapping[str, Any], key: str) -> object:
    """`responses.hosts[0]` / `bookingFieldsResponses.hosts[0]` (webhook responses wrap as {label, value})."""
    responses = booking.get(key)
    if not isinstance(responses, Mapping):
        return None
    hosts = responses.get("hosts")
    if isinstance(hosts, Mapping) and "value" in hosts:
        hosts = hosts["value"]
    if isinstance(hosts, list):
        return hosts[0] if hosts else None
    return hosts


def _email_set(emails: object) -> set[str]:
    if isinstance(emails, str):  # one e-mail passed instead of a collection
        emails = (emails,)
    if not isinstance(emails, Iterable):
        return set()
    return {e for e in (normalize_email(x) for x in emails) if e}


def extract_hosts(booking: Mapping[str, Any], team_member_emails: Collection[str] = ()) -> HostExtraction:
    """The hosts of a Cal.com booking (REST or webhook payload), organizer first.

    Order: `hosts` (REST; `hosts[0]` is the organizer); when that yields nobody, the webhook's
    `organizer`, then `responses.hosts[0]` / `bookingFieldsResponses.hosts[0]`. Then the co-hosts
    (round robin with fixed hosts, collective): attendees whose e-mail is in `team_member_emails`
    or in the webhook's `team.members`, then the remaining `team.members`. Duplicates (same id or
    e-mail) are dropped. Also accepts the REST envelope (`{status, data}`) and the webhook envelope
    (`{triggerEvent, payload}`). Never raises: problems become warnings (without e-mails).
    """
    warnings: list[str] = []
    unwrapped = _unwrap(booking, warnings)
    if unwrapped is None:
        return HostExtraction(warnings=(*warnings, "booking is not an object; no hosts"))
    booking = unwrapped
    label = _booking_label(booking)
    found = _Hosts(label, warnings)

    for index, item in enumerate(found.as_list(booking.get("hosts"), "hosts")):
        found.add(item, f"hosts[{index}]")
    if not found.hosts and booking.get("organizer") is not None:
        found.add(booking["organizer"], "organizer")
    for key in ("responses", "bookingFieldsResponses", "booking_fields_responses"):
        if found.hosts:
            break
        item = _responses_host(booking, key)
        if item is not None:
            found.add(item, f"{key}.hosts[0]")

    team = booking.get("team")
    members: list[Any] = []
    if team is not None:
        if isinstance(team, Mapping):
            members = found.as_list(team.get("members"), "team.members")
        else:
            warnings.append(f"booking {label}: team is not an object; ignored")
    team_emails = _email_set(team_member_emails)
    team_emails |= _email_set(m.get("email") for m in members if isinstance(m, Mapping))

    for index, attendee in enumerate(found.as_list(booking.get("attendees"), "attendees")):
        if not isinstance(attendee, Mapping):
            warnings.append(f"booking {label}: attendees[{index}] is not an object; skipped")
            continue
        emails = {normalize_email(attendee.get("email")), normalize_email(attendee.get("displayEmail"))}
        if team_emails & emails:
            found.add(attendee, f"attendees[{index}]")
    for index, member in enumerate(members):
        found.add(member, f"team.members[{index}]")

    if not found.hosts:
        warnings.append(f"booking {label} has no hosts")
    return HostExtraction(hosts=tuple(found.hosts), warnings=tuple(warnings))
