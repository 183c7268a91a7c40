"""Availability: free starts of a service, per staff member, from Cal.com's slots.

A start is free for a staff member when every hold of the segment plan (docs/pause-policies.md)
is a Cal.com slot of that hold's event type for that staff member. Each hold of each staff member
has an event type of its own with them as the only host (the event map; docs/adr/0013), so its
slots are their free times. Slots are read per event type and local day (the day from the
company's local midnight to the next, sent as UTC instants: Cal.com reads a date-only window as
the UTC day), cached for a minute in DynamoDB (adapters/store/slot_cache.py), and a start sooner
than the company's minimum notice is never offered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

from calbridge.adapters.calcom import CalcomClient
from calbridge.adapters.store.event_map import EventMapRepository
from calbridge.adapters.store.host_mappings import HostMappingRepository
from calbridge.adapters.store.repositories import StaffRepository
from calbridge.adapters.store.slot_cache import SlotCache, cache_key
from calbridge.domain.event_types import event_type_for, hold_targets, index_event_map
from calbridge.domain.mappings import calcom_users_by_staff
from calbridge.domain.models import Company, Service
from calbridge.domain.planning import Hold, SegmentPlan, nearest_alternatives, plan_fits, plan_variants
from calbridge.errors import EventTypeMissing, NotFound

#: (staff id, Cal.com user id, hold key -> that staff member's event type of the hold)
Candidate = tuple[str, int, dict[str, int]]


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
    starts: tuple[StartOption, ...] = ()  # every free start found in the searched days


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
    ) -> None:
        self._calcom = calcom
        self._staff = staff
        self._mappings = mappings
        self._event_map = event_map
        self._slot_cache = slot_cache
        self._clock = clock

    def check(
        self,
        company: Company,
        service: Service,
        day: date,
        at: time | None = None,
        staff_id: str | None = None,
    ) -> AvailabilityAnswer:
        """Is `at` on `day` (company local time) free? If not, the 3 nearest free starts.

        Without `at`: every free start of the day. With `staff_id`: only that staff member.
        """
        zone = company.zone
        requested = datetime.combine(day, at, tzinfo=zone).astimezone(UTC) if at else None
        starts = self.free_starts(company, service, [day], staff_id)
        if requested is not None:
            match = next((o for o in starts if o.start == requested), None)
            if match is not None:
                return AvailabilityAnswer(requested=requested, match=match, starts=tuple(starts))
        if requested is None and starts:
            return AvailabilityAnswer(requested=None, match=None, starts=tuple(starts))
        pool = list(starts)
        if len(pool) < 3:  # the asked day is (nearly) full: look at the following days too
            following = [day + timedelta(days=n) for n in range(1, self.SEARCH_DAYS + 1)]
            pool += self.free_starts(company, service, following, staff_id)
        by_start = {o.start: o for o in reversed(pool)}  # earliest staff member per start wins
        anchor = requested or datetime.combine(day, time(12, 0), tzinfo=zone).astimezone(UTC)
        nearest = nearest_alternatives(anchor, by_start, zone=zone, now=self._earliest(company))
        return AvailabilityAnswer(
            requested=requested,
            match=None,
            alternatives=tuple(by_start[s] for s in nearest),
            starts=tuple(starts),
        )

    def free_starts(
        self, company: Company, service: Service, days: Iterable[date], staff_id: str | None = None
    ) -> list[StartOption]:
        """Every free start on `days`, earliest first; per start the first staff member it fits."""
        candidates = self._candidates(company, service, staff_id)
        first = hold_targets(service)[0].key
        earliest = self._earliest(company)
        found: dict[datetime, StartOption] = {}
        for day in days:
            for member, user_id, event_types in candidates:
                slots = self._slots(company, set(event_types.values()), user_id, day)

                def free(
                    hold: Hold, slots: dict[int, set[datetime]] = slots, types: dict[str, int] = event_types
                ) -> bool:
                    return hold.start in slots[types[hold.key]]

                for start in sorted(slots[event_types[first]]):
                    if start < earliest or start in found:
                        continue
                    fitting = next(
                        (plan for plan in plan_variants(service, start) if plan_fits(plan, free)), None
                    )
                    if fitting is not None:
                        found[start] = StartOption(
                            start=start, staff_id=member, calcom_user_id=user_id, plan=fitting
                        )
        return [found[s] for s in sorted(found)]

    # ------------------------------------------------------------------ internals

    def _earliest(self, company: Company) -> datetime:
        """The first start a caller may book now (the company's minimum notice from now)."""
        return self._clock() + timedelta(minutes=company.minimum_notice_minutes)

    def _candidates(self, company: Company, service: Service, staff_id: str | None) -> list[Candidate]:
        """The staff who perform the service and can be booked: a Cal.com user, and an event type
        for every hold. None of them provisioned: EventTypeMissing."""
        if staff_id and staff_id not in service.staff_ids:
            raise NotFound(f"staff member {staff_id!r} does not perform service {service.service_id!r}")
        staff = self._staff.list(company.company_id)
        users = calcom_users_by_staff(staff, self._mappings.list(company.company_id))
        entries = index_event_map(self._event_map.list(company.company_id, service.service_id))
        holds = hold_targets(service)
        candidates: list[Candidate] = []
        missing: list[str] = []
        for member in [staff_id] if staff_id else service.staff_ids:
            if member not in users:
                continue
            user_id = users[member][0]
            try:
                types = {hold.key: event_type_for(hold, service, entries, user_id) for hold in holds}
            except EventTypeMissing as exc:
                missing.append(exc.message)
                continue
            candidates.append((member, user_id, types))
        if not candidates and missing:
            raise EventTypeMissing(missing[0])
        return candidates

    def _slots(
        self, company: Company, event_type_ids: set[int], user_id: int, day: date
    ) -> dict[int, set[datetime]]:
        """Per event type, the staff member's Cal.com slot starts on the local `day`: from the slot
        cache (one read for them all), the missing ones from Cal.com (then cached, in one write)."""
        keys = {
            event_type: cache_key(company.company_id, event_type, user_id, day)
            for event_type in event_type_ids
        }
        cached = self._slot_cache.get_many(keys.values())
        fetched: dict[str, list[datetime]] = {}
        start, end = local_day(day, company)
        for event_type, key in keys.items():
            if key not in cached:
                slots = self._calcom.get_slots(event_type, start, end, company.timezone)
                fetched[key] = [slot.start.astimezone(UTC) for slot in slots.slots]
        self._slot_cache.put_many(fetched)
        return {
            event_type: set(cached[key] if key in cached else fetched[key])
            for event_type, key in keys.items()
        }


def local_day(day: date, company: Company) -> tuple[datetime, datetime]:
    """The company's local `day` as UTC instants: its midnight, and the last second before the next
    (Cal.com moves an end at 00:00:00 to 23:59:59 of that day, slots-input.service.ts)."""
    zone = company.zone
    start = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone).astimezone(UTC)
    return start, end - timedelta(seconds=1)
