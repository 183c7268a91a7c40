"""Availability: free starts of a service, per staff member, from Cal.com's slots.

A start is free for a staff member when every hold of the segment plan (docs/pause-policies.md)
is a Cal.com slot of that hold's event type for that staff member. Each hold of each staff member
has an event type of its own with them as the only host (the event map; docs/adr/0013), so its
slots are their free times. A start sooner than the company's minimum notice is never offered.

Within the caller's patience (docs/adr/0016-availability-budget.md):

- One check reads the asked day and the SEARCH_DAYS after it (where alternatives come from), in
  ONE `GET /v2/slots` per event type: its window runs from the first day's local midnight to the
  last one's (Cal.com reads a date-only window as the UTC day), and its answer is keyed by date.
- Not every event type is asked: a staff member's holds whose event types step on the same
  `slotInterval` with the same minimum notice (calbridge provisions them so, and a sync checks it)
  are read from the shortest one's slots (domain/slot_grid.py); a composite in step costs two
  requests per staff member, a simple service one.
- The requests run in parallel (at most `concurrency` at once), at most `max_calcom_requests` per
  check, and the check stops waiting at its time budget: what did not answer is left out and
  the answer says it is not `complete`.
- Slots are cached per event type, Cal.com user and local day for a minute in DynamoDB
  (adapters/store/slot_cache.py): a multi-day answer fills one entry per day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Self

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from calbridge.adapters.calcom import CalcomClient
from calbridge.adapters.store.event_map import EventMapRepository
from calbridge.adapters.store.host_mappings import HostMappingRepository
from calbridge.adapters.store.repositories import StaffRepository
from calbridge.adapters.store.slot_cache import SlotCache, cache_key
from calbridge.config import Settings, get_settings
from calbridge.domain.event_types import hold_targets, index_event_map
from calbridge.domain.mappings import calcom_users_by_staff
from calbridge.domain.models import Company, Service
from calbridge.domain.planning import (
    Hold,
    SegmentPlan,
    nearest_alternatives,
    plan_fits,
    plan_service,
    plan_variants,
)
from calbridge.domain.slot_grid import SlotReader, slot_readers
from calbridge.errors import CalcomError, CalcomUnavailable, EventTypeMissing, NotFound
from calbridge.observability import logger, metrics
from calbridge.timing import Deadline

#: What a check leaves of its caller's budget for the work after it (planning, the answer).
AFTER_CHECK_S = 0.3

#: One event type's slots for one Cal.com user: (event type id, user id).
Source = tuple[int, int]


class StartOption(BaseModel):
    """A free start: who would serve it and the plan that fits."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    staff_id: str
    calcom_user_id: int
    plan: SegmentPlan


class AvailabilityAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    requested: datetime | None
    match: StartOption | None  # the requested start, when it is free
    alternatives: tuple[StartOption, ...] = ()  # nearest free starts, same day first
    starts: tuple[StartOption, ...] = ()  # every free start found on the asked day
    #: False when part of the calendar was not read (the time budget or the request cap ran out,
    #: or Cal.com failed for some staff): a start missing from the answer may still be free.
    complete: bool = True


class AvailabilityLimits(BaseModel):
    """How much one check may spend (docs/adr/0016-availability-budget.md)."""

    model_config = ConfigDict(frozen=True)

    budget_ms: int = Field(default=5000, gt=0)  # below Retell's timeout_ms 8000 for reads
    max_calcom_requests: int = Field(default=8, ge=1)
    concurrency: int = Field(default=8, ge=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            budget_ms=settings.availability_budget_ms,
            max_calcom_requests=settings.availability_max_calcom_requests,
            concurrency=settings.availability_concurrency,
        )


@dataclass(frozen=True)
class _Candidate:
    """A staff member who performs the service and can be booked, and how their holds are read."""

    staff_id: str
    user_id: int
    readers: dict[str, SlotReader]

    @property
    def sources(self) -> list[Source]:
        return list(dict.fromkeys((r.event_type_id, self.user_id) for r in self.readers.values()))


@dataclass
class _Search:
    """The slots one check could read, per source, and whether everything asked was read."""

    candidates: list[_Candidate]
    slots: dict[Source, set[datetime]]
    complete: bool

    def readable(self) -> list[_Candidate]:
        return [c for c in self.candidates if all(s in self.slots for s in c.sources)]


class AvailabilityService:
    SEARCH_DAYS = 7  # how far alternatives are looked for when the asked day is full

    def __init__(
        self,
        calcom: CalcomClient,
        staff: StaffRepository,
        mappings: HostMappingRepository,
        event_map: EventMapRepository,
        slot_cache: SlotCache,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: AvailabilityLimits | None = None,
    ) -> None:
        self._calcom = calcom
        self._staff = staff
        self._mappings = mappings
        self._event_map = event_map
        self._slot_cache = slot_cache
        self._clock = clock
        # None: the environment's (AVAILABILITY_* in template.yaml).
        self._limits = limits if limits is not None else AvailabilityLimits.from_settings(get_settings())

    def check(
        self,
        company: Company,
        service: Service,
        day: date,
        at: time | None = None,
        staff_id: str | None = None,
        *,
        deadline: Deadline | None = None,
    ) -> AvailabilityAnswer:
        """Is `at` on `day` (company local time) free? If not, the 3 nearest free starts (the asked
        day first, then the SEARCH_DAYS after it).

        Without `at`: every free start of the day. With `staff_id`: only that staff member. With a
        caller's `deadline` (a tool call's budget), Cal.com is waited for until the sooner of it
        and the check's own budget.
        """
        zone = company.zone
        requested = datetime.combine(day, at, tzinfo=zone).astimezone(UTC) if at else None
        following = [day + timedelta(days=n) for n in range(1, self.SEARCH_DAYS + 1)]
        search = self._search(company, service, [day, *following], staff_id, deadline)
        starts = self._free_starts(company, service, search, [day])
        complete = search.complete
        if requested is not None:
            match = next((o for o in starts if o.start == requested), None)
            if match is not None:
                return AvailabilityAnswer(
                    requested=requested, match=match, starts=tuple(starts), complete=complete
                )
        if requested is None and starts:
            return AvailabilityAnswer(requested=None, match=None, starts=tuple(starts), complete=complete)
        pool = list(starts)
        # The asked day is (nearly) full: its following days were read too. Every start of a later
        # day is further from the asked time than every start of an earlier one, so the days are
        # planned one by one until three starts are found.
        for later in following:
            if len(pool) >= 3:
                break
            pool += self._free_starts(company, service, search, [later])
        by_start = {o.start: o for o in reversed(pool)}  # earliest staff member per start wins
        anchor = requested or datetime.combine(day, time(12, 0), tzinfo=zone).astimezone(UTC)
        nearest = nearest_alternatives(anchor, by_start, zone=zone, now=self._earliest(company))
        return AvailabilityAnswer(
            requested=requested,
            match=None,
            alternatives=tuple(by_start[s] for s in nearest),
            starts=tuple(starts),
            complete=complete,
        )

    def free_starts(
        self, company: Company, service: Service, days: Sequence[date], staff_id: str | None = None
    ) -> list[StartOption]:
        """Every free start on `days`, earliest first; per start the first staff member it fits."""
        search = self._search(company, service, days, staff_id)
        return self._free_starts(company, service, search, days)

    def bookable_staff(self, company: Company, service: Service) -> list[str]:
        """The staff ids (in the service's order) who perform `service` and can be booked now: a
        Cal.com user and a booking event type for every hold. No Cal.com request."""
        try:
            return [c.staff_id for c in self._candidates(company, service, None)]
        except EventTypeMissing:
            return []

    def bookable_team(self, company: Company, services: Iterable[Service]) -> set[str]:
        """The staff ids who can be booked for at least one of `services` (what the agent may offer)."""
        return {staff_id for service in services for staff_id in self.bookable_staff(company, service)}

    def first_choice(
        self, company: Company, service: Service, day: date, at: time, staff_id: str | None = None
    ) -> StartOption | None:
        """What a booking tries first, without asking Cal.com (docs/adr/0018-booking-without-a-check.md):
        `at` on `day` with the staff member named, else with the first one the slot cache shows
        free then, else with the first bookable one the cache does not show busy. None when the
        time is inside the minimum notice or nobody is left: then only a check can tell. One read
        of the slot cache."""
        start = datetime.combine(day, at, tzinfo=company.zone).astimezone(UTC)
        if start < self._earliest(company):
            return None
        candidates = self._candidates(company, service, staff_id)
        sources = list(dict.fromkeys(s for c in candidates for s in c.sources))
        keys = {source: cache_key(company.company_id, source[0], source[1], day) for source in sources}
        cached = self._slot_cache.get_many(keys.values())
        slots = {source: set(cached[key]) for source, key in keys.items() if key in cached}
        unknown: list[_Candidate] = []
        for candidate in candidates:
            if not all(source in slots for source in candidate.sources):
                unknown.append(candidate)
                continue
            fitting = _fitting_plan(service, candidate, start, slots)
            if fitting is not None:
                return StartOption(
                    start=start, staff_id=candidate.staff_id, calcom_user_id=candidate.user_id, plan=fitting
                )
        if not unknown:
            return None
        first = unknown[0]
        return StartOption(
            start=start,
            staff_id=first.staff_id,
            calcom_user_id=first.user_id,
            plan=plan_service(service, start),
        )

    # ------------------------------------------------------------------ internals

    def _earliest(self, company: Company) -> datetime:
        """The first start a caller may book now (the company's minimum notice from now)."""
        return self._clock() + timedelta(minutes=company.minimum_notice_minutes)

    def _free_starts(
        self, company: Company, service: Service, search: _Search, days: Iterable[date]
    ) -> list[StartOption]:
        wanted, zone = set(days), company.zone
        first = hold_targets(service)[0].key
        earliest = self._earliest(company)
        found: dict[datetime, StartOption] = {}
        for candidate in search.readable():
            opener = candidate.readers[first]
            opener_slots = search.slots[(opener.event_type_id, candidate.user_id)]
            for start in sorted(opener_slots):
                if start < earliest or start in found or start.astimezone(zone).date() not in wanted:
                    continue
                if not opener.free(start, opener_slots):
                    continue
                fitting = _fitting_plan(service, candidate, start, search.slots)
                if fitting is not None:
                    found[start] = StartOption(
                        start=start,
                        staff_id=candidate.staff_id,
                        calcom_user_id=candidate.user_id,
                        plan=fitting,
                    )
        return [found[s] for s in sorted(found)]

    def _candidates(self, company: Company, service: Service, staff_id: str | None) -> list[_Candidate]:
        """The staff who perform the service and can be booked: a Cal.com user, and an event type
        for every hold. None of them provisioned: EventTypeMissing."""
        if staff_id and staff_id not in service.staff_ids:
            raise NotFound(f"staff member {staff_id!r} does not perform service {service.service_id!r}")
        staff = self._staff.list(company.company_id)
        users = calcom_users_by_staff(staff, self._mappings.list(company.company_id))
        entries = index_event_map(self._event_map.list(company.company_id, service.service_id))
        candidates: list[_Candidate] = []
        missing: list[str] = []
        for member in [staff_id] if staff_id else service.staff_ids:
            if member not in users:
                continue
            user_id = users[member][0]
            try:
                readers = slot_readers(service, entries, user_id)
            except EventTypeMissing as exc:
                missing.append(exc.message)
                continue
            candidates.append(_Candidate(member, user_id, readers))
        if not candidates and missing:
            raise EventTypeMissing(missing[0])
        return candidates

    def _search(
        self,
        company: Company,
        service: Service,
        days: Sequence[date],
        staff_id: str | None,
        caller: Deadline | None = None,
    ) -> _Search:
        """The candidates' slots on `days`: from the slot cache (one read), the rest from Cal.com
        (one request per source for all its missing days, in parallel, within the request cap and
        the time budget - the check's own, or what is left of the `caller`'s when that is sooner;
        then cached, in one write)."""
        budget_s = self._limits.budget_ms / 1000
        if caller is not None:
            budget_s = min(budget_s, caller.remaining() - AFTER_CHECK_S)
        deadline = Deadline(max(budget_s, 0.0))
        candidates = self._candidates(company, service, staff_id)
        sources = list(dict.fromkeys(s for c in candidates for s in c.sources))
        keys = {
            (source, day): cache_key(company.company_id, source[0], source[1], day)
            for source in sources
            for day in days
        }
        cached = self._slot_cache.get_many(keys.values())
        missing: dict[Source, list[date]] = {}
        for (source, day), key in keys.items():
            if key not in cached:
                missing.setdefault(source, []).append(day)

        # Whole staff members within the cap, in the service's order: half a member's sources
        # read nothing.
        asked: list[Source] = []
        complete = True
        for candidate in candidates:
            needed = [s for s in candidate.sources if s in missing and s not in asked]
            if len(asked) + len(needed) > self._limits.max_calcom_requests:
                complete = False
                continue
            asked += needed
        fetched, errors = self._fetch(company, {s: missing[s] for s in asked}, deadline)
        complete = complete and not errors and len(fetched) == len(asked)

        slots: dict[Source, set[datetime]] = {}
        for source in sources:
            if source in missing and source not in fetched:
                continue
            days_read = fetched.get(source, {})
            slots[source] = {
                start
                for day in days
                for start in (days_read[day] if day in days_read else cached[keys[(source, day)]])
            }
        self._slot_cache.put_many(
            {
                keys[(source, day)]: starts
                for source, by_day in fetched.items()
                for day, starts in by_day.items()
            }
        )
        search = _Search(candidates, slots, complete)
        if candidates and not search.readable():
            if errors:
                raise errors[0]
            if not complete:
                raise CalcomUnavailable(
                    "no staff member's slots came in within the availability budget and cap"
                )
        if not complete:
            logger.warning(
                "availability incomplete",
                company_id=company.company_id,
                service_id=service.service_id,
                asked=len(asked),
                answered=len(fetched),
                errors=[type(e).__name__ for e in errors],
            )
            metrics.add_metric(name="AvailabilityIncomplete", unit=MetricUnit.Count, value=1)
        return search

    def _fetch(
        self, company: Company, wanted: dict[Source, list[date]], deadline: Deadline
    ) -> tuple[dict[Source, dict[date, list[datetime]]], list[CalcomError]]:
        """Each source's slots on its days, by local day: one request per source for the span of
        its days, at most `concurrency` at once; what has not answered by `deadline` is left out
        (its request's timeouts end with the deadline too, so no thread outlives the answer)."""
        if not wanted:
            return {}, []
        calcom = self._calcom.for_company(company.company_id).until(deadline)
        pool = ThreadPoolExecutor(
            max_workers=min(self._limits.concurrency, len(wanted)), thread_name_prefix="calcom-slots"
        )
        futures: dict[Future[dict[date, list[datetime]]], Source] = {
            pool.submit(self._ask_calcom, calcom, company, source, days): source
            for source, days in wanted.items()
        }
        done, _ = wait(futures, timeout=deadline.remaining())
        pool.shutdown(wait=False, cancel_futures=True)
        fetched: dict[Source, dict[date, list[datetime]]] = {}
        errors: list[CalcomError] = []
        for future in done:
            error = future.exception()
            if error is None:
                fetched[futures[future]] = future.result()
            elif isinstance(error, CalcomError):
                errors.append(error)
            else:
                raise error
        return fetched, errors

    @staticmethod
    def _ask_calcom(
        calcom: CalcomClient, company: Company, source: Source, days: list[date]
    ) -> dict[date, list[datetime]]:
        """One `GET /v2/slots` for the local days from the first of `days` to the last: the UTC
        starts of each of `days` (a day without slots: an empty list)."""
        zone = company.zone
        start, _ = local_day(min(days), company)
        _, end = local_day(max(days), company)
        answer = calcom.get_slots(source[0], start, end, company.timezone, ends=False)
        by_day: dict[date, list[datetime]] = {day: [] for day in days}
        for slot in answer.slots:
            day = slot.start.astimezone(zone).date()
            if day in by_day:
                by_day[day].append(slot.start.astimezone(UTC))
        return by_day


def _fitting_plan(
    service: Service, candidate: _Candidate, start: datetime, slots: dict[Source, set[datetime]]
) -> SegmentPlan | None:
    """The first plan of `service` at `start` whose every hold the candidate's slots show free."""

    def free(hold: Hold) -> bool:
        reader = candidate.readers[hold.key]
        return reader.free(hold.start, slots[(reader.event_type_id, candidate.user_id)])

    return next((plan for plan in plan_variants(service, start) if plan_fits(plan, free)), None)


def local_day(day: date, company: Company) -> tuple[datetime, datetime]:
    """The company's local `day` as UTC instants: its midnight, and the last second before the next
    (Cal.com moves an end at 00:00:00 to 23:59:59 of that day, slots-input.service.ts)."""
    zone = company.zone
    start = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone).astimezone(UTC)
    return start, end - timedelta(seconds=1)
