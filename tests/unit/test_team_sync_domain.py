"""The team sync's pure decisions (domain/team_sync.py): members, staff links, event types -> services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calbridge.domain.models import Segment, Service, StaffMember
from calbridge.domain.team_sync import (
    CalcomEventType,
    CalcomMember,
    EventTypeHost,
    TeamEventTypeMapping,
    TeamMember,
    is_booking_event_type,
    plan_event_types,
    plan_members,
    plan_staff_links,
)

CO = "salon"
EARLIER = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
NOW = EARLIER + timedelta(days=1)


def listed(user_id: int, email: str | None = None, **fields) -> CalcomMember:
    return CalcomMember(
        user_id=user_id,
        membership_id=fields.pop("membership_id", 8000 + user_id % 1000),
        email=email if email is not None else f"user{user_id}@example.com",
        name=fields.pop("name", f"User {user_id}"),
        username=fields.pop("username", f"user{user_id}"),
        role=fields.pop("role", "MEMBER"),
        accepted=fields.pop("accepted", True),
    )


def stored(entry: CalcomMember, **changes) -> TeamMember:
    member = TeamMember(
        company_id=CO,
        user_id=entry.user_id,
        membership_id=entry.membership_id,
        email=entry.email,
        name=entry.name,
        username=entry.username,
        role=entry.role,
        accepted=entry.accepted,
        first_seen_at=EARLIER,
        updated_at=EARLIER,
    )
    return member.model_copy(update=changes)


# ------------------------------------------------------------------ members


def test_calcom_member_input_is_normalised():
    member = CalcomMember(
        user_id=1, email="  Fabian@AskPro.DE ", name="  Fabian ", username=" ", role="owner"
    )
    assert (member.email, member.name, member.username, member.role) == (
        "fabian@askpro.de",
        "Fabian",
        None,
        "OWNER",
    )
    assert CalcomMember(user_id=2, email="").email is None
    assert CalcomMember(user_id=3, email="not-an-address").email is None


def test_new_members_are_planned_and_unchanged_ones_are_not_written():
    a, b = listed(1), listed(2)
    plan = plan_members(CO, [a, b], {1: stored(a)}, (), NOW)

    assert [m.user_id for m in plan.new] == [2]
    assert plan.changed == () and plan.deactivated == () and plan.skipped == ()
    assert [m.user_id for m in plan.writes] == [2]
    assert plan.new[0].first_seen_at == NOW
    assert plan.members[0] == stored(a)  # the stored record, timestamps untouched


def test_a_changed_member_keeps_first_seen_and_is_written():
    before = listed(1)
    now = listed(1, email="new@example.com", role="ADMIN")
    plan = plan_members(CO, [now], {1: stored(before)}, (), NOW)

    (changed,) = plan.changed
    assert (changed.email, changed.role, changed.first_seen_at, changed.updated_at) == (
        "new@example.com",
        "ADMIN",
        EARLIER,
        NOW,
    )


def test_members_no_longer_listed_are_deactivated_never_deleted():
    a, b, c = listed(1), listed(2), listed(3)
    inactive = stored(c, is_active=False, deactivated_at=EARLIER)
    plan = plan_members(CO, [a], {1: stored(a), 2: stored(b), 3: inactive}, (), NOW)

    (gone,) = plan.deactivated
    assert (gone.user_id, gone.is_active, gone.deactivated_at, gone.first_seen_at) == (2, False, NOW, EARLIER)
    assert plan.departed_user_ids == (2,)  # 3 left earlier and is not deactivated again


def test_a_member_who_comes_back_is_reactivated():
    a = listed(1)
    plan = plan_members(CO, [a], {1: stored(a, is_active=False, deactivated_at=EARLIER)}, (), NOW)
    (back,) = plan.changed
    assert (back.is_active, back.deactivated_at) == (True, None)


def test_a_mapped_host_that_is_not_a_member_has_departed():
    a = listed(1)
    plan = plan_members(CO, [a], {}, {1, 77}, NOW)
    assert plan.departed_user_ids == (77,)


def test_an_empty_listing_deactivates_nobody():
    a = listed(1)
    plan = plan_members(CO, [], {1: stored(a)}, {1}, NOW)
    assert plan.deactivated == () and plan.departed_user_ids == ()
    assert [s.kind for s in plan.skipped] == ["team"]
    assert "nobody was deactivated" in plan.skipped[0].reason


def test_bad_memberships_are_skipped_with_reasons():
    first = listed(1, membership_id=11)
    twice = listed(1, membership_id=12, email="other@example.com")
    no_email = CalcomMember(user_id=2, membership_id=13, email=None, name="Ohne Mail", accepted=True)
    same_email = listed(3, email="USER1@example.com")
    plan = plan_members(CO, [first, twice, no_email, same_email], {}, (), NOW)

    assert [m.user_id for m in plan.members] == [1]
    reasons = {(s.ref, s.reason) for s in plan.skipped}
    assert reasons == {
        ("Cal.com user 1", "listed twice by Cal.com (memberships 11 and 12): the first entry is used"),
        ("Cal.com user 2", "no e-mail address in Cal.com: not synced"),
        ("Cal.com user 3", "same e-mail address as Cal.com user 1: only that user is synced"),
    }
    # Skipped users are still in the team: not departed.
    plan = plan_members(CO, [first, no_email], {2: stored(listed(2))}, {2}, NOW)
    assert plan.deactivated == () and plan.departed_user_ids == ()


def test_pending_invitations_are_recorded_but_not_linkable():
    plan = plan_members(CO, [listed(1), listed(2, accepted=False)], {}, (), NOW)
    assert [m.user_id for m in plan.members] == [1, 2]
    assert [m.user_id for m in plan.linkable] == [1]


def test_team_member_as_host():
    host = stored(listed(5, name="Lena Mueller", username="lenam")).host
    assert (host.id, host.email, host.name, host.username) == (
        5,
        "user5@example.com",
        "Lena Mueller",
        "lenam",
    )


# ------------------------------------------------------------------ staff links


def person(staff_id: str, **fields) -> StaffMember:
    return StaffMember(company_id=CO, staff_id=staff_id, name=staff_id.title(), **fields)


def test_a_linked_member_sets_the_staff_members_user_id_and_username():
    plan = plan_staff_links([person("emma")], {10: "emma"}, {10: "emmaw"}, ())
    (update,) = plan.updates
    assert (update.calcom_user_id, update.calcom_username) == (10, "emmaw")
    assert plan.linked == ("emma",) and plan.unlinked == ()


def test_nothing_changes_when_the_link_is_already_there():
    plan = plan_staff_links(
        [person("emma", calcom_user_id=10, calcom_username="emmaw")], {10: "emma"}, {10: "emmaw"}, ()
    )
    assert plan.updates == () and plan.linked == ()


def test_a_changed_username_updates_without_counting_as_a_new_link():
    plan = plan_staff_links(
        [person("emma", calcom_user_id=10, calcom_username="old")], {10: "emma"}, {10: "new"}, ()
    )
    assert [u.calcom_username for u in plan.updates] == ["new"] and plan.linked == ()


def test_departed_or_relinked_users_are_cleared():
    plan = plan_staff_links(
        [
            person("gone", calcom_user_id=10, calcom_username="g"),
            person("moved", calcom_user_id=20, calcom_username="m"),
            person("pending", calcom_user_id=30, calcom_username="p"),
        ],
        {20: "other"},
        {20: "m"},
        {10},
    )
    cleared = {u.staff_id: (u.calcom_user_id, u.calcom_username) for u in plan.updates}
    # "pending": its user is neither gone nor linked elsewhere (e.g. waiting for review): left alone.
    assert cleared == {"gone": (None, None), "moved": (None, None)}
    assert plan.unlinked == ("gone", "moved") and plan.linked == ()


def test_several_users_linked_to_one_staff_member_are_reported_not_guessed():
    plan = plan_staff_links([person("emma")], {10: "emma", 11: "emma"}, {10: "a", 11: "b"}, ())
    assert plan.updates == ()
    (skip,) = plan.skipped
    assert (skip.kind, skip.ref) == ("staff_link", "emma") and "10, 11" in skip.reason
    keep = plan_staff_links(
        [person("emma", calcom_user_id=11, calcom_username="b")],
        {10: "emma", 11: "emma"},
        {10: "a", 11: "b"},
        (),
    )
    assert keep.updates == () and keep.skipped == ()


def test_inactive_staff_are_left_alone():
    plan = plan_staff_links([person("old", active=False, calcom_user_id=10)], {}, {}, {10})
    assert plan.updates == ()


# ------------------------------------------------------------------ event types -> services


def event_type(et_id: int, **fields) -> CalcomEventType:
    hosts = fields.pop("hosts", (EventTypeHost(user_id=10, name="Emma"),))
    return CalcomEventType(
        id=et_id,
        title=fields.pop("title", f"Service {et_id}"),
        slug=fields.pop("slug", f"service-{et_id}"),
        length=fields.pop("length", 30),
        hosts=hosts,
        **fields,
    )


def service(service_id: str, event_type_id: int | None, **fields) -> Service:
    return Service(
        company_id=CO,
        service_id=service_id,
        name=fields.pop("name", f"Service {event_type_id}"),
        duration=fields.pop("duration", 30),
        calcom_event_type_id=event_type_id,
        **fields,
    )


def members(*user_ids: int) -> dict[int, TeamMember]:
    return {u: stored(listed(u)) for u in user_ids}


def test_segment_event_types_are_recognised_by_their_slug():
    assert is_booking_event_type("cb-177-a") and is_booking_event_type("cb-42-gap-a-u1420209")
    assert not is_booking_event_type("cbd-massage") and not is_booking_event_type("damenhaarschnitt")


def test_a_new_event_type_becomes_a_service_with_its_hosts_staff():
    et = event_type(
        500, title="Bartpflege", length=20, hosts=(EventTypeHost(user_id=10), EventTypeHost(user_id=11))
    )
    plan = plan_event_types(CO, [et], {}, [], members(10, 11), {10: "emma", 11: "fabian"}, NOW)

    (created,) = plan.created
    assert (created.service_id, created.name, created.duration, created.calcom_event_type_id) == (
        "calcom-500",
        "Bartpflege",
        20,
        500,
    )
    assert created.staff_ids == ["emma", "fabian"] and created.active
    (mapping,) = plan.mappings
    assert (mapping.service_id, [h.email for h in mapping.hosts]) == (
        "calcom-500",
        ["user10@example.com", "user11@example.com"],
    )
    assert plan.imported == 1


def test_an_existing_service_is_found_by_event_type_id_and_updated_never_duplicated():
    current = service("41", 3719001, name="Damenhaarschnitt", duration=45, staff_ids=["emma"])
    et = event_type(3719001, title="Damenhaarschnitt lang", length=60)
    plan = plan_event_types(CO, [et], {}, [current], members(10), {10: "emma"}, NOW)

    assert plan.created == ()
    (updated,) = plan.updated
    assert (updated.service_id, updated.name, updated.duration, updated.staff_ids) == (
        "41",
        "Damenhaarschnitt lang",
        60,
        ["emma"],
    )


def test_an_unchanged_event_type_and_service_plan_no_writes():
    current = service("41", 3719001, name="Damenhaarschnitt", duration=45)
    et = event_type(3719001, title="Damenhaarschnitt", length=45)
    first = plan_event_types(CO, [et], {}, [current], members(10), {}, EARLIER)
    recorded = {m.event_type_id: m for m in first.mappings}

    again = plan_event_types(CO, [et], recorded, [current], members(10), {}, NOW)

    assert again.mappings == () and again.services == [] and again.imported == 1


def test_segment_event_types_are_not_imported():
    plan = plan_event_types(CO, [event_type(900, slug="cb-177-a", hidden=True)], {}, [], members(10), {}, NOW)
    assert plan.mappings == () and plan.created == () and plan.imported == 0 and plan.skipped == ()


def test_event_types_without_hosts_or_length_are_skipped():
    plan = plan_event_types(
        CO, [event_type(1, hosts=()), event_type(2, length=None), event_type(2)], {}, [], {}, {}, NOW
    )
    assert [(s.ref, s.reason) for s in plan.skipped] == [
        ("event type 1", "no hosts: nobody can be booked on it"),
        ("event type 2", "no length in minutes"),
        ("event type 2", "listed twice by Cal.com"),
    ]
    assert plan.mappings == () and plan.created == ()


def test_a_hidden_event_type_becomes_an_inactive_service():
    plan = plan_event_types(CO, [event_type(7, hidden=True)], {}, [], members(10), {}, NOW)
    assert plan.created[0].active is False


@pytest.mark.parametrize(
    ("services", "reason"),
    [
        (
            [service("a", 5), service("b", 5)],
            "services a, b all use this event type: none of them is updated",
        ),
        ([service("calcom-5", 99)], "service calcom-5 exists but books event type 99"),
    ],
)
def test_ambiguous_or_clashing_services_are_skipped_but_the_hosts_recorded(services, reason):
    plan = plan_event_types(CO, [event_type(5, title="Neu")], {}, services, members(10), {}, NOW)
    assert [(s.kind, s.reason) for s in plan.skipped] == [("service", reason)]
    assert plan.services == []
    (mapping,) = plan.mappings
    assert mapping.service_id is None and [h.user_id for h in mapping.hosts] == [10]


def test_a_composite_service_cannot_take_an_event_types_length():
    composite = service(
        "177",
        5,
        name="Ansatz",
        duration=45,
        composite=True,
        segments=[
            Segment(key="A", name="Farbe", duration=30, gap_after=10),
            Segment(key="B", name="Föhnen", duration=5),
        ],
    )
    plan = plan_event_types(
        CO, [event_type(5, title="Ansatz", length=60)], {}, [composite], members(10), {}, NOW
    )
    (skip,) = plan.skipped
    assert skip.kind == "service" and "does not match its segments and gaps" in skip.reason
    assert plan.updated == ()


def test_an_event_type_gone_from_calcom_deactivates_its_mapping_and_service():
    recorded = TeamEventTypeMapping(
        company_id=CO,
        event_type_id=5,
        title="Alt",
        slug="alt",
        length=30,
        service_id="calcom-5",
        updated_at=EARLIER,
    )
    plan = plan_event_types(CO, [], {5: recorded}, [service("calcom-5", 5)], {}, {}, NOW)

    assert plan.removed == 1
    (mapping,) = plan.mappings
    assert (mapping.is_active, mapping.updated_at) == (False, NOW)
    assert [(s.service_id, s.active) for s in plan.deactivated] == [("calcom-5", False)]
    again = plan_event_types(CO, [], {5: mapping}, [plan.deactivated[0]], {}, {}, NOW)
    assert again.mappings == () and again.removed == 0 and again.deactivated == ()
