import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from calbridge.domain.models import PausePolicy, Service
from calbridge.domain.planning import (
    MAX_PLAN_VARIANTS,
    Hold,
    SegmentPlan,
    gap_keys,
    nearest_alternatives,
    plan_fits,
    plan_service,
    plan_variants,
)

BERLIN = ZoneInfo("Europe/Berlin")
FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())
COMPANY = FIXTURE["company"]["company_id"]
DEMO = {s["service_id"]: Service.model_validate({"company_id": COMPANY, **s}) for s in FIXTURE["services"]}


def with_policy(service: Service, policy: PausePolicy, max_gap_stretch: int = 0) -> Service:
    data = service.model_dump()
    data.update(pause_policy=policy, max_gap_stretch=max_gap_stretch)
    return Service.model_validate(data)


def berlin(year, month, day, hour, minute=0, fold=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def spans(plan: SegmentPlan, zone=BERLIN):
    return [(key, start, end) for key, _name, start, end in plan.local_times(zone)]


def hold_spans(plan: SegmentPlan):
    return [(h.kind, h.key, h.start.astimezone(BERLIN).strftime("%H:%M"), h.minutes) for h in plan.holds]


# -- service 177 (free) ----------------------------------------------------------------------


def test_service_177_at_14_berlin_places_four_segments_around_the_45_minute_gap():
    plan = plan_service(DEMO["177"], berlin(2026, 11, 20, 14))
    assert spans(plan) == [
        ("A", "14:00", "14:30"),
        ("B", "15:15", "15:30"),
        ("C", "15:30", "16:00"),
        ("D", "16:00", "16:30"),
    ]
    assert [s.gap_after for s in plan.segments] == [45, 0, 0, 0]
    assert plan.start == utc(2026, 11, 20, 13) and plan.end == utc(2026, 11, 20, 15, 30)
    assert plan.minutes == 150 and plan.waiting_minutes == 45
    assert plan.policy is PausePolicy.FREE and plan.composite
    assert (plan.company_id, plan.service_id) == (COMPANY, "177")


def test_free_policy_holds_only_the_four_segments():
    plan = plan_service(DEMO["177"], berlin(2026, 11, 20, 14))
    assert hold_spans(plan) == [
        ("segment", "A", "14:00", 30),
        ("segment", "B", "15:15", 15),
        ("segment", "C", "15:30", 30),
        ("segment", "D", "16:00", 30),
    ]
    assert [h.segment_key for h in plan.holds] == ["A", "B", "C", "D"]
    assert plan.held_minutes == 105


def test_plan_times_are_utc_whatever_the_start_zone():
    plan = plan_service(DEMO["177"], berlin(2026, 11, 20, 14))
    moments = [plan.start, plan.end] + [t for h in plan.holds for t in (h.start, h.end)]
    assert all(m.tzinfo is UTC for m in moments)
    same = plan_service(DEMO["177"], datetime(2026, 11, 20, 8, tzinfo=ZoneInfo("America/New_York")))
    assert same == plan


def test_local_times_carry_the_segment_names():
    plan = plan_service(DEMO["177"], berlin(2026, 11, 20, 14))
    assert plan.local_times(BERLIN)[0] == ("A", "Ansatzfärbung", "14:00", "14:30")
    assert plan.local_times(ZoneInfo("UTC"))[0] == ("A", "Ansatzfärbung", "13:00", "13:30")


# -- blocked (42, and 178 under blocked) -------------------------------------------------------


def test_service_42_blocked_holds_three_segments_and_both_gaps():
    plan = plan_service(DEMO["42"], berlin(2026, 11, 20, 10))
    assert plan.policy is PausePolicy.BLOCKED
    assert hold_spans(plan) == [
        ("segment", "A", "10:00", 45),
        ("gap", "gap-A", "10:45", 10),
        ("segment", "B", "10:55", 60),
        ("gap", "gap-B", "11:55", 15),
        ("segment", "C", "12:10", 20),
    ]
    assert [h.after_segment for h in plan.holds if h.kind == "gap"] == ["A", "B"]
    assert_contiguous(plan)
    assert plan.held_minutes == plan.minutes == 150


def test_service_178_blocked_holds_its_gap_and_covers_start_to_end():
    plan = plan_service(with_policy(DEMO["178"], PausePolicy.BLOCKED), berlin(2026, 11, 20, 9))
    kinds = [h.kind for h in plan.holds]
    assert kinds.count("segment") == 4 and kinds.count("gap") == 1  # zero gaps are not held
    assert hold_spans(plan)[1] == ("gap", "gap-A", "09:40", 45)
    assert_contiguous(plan)
    assert plan.held_minutes == 170


def assert_contiguous(plan: SegmentPlan) -> None:
    assert plan.holds[0].start == plan.start and plan.holds[-1].end == plan.end
    for before, after in pairwise(plan.holds):
        assert before.end == after.start, f"hole or overlap between {before.key} and {after.key}"


# -- never ---------------------------------------------------------------------------------------


def test_never_is_one_whole_hold_and_still_lists_the_segments():
    plan = plan_service(with_policy(DEMO["177"], PausePolicy.NEVER), berlin(2026, 11, 20, 14))
    assert len(plan.holds) == 1
    whole = plan.holds[0]
    assert (whole.kind, whole.key, whole.minutes) == ("whole", "whole", 150)
    assert (whole.start, whole.end) == (plan.start, plan.end)
    assert whole.segment_key is None and whole.after_segment is None
    assert [s.key for s in plan.segments] == ["A", "B", "C", "D"]
    assert plan.waiting_minutes == 45


# -- flexible --------------------------------------------------------------------------------


def flexible(service_id="42", max_gap_stretch=10) -> Service:
    return with_policy(DEMO[service_id], PausePolicy.FLEXIBLE, max_gap_stretch)


def test_flexible_holds_like_free_with_stretched_gaps():
    plan = plan_service(flexible(), berlin(2026, 11, 20, 10), gap_stretch=[5, 10])
    assert spans(plan) == [("A", "10:00", "10:45"), ("B", "11:00", "12:00"), ("C", "12:25", "12:45")]
    assert [s.gap_after for s in plan.segments] == [15, 25, 0]
    assert [h.kind for h in plan.holds] == ["segment"] * 3
    assert plan.gap_stretch == (5, 10)
    assert plan.waiting_minutes == 40 and plan.minutes == 165


def test_missing_stretch_entries_are_zero():
    plan = plan_service(flexible(), berlin(2026, 11, 20, 10), gap_stretch=[5])
    assert [s.gap_after for s in plan.segments] == [15, 15, 0]
    assert plan.gap_stretch == (5, 0)
    assert plan_service(flexible(), berlin(2026, 11, 20, 10)).gap_stretch == ()


@pytest.mark.parametrize(
    ("service", "stretch", "message"),
    [
        (flexible(), [15], "gap after A must be 0 to 10 minutes, got 15"),
        (flexible(), [0, -5], "gap after B must be 0 to 10 minutes, got -5"),
        (flexible(), [0, 0, 5], "3 gap stretches given but it has 2 gap"),
        (flexible("177"), [0, 5], r"2 gap stretches given but it has 1 gap\(s\) \(A\)"),
        (DEMO["177"], [5], "gap after A cannot stretch under the 'free' pause policy"),
        (DEMO["42"], [0, 5], "gap after B cannot stretch under the 'blocked' pause policy"),
        (flexible(), [2.5], "gap after A is not whole minutes"),
    ],
)
def test_invalid_stretch_names_the_gap(service, stretch, message):
    with pytest.raises(ValueError, match=message):
        plan_service(service, berlin(2026, 11, 20, 10), gap_stretch=stretch)


def test_zero_stretch_is_accepted_under_any_policy():
    assert plan_service(DEMO["42"], berlin(2026, 11, 20, 10), gap_stretch=[0, 0]).gap_stretch == ()


def test_flexible_variants_unstretched_first_then_by_growing_total():
    variants = list(plan_variants(flexible(max_gap_stretch=10), berlin(2026, 11, 20, 10)))
    assert [v.gap_stretch for v in variants] == [
        (),
        (0, 5),
        (5, 0),
        (5, 5),  # total 10, the even spread before one gap taking all
        (0, 10),
        (10, 0),
        (5, 10),
        (10, 5),
        (10, 10),
    ]
    assert variants[0] == plan_service(flexible(max_gap_stretch=10), berlin(2026, 11, 20, 10))
    assert [v.minutes for v in variants] == [150, 155, 155, 160, 160, 160, 165, 165, 170]


def test_flexible_steps_end_at_a_max_that_is_no_multiple_of_five():
    variants = plan_variants(flexible("177", max_gap_stretch=12), berlin(2026, 11, 20, 14))
    assert [v.gap_stretch for v in variants] == [(), (5,), (10,), (12,)]


def test_flexible_variants_are_bounded():
    wide = flexible(max_gap_stretch=600)  # 121 steps per gap, 14641 combinations
    variants = list(plan_variants(wide, berlin(2026, 11, 20, 10)))
    assert len(variants) == MAX_PLAN_VARIANTS
    totals = [sum(v.gap_stretch) for v in variants]
    assert totals == sorted(totals)
    assert len({v.gap_stretch for v in variants}) == MAX_PLAN_VARIANTS


def test_flexible_without_stretch_and_other_policies_yield_one_plan():
    start = berlin(2026, 11, 20, 10)
    assert len(list(plan_variants(flexible(max_gap_stretch=0), start))) == 1
    for policy in (PausePolicy.FREE, PausePolicy.BLOCKED, PausePolicy.NEVER):
        (only,) = plan_variants(with_policy(DEMO["42"], policy), start)
        assert only == plan_service(with_policy(DEMO["42"], policy), start)


def test_max_gap_stretch_is_only_for_flexible():
    with pytest.raises(ValidationError, match="only to the flexible pause policy, not 'free'"):
        with_policy(DEMO["177"], PausePolicy.FREE, max_gap_stretch=10)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        with_policy(DEMO["177"], PausePolicy.FLEXIBLE, max_gap_stretch=-5)
    assert DEMO["177"].max_gap_stretch == 0


# -- simple services -----------------------------------------------------------------------


def test_simple_service_is_a_one_segment_plan():
    plan = plan_service(DEMO["41"], berlin(2026, 11, 20, 9, 30))
    (segment,) = plan.segments
    assert (segment.key, segment.name, segment.minutes, segment.gap_after) == ("A", "Damenhaarschnitt", 45, 0)
    assert hold_spans(plan) == [("segment", "A", "09:30", 45)]
    assert not plan.composite and plan.waiting_minutes == 0 and plan.minutes == 45
    assert gap_keys(DEMO["41"]) == ()
    assert list(plan_variants(DEMO["41"], berlin(2026, 11, 20, 9, 30))) == [plan]


# -- time zones --------------------------------------------------------------------------------


def test_naive_start_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_service(DEMO["177"], datetime(2026, 11, 20, 14))


def test_spring_forward_day_shifts_utc_not_durations():
    plan = plan_service(DEMO["177"], berlin(2026, 3, 29, 10))
    assert plan.start == utc(2026, 3, 29, 8)  # CEST, +02:00
    assert spans(plan)[0] == ("A", "10:00", "10:30")
    # Across the change itself (02:00 -> 03:00): 150 real minutes, the wall clock jumps an hour.
    across = plan_service(DEMO["177"], berlin(2026, 3, 29, 1, 0))
    assert across.start == utc(2026, 3, 29, 0) and across.end == utc(2026, 3, 29, 2, 30)
    assert spans(across) == [
        ("A", "01:00", "01:30"),
        ("B", "03:15", "03:30"),
        ("C", "03:30", "04:00"),
        ("D", "04:00", "04:30"),
    ]
    assert [s.minutes for s in across.segments] == [30, 15, 30, 30]
    assert across.minutes == 150 and across.waiting_minutes == 45


def test_fall_back_day_shifts_utc_not_durations():
    plan = plan_service(DEMO["177"], berlin(2026, 10, 25, 14))
    assert plan.start == utc(2026, 10, 25, 13)  # CET again, +01:00
    assert spans(plan)[-1] == ("D", "16:00", "16:30")
    across = plan_service(with_policy(DEMO["42"], PausePolicy.BLOCKED), berlin(2026, 10, 25, 1, 0))
    assert across.start == utc(2026, 10, 24, 23)
    assert across.end - across.start == timedelta(minutes=150)
    # 01:00 CEST + 150 min: the hour 02:00-03:00 is lived twice, so the wall clock shows 02:30.
    assert spans(across)[-1] == ("C", "02:10", "02:30")
    assert [h.minutes for h in across.holds] == [45, 10, 60, 15, 20]
    assert_contiguous(across)


def test_same_local_time_on_both_sides_of_a_change_keeps_the_shape():
    summer = plan_service(DEMO["177"], berlin(2026, 10, 24, 14))
    winter = plan_service(DEMO["177"], berlin(2026, 10, 25, 14))
    assert spans(summer) == spans(winter)
    assert winter.start - summer.start == timedelta(hours=25)


# -- fitting and alternatives ---------------------------------------------------------------


def test_plan_fits_only_when_every_hold_is_free():
    plan = plan_service(DEMO["42"], berlin(2026, 11, 20, 10))
    assert plan_fits(plan, lambda hold: True)
    assert not plan_fits(plan, lambda hold: hold.kind != "gap")
    asked: list[Hold] = []
    plan_fits(plan_service(DEMO["177"], berlin(2026, 11, 20, 14)), lambda h: asked.append(h) or True)
    assert [h.key for h in asked] == ["A", "B", "C", "D"]


def test_free_plan_fits_around_a_booking_in_the_gap_that_blocked_does_not():
    taken = (utc(2026, 11, 20, 13, 40), utc(2026, 11, 20, 14, 10))  # 14:40-15:10 Berlin

    def is_free(hold: Hold) -> bool:
        return hold.end <= taken[0] or hold.start >= taken[1]

    start = berlin(2026, 11, 20, 14)
    assert plan_fits(plan_service(DEMO["177"], start), is_free)
    assert not plan_fits(plan_service(with_policy(DEMO["177"], PausePolicy.BLOCKED), start), is_free)
    assert not plan_fits(plan_service(with_policy(DEMO["177"], PausePolicy.NEVER), start), is_free)


NOW = berlin(2026, 11, 19, 12)


def test_alternatives_same_day_first_then_other_days_by_distance():
    requested = berlin(2026, 11, 20, 14)
    candidates = [
        berlin(2026, 11, 20, 9),
        berlin(2026, 11, 20, 17),
        berlin(2026, 11, 21, 14),  # 24 h away, next day
        berlin(2026, 11, 20, 15, 30),
        berlin(2026, 11, 19, 16),  # 22 h away, day before
    ]
    assert nearest_alternatives(requested, candidates, zone=BERLIN, now=NOW) == [
        berlin(2026, 11, 20, 15, 30),
        berlin(2026, 11, 20, 17),
        berlin(2026, 11, 20, 9),
    ]
    assert nearest_alternatives(requested, candidates, zone=BERLIN, now=NOW, limit=5)[3:] == [
        berlin(2026, 11, 19, 16),
        berlin(2026, 11, 21, 14),
    ]


def test_alternatives_ties_go_to_the_earlier_time():
    requested = berlin(2026, 11, 20, 14)
    candidates = [berlin(2026, 11, 20, 15), berlin(2026, 11, 20, 13), berlin(2026, 11, 21, 14)]
    candidates += [berlin(2026, 11, 19, 14)]
    assert nearest_alternatives(requested, candidates, zone=BERLIN, now=berlin(2026, 11, 19, 8), limit=4) == [
        berlin(2026, 11, 20, 13),
        berlin(2026, 11, 20, 15),
        berlin(2026, 11, 19, 14),
        berlin(2026, 11, 21, 14),
    ]


def test_alternatives_leave_out_the_past_the_requested_time_and_duplicates():
    requested = berlin(2026, 11, 20, 14)
    now = berlin(2026, 11, 20, 12)
    candidates = [
        berlin(2026, 11, 20, 11),  # past
        berlin(2026, 11, 20, 12),  # exactly now: offered
        requested,
        berlin(2026, 11, 20, 16),
        utc(2026, 11, 20, 15),  # 16:00 Berlin again
    ]
    assert nearest_alternatives(requested, candidates, zone=BERLIN, now=now) == [
        berlin(2026, 11, 20, 12),
        berlin(2026, 11, 20, 16),
    ]


def test_alternatives_limit_and_local_day_boundaries():
    # 00:30 Berlin is still the previous day in UTC: the day is the zone's.
    requested = berlin(2026, 11, 20, 0, 30)
    candidates = [utc(2026, 11, 19, 22, 0), berlin(2026, 11, 20, 2)]  # 23:00 on the 19th, 02:00 on the 20th
    assert nearest_alternatives(requested, candidates, zone=BERLIN, now=NOW, limit=1) == [
        berlin(2026, 11, 20, 2)
    ]
    assert nearest_alternatives(requested, candidates, zone=BERLIN, now=NOW, limit=0) == []
    assert nearest_alternatives(requested, [], zone=BERLIN, now=NOW) == []


def test_alternatives_measure_distance_in_real_time_across_a_dst_change():
    # 25 Oct 2026: 03:00 CEST becomes 02:00 CET, the hour 02:00-03:00 is lived twice.
    requested = berlin(2026, 10, 25, 2, 30)  # the first 02:30 (CEST) = 00:30Z
    after = berlin(2026, 10, 25, 4, 30)  # 03:30Z: 3 h later (2 h on the wall clock)
    before = berlin(2026, 10, 25, 0, 0)  # 22:00Z the day before: 2.5 h earlier
    second = berlin(2026, 10, 25, 2, 30, fold=1)  # the second 02:30 (CET) = 01:30Z: 1 h later
    now = berlin(2026, 10, 20, 12)
    got = nearest_alternatives(requested, [after, before, second], zone=BERLIN, now=now)
    assert got == [second, before, after]
    assert got[0].fold == 1  # returned as given
    # The requested instant itself is no alternative, whatever object or zone it comes as.
    same = [berlin(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)]
    assert nearest_alternatives(requested, same, zone=BERLIN, now=now) == []


def test_alternatives_reject_naive_times():
    with pytest.raises(ValueError, match="requested must be timezone-aware"):
        nearest_alternatives(datetime(2026, 11, 20, 14), [], zone=BERLIN, now=NOW)
    with pytest.raises(ValueError, match="candidate must be timezone-aware"):
        nearest_alternatives(berlin(2026, 11, 20, 14), [datetime(2026, 11, 20, 15)], zone=BERLIN, now=NOW)


# -- property-style: every demo service under every policy ------------------------------------

STARTS = [
    berlin(2026, 11, 20, 9),
    berlin(2026, 3, 29, 1, 30),
    berlin(2026, 10, 25, 1, 30),
    berlin(2026, 10, 25, 2, 30, fold=1),
]
CASES = [
    (service_id, policy, start) for service_id in sorted(DEMO) for policy in PausePolicy for start in STARTS
]


def _union(intervals):
    merged: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(i) for i in merged]


@pytest.mark.parametrize(("service_id", "policy", "start"), CASES)
def test_holds_cover_exactly_what_each_policy_promises(service_id, policy, start):
    service = with_policy(DEMO[service_id], policy, 15 if policy is PausePolicy.FLEXIBLE else 0)
    for plan in plan_variants(service, start):
        segments = plan.segments
        # Segments: in order, each as long as configured, separated by exactly their gap.
        assert plan.start == segments[0].start == start.astimezone(UTC) and plan.end == segments[-1].end
        configured = service.segments or [None]
        for seg, conf in zip(segments, configured, strict=True):
            assert seg.minutes == (conf.duration if conf else service.duration)
        for before, after in pairwise(segments):
            assert after.start - before.end == timedelta(minutes=before.gap_after)
        assert segments[-1].gap_after == 0
        assert plan.minutes == service.duration + sum(plan.gap_stretch)
        assert plan.waiting_minutes == service.gap_minutes + sum(plan.gap_stretch)

        holds = plan.holds
        for hold in holds:
            assert hold.end - hold.start == timedelta(minutes=hold.minutes)
            assert hold.start.tzinfo is UTC and hold.end.tzinfo is UTC
        assert len({h.key for h in holds}) == len(holds)
        assert all(a.end <= b.start for a, b in pairwise(holds))  # ordered, disjoint
        segment_time = [(s.start, s.end) for s in segments]
        if policy in (PausePolicy.FREE, PausePolicy.FLEXIBLE):
            assert {h.kind for h in holds} == {"segment"}
            assert [(h.start, h.end) for h in holds] == segment_time
            assert plan.held_minutes == plan.minutes - plan.waiting_minutes
        elif policy is PausePolicy.BLOCKED:
            assert {h.kind for h in holds} <= {"segment", "gap"}
            assert _union((h.start, h.end) for h in holds) == [(plan.start, plan.end)]
            assert plan.held_minutes == plan.minutes
            assert [(h.start, h.end) for h in holds if h.kind == "segment"] == segment_time
        else:
            assert [(h.kind, h.start, h.end) for h in holds] == [("whole", plan.start, plan.end)]
