"""Segment planning: where each segment of a service lies from a start, and what must be held.

Pure: no I/O. A plan says, for one start, when each segment runs and exactly which intervals must
be reserved in Cal.com for the staff member (the holds), per the service's pause policy
(docs/pause-policies.md). Cal.com only knows what is booked in it: time we do not book there is
free for anybody else, so a policy that keeps the staff member during the gaps has to book the
gaps too.

Times: the start must be timezone-aware; every time in a plan is an aware UTC datetime (what
Cal.com takes), computed in absolute time, so a plan across a DST change keeps its durations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from calbridge.domain.models import PausePolicy, Service

HoldKind = Literal["segment", "gap", "whole"]

#: A flexible gap grows in steps of this many minutes (the last step is max_gap_stretch itself).
STRETCH_STEP = 5
#: At most this many plans per start from plan_variants (the unstretched plan included), so an
#: availability search over a day stays a few thousand in-memory checks whatever the configuration.
MAX_PLAN_VARIANTS = 50

SIMPLE_SEGMENT_KEY = "A"
WHOLE_KEY = "whole"


def gap_key(segment_key: str) -> str:
    """The hold key of the gap after `segment_key` (held by the `blocked` policy)."""
    return f"gap-{segment_key}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Hold(_Frozen):
    """One interval to reserve in Cal.com for the staff member.

    kind "segment": a segment's own time (segment_key); "gap": the waiting time after the segment
    after_segment, held so nobody else can be booked in it (policy blocked); "whole": the service's
    full duration as one booking (policy never).
    """

    kind: HoldKind
    key: str = Field(description='deterministic within a plan: "A", "gap-A", "whole"')
    start: datetime
    end: datetime
    minutes: int = Field(gt=0)
    segment_key: str | None = None
    after_segment: str | None = None


class PlannedSegment(_Frozen):
    key: str
    name: str
    start: datetime
    end: datetime
    gap_after: int = Field(ge=0, description="minutes of waiting after it, stretch included")

    @property
    def minutes(self) -> int:
        return _minutes(self.end - self.start)


class SegmentPlan(_Frozen):
    """A service placed at one start: its segments and the holds to book in Cal.com (UTC)."""

    company_id: str
    service_id: str
    composite: bool
    policy: PausePolicy
    start: datetime
    end: datetime
    segments: tuple[PlannedSegment, ...]
    holds: tuple[Hold, ...]
    gap_stretch: tuple[int, ...] = Field(
        default=(), description="minutes added to each gap (gap_keys order); empty when none"
    )

    @property
    def minutes(self) -> int:
        """Total length from the first segment's start to the last one's end."""
        return _minutes(self.end - self.start)

    @property
    def waiting_minutes(self) -> int:
        """Total gaps (stretch included): the time the client waits between segments."""
        return sum(s.gap_after for s in self.segments)

    @property
    def held_minutes(self) -> int:
        return sum(h.minutes for h in self.holds)

    def local_times(self, zone: ZoneInfo) -> tuple[tuple[str, str, str, str], ...]:
        """(key, name, local start "HH:MM", local end "HH:MM") per segment, for messages."""
        return tuple((s.key, s.name, _hhmm(s.start, zone), _hhmm(s.end, zone)) for s in self.segments)


def gap_keys(service: Service) -> tuple[str, ...]:
    """The keys of the segments followed by a gap (gap_after > 0), in order: one per gap.

    A zero gap between two segments (wash, then cut) is no gap: it is neither held nor stretched.
    """
    return tuple(s.key for s in service.segments if s.gap_after > 0)


def plan_service(service: Service, start: datetime, *, gap_stretch: Sequence[int] = ()) -> SegmentPlan:
    """Place `service` at `start` and list what to hold in Cal.com, per its pause policy.

    gap_stretch: minutes to add to each gap (gap_keys order; missing trailing entries are 0).
    Only the flexible policy stretches, each gap by 0 to service.max_gap_stretch minutes.
    Raises ValueError for a naive start or an invalid stretch.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
    stretch = _validated_stretch(service, gap_stretch)
    begin = start.astimezone(UTC)

    segments: list[PlannedSegment] = []
    cursor = begin
    if not service.composite:
        end = cursor + timedelta(minutes=service.duration)
        segments.append(
            PlannedSegment(key=SIMPLE_SEGMENT_KEY, name=service.name, start=cursor, end=end, gap_after=0)
        )
    else:
        extra = dict(zip(gap_keys(service), stretch, strict=False))
        for seg in service.segments:
            seg_end = cursor + timedelta(minutes=seg.duration)
            gap = seg.gap_after + extra.get(seg.key, 0)
            segments.append(
                PlannedSegment(key=seg.key, name=seg.name, start=cursor, end=seg_end, gap_after=gap)
            )
            cursor = seg_end + timedelta(minutes=gap)

    end = segments[-1].end
    return SegmentPlan(
        company_id=service.company_id,
        service_id=service.service_id,
        composite=service.composite,
        policy=service.pause_policy,
        start=begin,
        end=end,
        segments=tuple(segments),
        holds=_holds(service.pause_policy, segments, begin, end),
        gap_stretch=stretch if any(stretch) else (),
    )


def plan_variants(service: Service, start: datetime) -> Iterator[SegmentPlan]:
    """The plans to try for one start, best first.

    One plan for every policy except flexible, which yields the unstretched plan first, then
    stretched variants by growing total stretch. Each gap grows in steps of STRETCH_STEP minutes
    up to max_gap_stretch (a max that is no multiple of the step is itself the last step). Equal
    totals: the smaller largest single stretch first (spread the wait), then the stretch tuples in
    ascending order. At most MAX_PLAN_VARIANTS plans in all.
    """
    if service.pause_policy is not PausePolicy.FLEXIBLE or not service.max_gap_stretch:
        yield plan_service(service, start)
        return
    for stretch in islice(
        _stretch_tuples(len(gap_keys(service)), service.max_gap_stretch), MAX_PLAN_VARIANTS
    ):
        yield plan_service(service, start, gap_stretch=stretch)


def plan_fits(plan: SegmentPlan, is_free: Callable[[Hold], bool]) -> bool:
    """True when every hold of the plan is free (is_free answers for one hold, e.g. from slots)."""
    return all(is_free(hold) for hold in plan.holds)


def nearest_alternatives(
    requested: datetime,
    candidates: Iterable[datetime],
    *,
    zone: ZoneInfo,
    now: datetime,
    limit: int = 3,
) -> list[datetime]:
    """The `limit` candidate starts nearest to `requested`: same local day (in `zone`) first.

    Within the same day and then among other days: by distance from the requested time, ties
    earlier first. Candidates before `now` and the requested instant itself are left out;
    duplicates (the same instant) count once. Returned as given, in that order.
    """
    for label, value in (("requested", requested), ("now", now)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{label} must be timezone-aware, got naive {value.isoformat()}")
    if limit <= 0:
        return []
    # Compare instants in UTC only: arithmetic between two datetimes of one zone is wall-clock
    # arithmetic, and == across zones is always False for a time in a DST fold (PEP 495).
    asked, earliest = requested.astimezone(UTC), now.astimezone(UTC)
    day = requested.astimezone(zone).date()
    seen: set[datetime] = set()
    ranked: list[tuple[bool, timedelta, datetime, datetime]] = []
    for candidate in candidates:
        if candidate.tzinfo is None or candidate.utcoffset() is None:
            raise ValueError(f"candidate must be timezone-aware, got naive {candidate.isoformat()}")
        instant = candidate.astimezone(UTC)
        if instant in seen or instant < earliest or instant == asked:
            continue
        seen.add(instant)
        other_day = instant.astimezone(zone).date() != day
        ranked.append((other_day, abs(instant - asked), instant, candidate))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked[:limit]]


# -- internals -------------------------------------------------------------------------------


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _hhmm(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M")


def _validated_stretch(service: Service, gap_stretch: Sequence[int]) -> tuple[int, ...]:
    gaps = gap_keys(service)
    values = tuple(gap_stretch)
    if len(values) > len(gaps):
        raise ValueError(
            f"service {service.service_id}: {len(values)} gap stretches given "
            f"but it has {len(gaps)} gap(s) ({', '.join(gaps) or 'none'})"
        )
    values += (0,) * (len(gaps) - len(values))
    for key, value in zip(gaps, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(
                f"service {service.service_id}: stretch of the gap after {key} is not whole minutes"
            )
        if value == 0:
            continue
        if service.pause_policy is not PausePolicy.FLEXIBLE:
            raise ValueError(
                f"service {service.service_id}: the gap after {key} cannot stretch under the "
                f"{service.pause_policy.value!r} pause policy"
            )
        if not 0 <= value <= service.max_gap_stretch:
            raise ValueError(
                f"service {service.service_id}: stretch of the gap after {key} must be 0 to "
                f"{service.max_gap_stretch} minutes, got {value}"
            )
    return values


def _hold_for(segment: PlannedSegment) -> Hold:
    return Hold(
        kind="segment",
        key=segment.key,
        start=segment.start,
        end=segment.end,
        minutes=segment.minutes,
        segment_key=segment.key,
    )


def _holds(
    policy: PausePolicy, segments: Sequence[PlannedSegment], start: datetime, end: datetime
) -> tuple[Hold, ...]:
    if policy is PausePolicy.NEVER:
        return (Hold(kind="whole", key=WHOLE_KEY, start=start, end=end, minutes=_minutes(end - start)),)
    holds: list[Hold] = []
    for segment in segments:
        holds.append(_hold_for(segment))
        if policy is PausePolicy.BLOCKED and segment.gap_after > 0:
            gap_end = segment.end + timedelta(minutes=segment.gap_after)
            holds.append(
                Hold(
                    kind="gap",
                    key=gap_key(segment.key),
                    start=segment.end,
                    end=gap_end,
                    minutes=segment.gap_after,
                    after_segment=segment.key,
                )
            )
    return tuple(holds)


def _steps(max_stretch: int) -> tuple[int, ...]:
    steps = list(range(0, max_stretch + 1, STRETCH_STEP))
    if steps[-1] != max_stretch:
        steps.append(max_stretch)
    return tuple(steps)


def _stretch_tuples(gaps: int, max_stretch: int) -> Iterator[tuple[int, ...]]:
    """Every stretch tuple over `gaps` gaps, by total, then largest single stretch, then tuple.

    Lazy by total, so a large max_gap_stretch or many gaps cost only what is consumed.
    """
    if gaps == 0:
        yield ()
        return
    steps = _steps(max_stretch)
    totals = {0}
    for _ in range(gaps):
        totals = {t + s for t in totals for s in steps}
    for total in sorted(totals):
        found = list(_with_total(steps, gaps, total))
        found.sort(key=lambda t: (max(t), t))
        yield from found


def _with_total(steps: tuple[int, ...], gaps: int, total: int) -> Iterator[tuple[int, ...]]:
    if gaps == 1:
        if total in steps:
            yield (total,)
        return
    for step in steps:
        if step > total:
            break
        if total - step > steps[-1] * (gaps - 1):
            continue
        for rest in _with_total(steps, gaps - 1, total - step):
            yield (step, *rest)
