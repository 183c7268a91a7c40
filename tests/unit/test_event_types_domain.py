"""Booking event types (domain/event_types.py): which holds a service books, one event type per
hold and staff member, their slugs, what counts as drift, and which event type books a hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calbridge.adapters.calcom.models import TeamEventType, TeamEventTypeCreate, TeamEventTypeUpdate
from calbridge.domain.event_types import (
    EventMapEntry,
    EventTypeShape,
    SyncStatus,
    event_type_for,
    hold_targets,
    index_event_map,
    map_key,
    segment_slug,
)
from calbridge.domain.models import PausePolicy, Service
from calbridge.domain.planning import gap_key, plan_service
from calbridge.errors import EventTypeMissing

BERLIN = ZoneInfo("Europe/Berlin")
FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())
COMPANY = FIXTURE["company"]["company_id"]
DEMO = {s["service_id"]: Service.model_validate({"company_id": COMPANY, **s}) for s in FIXTURE["services"]}
START = datetime(2030, 3, 6, 14, 0, tzinfo=BERLIN)
FABIAN, EMMA = 1420209, 1420210


def entry(
    service_id: str,
    key: str,
    length: int,
    user: int | None = FABIAN,
    event_type_id: int | None = 900,
    **extra,
):
    return EventMapEntry(
        company_id=COMPANY,
        service_id=service_id,
        segment_key=key,
        host_user_id=user,
        event_type_id=event_type_id,
        slug=segment_slug(service_id, key, user),
        title=f"{service_id} - {key}",
        length=length,
        sync_status=extra.pop("sync_status", SyncStatus.SYNCED),
        updated_at=datetime(2030, 1, 1, tzinfo=UTC),
        **extra,
    )


def with_policy(service: Service, policy: PausePolicy) -> Service:
    return Service.model_validate({**service.model_dump(), "pause_policy": policy})


# ---------------------------------------------------------------------------------------------
# Which holds a service books


def test_every_plan_hold_has_a_target_and_the_first_hold_comes_first():
    for service in DEMO.values():
        for policy in PausePolicy if service.composite else [service.pause_policy]:
            if policy is PausePolicy.FLEXIBLE:
                continue  # needs a max stretch; its holds are the free policy's
            variant = with_policy(service, policy) if service.composite else service
            targets = hold_targets(variant)
            holds = plan_service(variant, START).holds
            by_key = {t.key: t for t in targets}
            assert {h.key for h in holds} <= set(by_key), (service.service_id, policy)
            assert all(by_key[h.key].minutes == h.minutes for h in holds)
            assert targets[0].first and not any(t.first for t in targets[1:])
            assert targets[0].key == holds[0].key


def test_targets_per_policy():
    assert [(t.key, t.minutes) for t in hold_targets(DEMO["41"])] == [("A", DEMO["41"].duration)]
    colour = DEMO["177"]
    # B starts 75 minutes after A, off its own 15-minute grid: the later holds step by 5 minutes.
    assert [(t.key, t.minutes, t.slot_interval) for t in hold_targets(colour)] == [
        ("A", 30, None), ("B", 15, 5), ("C", 30, 5), ("D", 30, 5)
    ]  # fmt: skip
    segments = [
        {"key": "A", "name": "a", "duration": 12, "gap_after": 20},
        {"key": "B", "name": "b", "duration": 30},
    ]
    odd = Service.model_validate({**colour.model_dump(), "duration": 62, "segments": segments})
    assert [t.slot_interval for t in hold_targets(odd)] == [None, 1]  # 12 minutes: a grid of 1
    assert [t.key for t in hold_targets(with_policy(colour, PausePolicy.NEVER))] == ["whole"]
    blocked = DEMO["42"]
    keys = [(t.key, t.slot_interval) for t in hold_targets(blocked)]
    assert [k for k, _ in keys][:3] == [s.key for s in blocked.segments]
    assert gap_key("A") in [k for k, _ in keys] and {i for _, i in keys} == {5}
    gap = next(t for t in hold_targets(blocked) if t.key == gap_key("A"))
    assert gap.name.startswith("Pause nach ")
    assert gap.title(blocked, "Fabian Spitzer") == f"{blocked.name} - {gap.name} (Fabian Spitzer)"


def test_slugs_and_map_keys_name_the_staff_members_user():
    assert segment_slug("177", "A", FABIAN) == "cb-177-a-u1420209"
    assert segment_slug("42", gap_key("A"), EMMA) == "cb-42-gap-a-u1420210"
    assert segment_slug("177", "A") == "cb-177-a"  # the shared event type of before ADR 0013
    assert segment_slug("Cut_1", "A", FABIAN) != segment_slug("cut-1", "A", FABIAN)
    assert len(segment_slug("x" * 64, "gap-ABCDEFGH", 10**12)) <= 100
    assert map_key("177", "A", FABIAN) == "177#A#1420209" and map_key("177", "A") == "177#A"
    assert entry("177", "A", 30).key == "177#A#1420209" and entry("177", "A", 30, user=None).legacy


# ---------------------------------------------------------------------------------------------
# Which event type books a hold


def test_each_staff_member_books_their_own_event_type_of_each_hold():
    service = DEMO["177"]
    lengths = {"A": 30, "B": 15, "C": 30, "D": 30}
    entries = index_event_map(
        [entry("177", k, n, FABIAN, 800 + i) for i, (k, n) in enumerate(lengths.items())]
        + [entry("177", k, n, EMMA, 900 + i) for i, (k, n) in enumerate(lengths.items())]
        + [entry("177", "A", 30, None, 700)]  # legacy: never used
    )
    plan = plan_service(service, START)
    assert [event_type_for(h, service, entries, FABIAN) for h in plan.holds] == [800, 801, 802, 803]
    assert [event_type_for(h, service, entries, EMMA) for h in plan.holds] == [900, 901, 902, 903]
    with pytest.raises(EventTypeMissing, match=r"for Cal\.com user 1420211"):
        event_type_for(plan.holds[0], service, entries, 1420211)


def test_a_simple_service_books_its_own_per_staff_event_type_not_the_salons():
    service = DEMO["41"]
    (hold,) = plan_service(service, START).holds
    with pytest.raises(EventTypeMissing, match="hold A of service 41"):
        event_type_for(hold, service, {}, FABIAN)  # calcom_event_type_id alone cannot pin Fabian
    entries = index_event_map([entry("41", "A", service.duration, FABIAN, 444)])
    assert event_type_for(hold, service, entries, FABIAN) == 444


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (None, "no event type in the event map"),
        ({"event_type_id": None}, "no event type in the event map"),
        ({"sync_status": SyncStatus.FAILED, "detail": "Cal.com: nope"}, "is failed: Cal.com: nope"),
        ({"sync_status": SyncStatus.REMOVED}, "is removed"),
        ({"sync_status": SyncStatus.PENDING}, "is pending"),
        ({"length": 45}, "lasts 45 min, the hold 30 min"),
    ],
)
def test_an_unusable_event_type_is_event_type_missing_naming_the_hold(changed, message):
    service = DEMO["177"]
    hold = plan_service(service, START).holds[0]
    entries = {} if changed is None else index_event_map([entry("177", "A", **{"length": 30, **changed})])
    with pytest.raises(EventTypeMissing, match=message) as missing:
        event_type_for(hold, service, entries, FABIAN)
    assert "hold A of service 177" in str(missing.value)


def test_a_drifted_entry_still_books():
    service = DEMO["177"]
    hold = plan_service(service, START).holds[0]
    entries = index_event_map([entry("177", "A", 30, sync_status=SyncStatus.DRIFTED)])
    assert event_type_for(hold, service, entries, FABIAN) == 900


# ---------------------------------------------------------------------------------------------
# Drift, and what goes on the wire


def test_drift_is_every_managed_difference():
    wanted = EventTypeShape(
        title="t", slug="s", length=30, host_user_ids=(FABIAN,), slot_interval=5, minimum_notice=120
    )
    assert wanted.differences(wanted) == []
    found = EventTypeShape(
        title="t2", slug="s", length=45, hidden=False, collective=False,
        host_user_ids=(FABIAN, EMMA), slot_interval=None, minimum_notice=0,
    )  # fmt: skip
    assert wanted.differences(found) == [
        "title 't2' -> 't'",
        "length 45 -> 30",
        "hidden False -> True",
        "slot interval None -> 5",
        "minimum notice 0 -> 120 min",
        "scheduling type -> collective",
        f"hosts [{FABIAN}, {EMMA}] -> [{FABIAN}]",
    ]
    unmanaged = EventTypeShape(title="t", slug="s", length=30, host_user_ids=(FABIAN,))
    assert unmanaged.differences(found.model_copy(update={"title": "t", "length": 30})) == [
        "hidden False -> True",
        "scheduling type -> collective",
        f"hosts [{FABIAN}, {EMMA}] -> [{FABIAN}]",
    ]  # None: slot interval and notice are left as Cal.com has them


def test_create_and_update_bodies_use_cal_coms_names():
    body = TeamEventTypeCreate(
        title="Ansatzfärbung - Farbe auftragen (Fabian Spitzer)",
        slug="cb-177-a-u1420209",
        length_in_minutes=30,
        scheduling_type="collective",
        hidden=True,
        hosts=[{"user_id": FABIAN}],
        minimum_booking_notice=120,
        email_settings={"disable_emails_to_attendees": True, "disable_emails_to_hosts": True},
    ).body()
    assert body == {
        "hosts": [{"userId": FABIAN}],
        "hidden": True,
        "minimumBookingNotice": 120,
        "emailSettings": {"disableEmailsToAttendees": True, "disableEmailsToHosts": True},
        "title": "Ansatzfärbung - Farbe auftragen (Fabian Spitzer)",
        "slug": "cb-177-a-u1420209",
        "lengthInMinutes": 30,
        "schedulingType": "collective",
    }
    assert TeamEventTypeUpdate(slot_interval=5).body() == {"slotInterval": 5}
    assert TeamEventTypeUpdate(hidden=True).body() == {"hidden": True}  # nothing else is sent
    read = TeamEventType.model_validate(
        {"id": 1, "slotInterval": None, "minimumBookingNotice": 120,
         "emailSettings": {"disableEmailsToAttendees": False, "disableEmailsToHosts": False}}
    )  # fmt: skip
    assert read.slot_interval is None and read.minimum_booking_notice == 120
    assert read.email_settings is not None and not read.email_settings.disable_emails_to_hosts
