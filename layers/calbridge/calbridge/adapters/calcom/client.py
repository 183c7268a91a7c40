"""Cal.com API v2 client: one method per endpoint calbridge uses, typed in and out.

Design choices, all from docs/reference/calcom.md:

- One `httpx.Client` per instance, so keep one instance per Lambda container (module level or
  cached) to reuse connections. httpx.Client is thread-safe and so is this class (no other state).
- `cal-api-version` is sent per endpoint family from `CalcomApiVersions`, never globally (§1.2).
- The API key comes from `api_key_provider`, called on every request so a rotated secret is picked
  up; the provider is expected to cache. The key is never logged nor put in an error message.
- NO RETRIES here. Re-sending `POST /v2/bookings` can create a second booking with another host
  (§2.7), so the booking saga and the sync decide what to retry, using the typed errors raised
  by `to_calcom_error` (see error_mapping.py) and `RateLimited.retry_after_s`.
- `base_url` is the API host, e.g. `https://api.cal.com`; paths are `/v2/...`. A base URL that
  already ends in `/v2` has that suffix removed, and any other path prefix is kept, so a
  self-hosted `https://cal.example.com/api/v2` works too.
- An answer whose shape does not parse raises CalcomUnavailable: Cal.com broke its contract and
  the outcome of a write is unknown, exactly as after a timeout.
- A `breaker` (adapters/calcom/breaker.py, shared by all containers) runs every exchange: while
  Cal.com is failing it raises CalcomCircuitOpen without any I/O.
- A `rate_limiter` (adapters/calcom/rate_limit.py, shared by all containers) gives every request
  the breaker lets through a permit of the key's rate limit before it is sent, waiting at most
  until the caller's deadline (less MIN_REQUEST_S) or its own bound; without one in time it
  raises CalcomPaced (a RateLimited) and sends nothing.
- A caller with a time budget (a tool call, docs/adr/0026-tool-call-budget.md) uses a view `until`
  its deadline: every request's timeouts are cut to the time left, so no thread outlives the
  answer, and no request is sent with less than MIN_REQUEST_S left.
- Every call is made for one company, through the view `for_company(company_id)`: its requests
  carry that company's key (its own or the platform's, from `company_key_provider`), and pass the
  breaker and the rate limiter of that key (docs/adr/0030-calcom-credential-per-company.md).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Protocol, Self
from urllib.parse import quote

import httpx
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ValidationError

from calbridge.adapters.calcom.error_mapping import is_error_body, json_or_none, to_calcom_error
from calbridge.adapters.calcom.models import (
    AvailableSlots,
    Booking,
    CreateBookingRequest,
    Pagination,
    RescheduleBookingRequest,
    TeamEventType,
    TeamEventTypeCreate,
    TeamEventTypeUpdate,
    TeamMembership,
    UserEventType,
    utc_z,
)
from calbridge.config import CalcomApiVersions, Settings
from calbridge.errors import CalcomContractError, CalcomError, CalcomPaced, CalcomUnavailable
from calbridge.observability import add_metric_by, logger, metrics, timed
from calbridge.timing import Deadline

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
MIN_REQUEST_S = 0.5
"""Less time than this left of a caller's budget: the request is not sent (Cal.com's p50 is ~0.15 s)."""
BOOKINGS_PAGE_SIZE = 100  # Cal.com's default `take` for bookings (max 250)
MEMBERSHIPS_PAGE_SIZE = 250  # Cal.com's default and maximum `take` for memberships
MAX_PAGES = 500
"""Safety net: a listing that has not ended after this many pages is treated as a Cal.com fault."""

SortOrder = Literal["asc", "desc"]
_HasMore = Callable[[dict[str, Any], int, int, int], bool]
Exchange = Callable[[], dict[str, Any]]
RequestGuard = Callable[[str, Exchange], dict[str, Any]]
"""Wraps every exchange of a `guarded` client: gets the HTTP method and the exchange to run."""
Breaker = Callable[[Exchange], dict[str, Any]]
"""Runs every single exchange, or refuses it without I/O (adapters/calcom/breaker.py)."""


class RateLimiter(Protocol):
    """Hands out permits of the key's rate limit (adapters/calcom/rate_limit.py)."""

    def acquire(self, max_wait_s: float | None = None) -> float:
        """Waits for one permit (at most `max_wait_s`, else its own bound): the seconds waited.
        Raises CalcomPaced when none is due in time."""
        ...


class CalcomClient:
    """Talks to Cal.com API v2 with one pooled connection; raises only `CalcomError` subclasses."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key_provider: Callable[[], str],
        versions: CalcomApiVersions | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        breaker: Breaker | None = None,
        rate_limiter: RateLimiter | None = None,
        company_key_provider: Callable[[str], str] | None = None,
    ) -> None:
        self._api_key = api_key_provider
        self._company_key = company_key_provider
        self._versions = versions or CalcomApiVersions()
        self._http = httpx.Client(
            base_url=_api_host(base_url),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "calbridge"},
        )
        self._timeout = timeout
        self._guard: RequestGuard | None = None
        self._breaker = breaker
        self._rate_limiter = rate_limiter
        self._deadline: Deadline | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        api_key_provider: Callable[[], str],
        *,
        transport: httpx.BaseTransport | None = None,
        breaker: Breaker | None = None,
        rate_limiter: RateLimiter | None = None,
        company_key_provider: Callable[[str], str] | None = None,
    ) -> Self:
        """Build from environment settings; write and pool timeouts follow read and connect."""
        read, connect = settings.calcom_read_timeout_s, settings.calcom_connect_timeout_s
        return cls(
            base_url=str(settings.calcom_base_url),
            api_key_provider=api_key_provider,
            versions=settings.calcom_api_versions,
            timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
            transport=transport,
            breaker=breaker,
            rate_limiter=rate_limiter,
            company_key_provider=company_key_provider,
        )

    def guarded(self, guard: RequestGuard) -> Self:
        """A view of this client whose every HTTP exchange (each page of a listing too) runs
        through `guard(method, exchange)`: pacing, retrying a throttled call, a deadline, counting
        (adapters/calcom/pacing.py). It shares this client's connection pool: close only the original.
        """
        view = copy.copy(self)
        view._guard = guard
        return view

    def until(self, deadline: Deadline) -> Self:
        """A view of this client whose requests end by `deadline` (a caller's time budget): each
        one's timeouts are cut to the time left, and none is sent with less than MIN_REQUEST_S
        left (CalcomUnavailable, raised before the breaker: Cal.com was not asked). It shares this
        client's connection pool: close only the original."""
        view = copy.copy(self)
        view._deadline = deadline
        return view

    def for_company(self, company_id: str) -> Self:
        """A view of this client whose requests carry the company's API key, read per request
        (`company_key_provider(company_id)`, which caches: a rotated key is used once its cache
        runs out), through the breaker and rate limiter of that key. A client built without a
        company key provider has one key for every company: the view is the client itself. It
        shares this client's connection pool: close only the original."""
        if self._company_key is None:
            return self
        company_key = self._company_key

        def api_key() -> str:
            return company_key(company_id)

        return self.with_api_key(api_key)

    def with_api_key(self, api_key_provider: Callable[[], str]) -> Self:
        """A view of this client whose requests carry the key `api_key_provider` gives, through
        that key's breaker and rate limiter (a stateless test double is kept as it is). It shares
        this client's connection pool: close only the original."""
        view = copy.copy(self)
        view._api_key = api_key_provider
        view._breaker = _for_key(self._breaker, api_key_provider)
        view._rate_limiter = _for_key(self._rate_limiter, api_key_provider)
        return view

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- bookings (cal-api-version: bookings) --------------------------------------------------

    def create_booking(self, request: CreateBookingRequest) -> Booking:
        """Book a slot. 400/409 raise SlotUnavailable.

        For a recurring event type Cal.com returns every occurrence; this returns the earliest one
        (calbridge books single appointments; its `recurring_booking_uid` names the series).
        """
        envelope = self._send(
            "POST", "/v2/bookings", self._versions.bookings, body=request.body(), books_slot=True
        )
        return _earliest(_parse_list(Booking, envelope.get("data")))

    def get_booking(self, uid: str) -> Booking:
        """One booking by uid; for a recurring-series uid, its earliest occurrence."""
        envelope = self._send("GET", f"/v2/bookings/{_segment(uid)}", self._versions.bookings)
        return _earliest(_parse_list(Booking, envelope.get("data")))

    def list_bookings(
        self,
        *,
        status: Iterable[str] | None = None,
        attendee_email: str | None = None,
        attendee_name: str | None = None,
        event_type_id: int | None = None,
        event_type_ids: Iterable[int] | None = None,
        team_id: int | None = None,
        after_start: datetime | None = None,
        before_end: datetime | None = None,
        after_updated_at: datetime | None = None,
        sort_start: SortOrder | None = None,
        page_size: int = BOOKINGS_PAGE_SIZE,
    ) -> list[Booking]:
        """Every booking matching the filters, all pages fetched.

        `status` values: upcoming, recurring, past, cancelled, unconfirmed. Datetimes must be aware.
        """
        filters = {
            "status": _comma_list(status),
            "attendeeEmail": attendee_email,
            "attendeeName": attendee_name,
            "eventTypeId": event_type_id,
            "eventTypeIds": _comma_list(event_type_ids),
            "teamId": team_id,
            "afterStart": _utc_or_none(after_start),
            "beforeEnd": _utc_or_none(before_end),
            "afterUpdatedAt": _utc_or_none(after_updated_at),
            "sortStart": sort_start,
        }
        items = self._collect(
            "/v2/bookings", self._versions.bookings, filters, page_size, has_more=_bookings_have_more
        )
        return _parse_list(Booking, items)

    def cancel_booking(self, uid: str, reason: str | None = None) -> Booking:
        """Cancel a booking; returns it as Cal.com reports it afterwards (status `cancelled`)."""
        body = {"cancellationReason": reason} if reason else {}
        envelope = self._send(
            "POST", f"/v2/bookings/{_segment(uid)}/cancel", self._versions.bookings, body=body
        )
        return _earliest(_parse_list(Booking, envelope.get("data")))

    def reschedule_booking(
        self, uid: str, start: datetime, *, reason: str | None = None, rescheduled_by: str | None = None
    ) -> Booking:
        """Move a booking. Returns the NEW booking: persist its uid, the old one is now cancelled."""
        request = RescheduleBookingRequest(
            start=start, rescheduling_reason=reason, rescheduled_by=rescheduled_by
        )
        envelope = self._send(
            "POST",
            f"/v2/bookings/{_segment(uid)}/reschedule",
            self._versions.bookings,
            body=request.body(),
            books_slot=True,
        )
        return _earliest(_parse_list(Booking, envelope.get("data")))

    # --- slots (cal-api-version: slots) --------------------------------------------------------

    def get_slots(
        self,
        event_type_id: int,
        start: datetime,
        end: datetime,
        time_zone: str,
        *,
        duration: int | None = None,
        booking_uid_to_reschedule: str | None = None,
        ends: bool = True,
    ) -> AvailableSlots:
        """Bookable slots from `start` to `end` (aware instants, sent in UTC), as times in
        `time_zone` keyed by that zone's dates.

        Cal.com reads a date-only window as the UTC day whatever `time_zone` says
        (slots-input.service.ts): ask for a local day with its local midnights as instants.
        `ends` False asks for the starts only (`format=time`, get-slots.input.ts): half the answer
        of a week of 5-minute slots.
        """
        params = {
            "eventTypeId": event_type_id,
            "start": utc_z(start),
            "end": utc_z(end),
            "timeZone": time_zone,
            "format": "range" if ends else "time",
            "duration": duration,
            "bookingUidToReschedule": booking_uid_to_reschedule,
        }
        envelope = self._send("GET", "/v2/slots", self._versions.slots, params=params)
        return _parse(AvailableSlots, {"days": envelope.get("data") or {}})

    # --- teams (cal-api-version: teams) --------------------------------------------------------

    def list_team_memberships(
        self, team_id: int, *, page_size: int = MEMBERSHIPS_PAGE_SIZE
    ) -> list[TeamMembership]:
        """All memberships of a team, pending invitations included (filter on `accepted`)."""
        items = self._collect(
            f"/v2/teams/{team_id}/memberships", self._versions.teams, {}, page_size, has_more=_page_was_full
        )
        return _parse_list(TeamMembership, items)

    def list_team_event_types(self, team_id: int, *, event_slug: str | None = None) -> list[TeamEventType]:
        envelope = self._send(
            "GET", f"/v2/teams/{team_id}/event-types", self._versions.teams, params={"eventSlug": event_slug}
        )
        return _parse_list(TeamEventType, envelope.get("data"))

    def get_team_event_type(self, team_id: int, event_type_id: int) -> TeamEventType:
        envelope = self._send("GET", f"/v2/teams/{team_id}/event-types/{event_type_id}", self._versions.teams)
        return _parse(TeamEventType, envelope.get("data"))

    def create_team_event_type(self, team_id: int, event_type: TeamEventTypeCreate) -> TeamEventType:
        envelope = self._send(
            "POST", f"/v2/teams/{team_id}/event-types", self._versions.teams, body=event_type.body()
        )
        return _parse(TeamEventType, envelope.get("data"))

    def update_team_event_type(
        self, team_id: int, event_type_id: int, changes: TeamEventTypeUpdate
    ) -> TeamEventType:
        """Patch an event type. `changes.hosts`, when given, replaces the whole host list."""
        envelope = self._send(
            "PATCH",
            f"/v2/teams/{team_id}/event-types/{event_type_id}",
            self._versions.teams,
            body=changes.body(),
        )
        return _parse(TeamEventType, envelope.get("data"))

    def delete_team_event_type(self, team_id: int, event_type_id: int) -> None:
        self._send("DELETE", f"/v2/teams/{team_id}/event-types/{event_type_id}", self._versions.teams)

    def check_team_access(self, team_id: int) -> None:
        """One cheap request that only a key able to see the team answers: the first membership
        of the team (a key Cal.com does not know: 401, CalcomRejected; another team's key: 403)."""
        self._send(
            "GET", f"/v2/teams/{team_id}/memberships", self._versions.teams, params={"take": 1, "skip": 0}
        )

    # --- user event types (cal-api-version: event_types) ---------------------------------------

    def list_user_event_types(self, username: str) -> list[UserEventType]:
        """A user's personal event types (hidden ones only when the key belongs to that user)."""
        envelope = self._send(
            "GET", "/v2/event-types", self._versions.event_types, params={"username": username}
        )
        return _parse_list(UserEventType, envelope.get("data"))

    # --- plumbing ------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        version: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        books_slot: bool = False,
    ) -> dict[str, Any]:
        """One exchange. Returns the JSON envelope ({} for an empty body) or raises a CalcomError.

        The breaker sees each exchange the guard runs (a retry too), and refuses it while open;
        what it lets through waits for a permit of the key's rate limit."""

        def exchange() -> dict[str, Any]:
            timeout = self._timeout_left()

            def send() -> dict[str, Any]:
                return self._exchange(
                    method,
                    path,
                    version,
                    params=params,
                    body=body,
                    books_slot=books_slot,
                    timeout=self._paced(timeout),
                )

            return send() if self._breaker is None else self._breaker(send)

        return exchange() if self._guard is None else self._guard(method, exchange)

    def _exchange(
        self,
        method: str,
        path: str,
        version: str,
        *,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        books_slot: bool,
        timeout: httpx.Timeout | None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._api_key()}", "cal-api-version": version}
        query = {key: value for key, value in (params or {}).items() if value is not None}
        endpoint = _endpoint(method, path)
        try:
            with timed("CalcomLatency", endpoint=endpoint):
                response = self._http.request(
                    method,
                    path,
                    params=query,
                    json=body,
                    headers=headers,
                    timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                )
        except httpx.RequestError as exc:
            raise _counted(endpoint, to_calcom_error(exc)) from exc
        envelope = json_or_none(response)
        if not response.is_success or is_error_body(envelope):
            error = to_calcom_error(response, books_slot=books_slot)
            if isinstance(error, CalcomContractError):
                _report_contract_error(endpoint, error)
            raise _counted(endpoint, error)
        if isinstance(envelope, dict):
            return envelope
        if not response.content:
            return {}
        # The path is left out on purpose: a booking uid in it works as a capability token.
        raise _counted(
            endpoint,
            CalcomUnavailable("Cal.com answered with a body that is not a JSON object", response.status_code),
        )

    def _paced(self, timeout: httpx.Timeout | None) -> httpx.Timeout | None:
        """Wait for the rate limit's permit: a caller with a deadline at most until MIN_REQUEST_S
        before it (CalcomPaced after that), and its timeouts cut again to what the wait left."""
        if self._rate_limiter is None:
            return timeout
        if self._deadline is None:
            self._rate_limiter.acquire()
            return timeout
        self._rate_limiter.acquire(self._deadline.remaining() - MIN_REQUEST_S)
        left = self._deadline.remaining()
        if left < MIN_REQUEST_S:  # the permit came at the very end: not sent, Cal.com not asked
            raise CalcomPaced(f"not sent: {left:.2f} s left of the caller's time budget", retry_after_s=0.0)
        return self._cut_to(left)

    def _timeout_left(self) -> httpx.Timeout | None:
        """This request's timeouts: the client's, or what is left of the view's deadline."""
        if self._deadline is None:
            return None
        left = self._deadline.remaining()
        if left < MIN_REQUEST_S:
            raise CalcomUnavailable(f"not sent: {left:.2f} s left of the caller's time budget")
        return self._cut_to(left)

    def _cut_to(self, left: float) -> httpx.Timeout:
        cut = self._timeout
        return httpx.Timeout(
            connect=min(cut.connect or left, left),
            read=min(cut.read or left, left),
            write=min(cut.write or left, left),
            pool=min(cut.pool or left, left),
        )

    def _collect(
        self, path: str, version: str, params: dict[str, Any], page_size: int, *, has_more: _HasMore
    ) -> list[Any]:
        """Raw items of every page of an offset-paginated (`take`/`skip`) listing."""
        if not 1 <= page_size <= 250:
            raise ValueError("page_size must be between 1 and 250")
        items: list[Any] = []
        for _ in range(MAX_PAGES):
            envelope = self._send(
                "GET", path, version, params={**params, "take": page_size, "skip": len(items)}
            )
            page = _as_list(envelope.get("data"))
            items.extend(page)
            if not page or not has_more(envelope, len(page), len(items), page_size):
                return items
        raise CalcomUnavailable(f"Cal.com kept paging {path} beyond {MAX_PAGES} pages")


# --- helpers -------------------------------------------------------------------------------------


def _for_key[Part](part: Part, api_key_provider: Callable[[], str]) -> Part:
    """The breaker's or rate limiter's view for another key (their `for_key`); a part that keeps
    no state per key (a test's double) serves every key as it is."""
    for_key = getattr(part, "for_key", None)
    return part if for_key is None else for_key(api_key_provider)


#: A request's path as its route template: ids are no metric dimension (unbounded) and a booking
#: uid works as a capability, so neither is logged either.
_PATH_IDS = (
    (re.compile(r"^/v2/bookings/[^/]+"), "/v2/bookings/{uid}"),
    (re.compile(r"^/v2/teams/\d+"), "/v2/teams/{teamId}"),
    (re.compile(r"/event-types/\d+$"), "/event-types/{eventTypeId}"),
)


def _endpoint(method: str, path: str) -> str:
    """`POST /v2/bookings/{uid}/cancel`: the method and route template of a request."""
    for pattern, template in _PATH_IDS:
        path = pattern.sub(template, path)
    return f"{method} {path}"


def _counted(endpoint: str, error: CalcomError) -> CalcomError:
    """`error`, counted as a failed exchange of `endpoint` by its kind (to_calcom_error's classes)."""
    add_metric_by("CalcomRequestFailed", MetricUnit.Count, 1, endpoint=endpoint, error=type(error).__name__)
    return error


def _report_contract_error(endpoint: str, error: CalcomContractError) -> None:
    """A request Cal.com calls malformed is our bug: loud in the logs, counted for an alarm."""
    method, path = endpoint.split(" ", 1)
    logger.error(
        "Cal.com refused our request as malformed",
        method=method,
        endpoint=path,
        status=error.status_code,
        calcom_message=error.message,
    )
    metrics.add_metric(name="CalcomContractError", unit=MetricUnit.Count, value=1)


def _api_host(base_url: str) -> str:
    """`https://api.cal.com/v2/` -> `https://api.cal.com`: request paths carry the `/v2` themselves."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v2")


def _segment(value: str) -> str:
    """A path segment, escaped: a uid from a caller must not be able to change the path."""
    return quote(value, safe="")


def _comma_list(values: Iterable[object] | None) -> str | None:
    if values is None or isinstance(values, str):
        return values
    return ",".join(str(value) for value in values) or None


def _utc_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else utc_z(moment)


def _bookings_have_more(envelope: dict[str, Any], page_len: int, fetched: int, page_size: int) -> bool:
    """Trust whichever pagination hint Cal.com sent; with none, a full page means "maybe more"."""
    try:
        pagination = Pagination.model_validate(envelope.get("pagination") or {})
    except ValidationError:
        pagination = Pagination()
    if pagination.has_next_page is not None:
        return pagination.has_next_page
    if pagination.remaining_items is not None:
        return pagination.remaining_items > 0
    if pagination.total_items is not None:
        return fetched < pagination.total_items
    return page_len >= page_size


def _page_was_full(envelope: dict[str, Any], page_len: int, fetched: int, page_size: int) -> bool:
    """Memberships carry no pagination object (§4.3): a short page is the last one."""
    return page_len >= page_size


def _as_list(data: object) -> list[Any]:
    """`data` is an object for one resource and a list for many (or a recurring series)."""
    if data is None:
        return []
    return data if isinstance(data, list) else [data]


def _parse[M: BaseModel](model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CalcomUnavailable(
            f"Cal.com sent an unexpected {model.__name__}: {_first_problem(exc)}"
        ) from exc


def _parse_list[M: BaseModel](model: type[M], data: object) -> list[M]:
    return [_parse(model, item) for item in _as_list(data)]


def _earliest(bookings: list[Booking]) -> Booking:
    if not bookings:
        raise CalcomUnavailable("Cal.com answered without a booking")
    return min(bookings, key=lambda booking: booking.start)


def _first_problem(exc: ValidationError) -> str:
    """Field path and reason only: the offending value may hold personal data."""
    error = exc.errors()[0]
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
