"""The Cal.com stand-in with a second team: another salon's own Cal.com account, its members and key.

Cal.com's keys are user-scoped (docs/reference/calcom.md §1.1): team routes ask RolesGuard for the
key's user's membership and role, `GET /v2/teams` lists that user's teams, and `GET /v2/bookings`
lists what that user may see (getBookings in Cal.com's bookings get.handler.ts).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.calcom_standin import CalcomStandIn
from tests.integration.standin_api import (
    DAMEN,
    EMMA,
    MONDAY,
    TEAM,
    V_BOOKINGS,
    V_EVENT_TYPES,
    V_SLOTS,
    assert_error,
    book,
    starts,
)

OTHER_TEAM, OTHER_KEY, OWNER, STYLIST, TRAINEE = (
    51002,
    "cal_live_riverside_owner_key",
    1530001,
    1530002,
    1530003,
)
HOURS = [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}]


def riverside(**changes: Any) -> dict[str, Any]:
    members = [
        {"user_id": OWNER, "email": "owner@riverside.example", "name": "Olivia Owner", "role": "OWNER",
         "time_zone": "Europe/London", "working_hours": HOURS},
        {"user_id": STYLIST, "email": "sam@riverside.example", "name": "Sam Stylist", "role": "MEMBER",
         "time_zone": "Europe/London", "working_hours": HOURS},
        {"user_id": TRAINEE, "email": "tia@riverside.example", "name": "Tia Trainee", "role": "MEMBER",
         "accepted": False, "time_zone": "Europe/London", "working_hours": HOURS},
    ]  # fmt: skip
    return {"id": OTHER_TEAM, "slug": "riverside", "name": "Riverside Hair", "members": members,
            "api_key": OTHER_KEY, **changes}  # fmt: skip


@pytest.fixture
def other(api: httpx.Client, standin: CalcomStandIn) -> httpx.Client:
    """The second team's owner, with the key the team's owner created."""
    created = api.post("/_standin/teams", json=riverside())
    assert created.status_code == 201, created.text
    return httpx.Client(base_url=standin.url, headers={"Authorization": f"Bearer {OTHER_KEY}"}, timeout=5)


def haircut(client: httpx.Client, team: int = OTHER_TEAM, hosts: list[int] | None = None) -> httpx.Response:
    body = {
        "title": "Men's cut",
        "slug": "mens-cut",
        "lengthInMinutes": 30,
        "schedulingType": "roundRobin",
        "hosts": [{"userId": user} for user in (hosts or [STYLIST])],
    }
    return client.post(f"/v2/teams/{team}/event-types", json=body, headers=V_EVENT_TYPES)


def test_each_key_sees_its_own_team(api: httpx.Client, other: httpx.Client) -> None:
    assert [t["id"] for t in other.get("/v2/teams").json()["data"]] == [OTHER_TEAM]
    assert [t["id"] for t in api.get("/v2/teams").json()["data"]] == [TEAM]
    members = other.get(f"/v2/teams/{OTHER_TEAM}/memberships").json()["data"]
    assert [(m["userId"], m["teamId"], m["role"], m["accepted"]) for m in members] == [
        (OWNER, OTHER_TEAM, "OWNER", True),
        (STYLIST, OTHER_TEAM, "MEMBER", True),
        (TRAINEE, OTHER_TEAM, "MEMBER", False),
    ]
    ours = api.get(f"/v2/teams/{TEAM}/memberships").json()["data"]
    assert OWNER not in {m["userId"] for m in ours} and {m["teamId"] for m in ours} == {TEAM}


def test_a_team_route_of_another_team_is_refused_as_roles_guard_refuses_it(
    api: httpx.Client, other: httpx.Client
) -> None:
    refused = other.get(f"/v2/teams/{TEAM}/memberships")
    assert_error(
        refused, 403, "ForbiddenException", f"RolesGuard - User is not a member of the team with id={TEAM}."
    )
    assert haircut(api, OTHER_TEAM).status_code == 403
    assert other.patch(f"/v2/teams/{TEAM}/event-types/{DAMEN}", json={"hidden": True}).status_code == 403
    # The list of a team's event types has no guard in Cal.com (teams-event-types.controller.ts).
    assert other.get(f"/v2/teams/{TEAM}/event-types").status_code == 200


def test_a_member_below_team_admin_gets_cal_coms_role_error(
    api: httpx.Client, other: httpx.Client, standin: CalcomStandIn
) -> None:
    member_key = "cal_live_riverside_stylist_key"
    assert api.post("/_standin/api-keys", json={"api_key": member_key, "user_id": STYLIST}).status_code == 201
    member = httpx.Client(base_url=standin.url, headers={"Authorization": f"Bearer {member_key}"}, timeout=5)
    assert member.get(f"/v2/teams/{OTHER_TEAM}").json()["data"]["slug"] == "riverside"  # TEAM_MEMBER
    assert_error(
        member.get(f"/v2/teams/{OTHER_TEAM}/memberships"),
        403,
        "ForbiddenException",
        f"RolesGuard - user with id={STYLIST} does not have the minimum required role=TEAM_ADMIN within "
        f"team with id={OTHER_TEAM}.",
    )


def test_event_types_take_hosts_of_their_own_team_only(api: httpx.Client, other: httpx.Client) -> None:
    foreign = haircut(other, hosts=[EMMA])
    assert_error(
        foreign,
        404,
        "NotFoundException",
        f"Invalid hosts: {EMMA} are not members of team with id {OTHER_TEAM}.",
    )
    created = haircut(other)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["teamId"] == OTHER_TEAM and data["team"]["slug"] == "riverside"
    # The same slug is free in another team.
    assert haircut(api, TEAM, hosts=[EMMA]).status_code == 201


def test_bookings_of_the_second_team_are_listed_to_its_key_only(
    api: httpx.Client, other: httpx.Client
) -> None:
    event_type = haircut(other).json()["data"]["id"]
    query = {"eventTypeId": event_type, "start": MONDAY, "end": MONDAY}
    open_slots = starts(other.get("/v2/slots", params=query, headers=V_SLOTS).json()["data"], MONDAY)
    assert open_slots and open_slots[0].endswith("09:00:00.000Z")  # 09:00 London in winter
    theirs = book(other, event_type, open_slots[0])
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["data"]["hosts"][0]["id"] == STYLIST
    ours = book(api, DAMEN, "2026-03-02T08:00:00.000Z")  # 09:00 in Berlin
    assert ours.status_code == 201, ours.text

    def listed(client: httpx.Client) -> set[str]:
        return {b["uid"] for b in client.get("/v2/bookings", headers=V_BOOKINGS).json()["data"]}

    assert theirs.json()["data"]["uid"] in listed(other)
    assert ours.json()["data"]["uid"] not in listed(other)
    assert theirs.json()["data"]["uid"] not in listed(api)
    slots_by_team_slug = other.get(
        "/v2/slots",
        params={"teamSlug": "riverside", "eventTypeSlug": "mens-cut", "start": MONDAY, "end": MONDAY},
        headers=V_SLOTS,
    )
    assert open_slots[1] in starts(slots_by_team_slug.json()["data"], MONDAY)
    assert open_slots[0] not in starts(slots_by_team_slug.json()["data"], MONDAY)  # now taken


def test_a_second_team_is_checked_and_gone_after_a_reset(api: httpx.Client, other: httpx.Client) -> None:
    assert api.post("/_standin/teams", json=riverside()).status_code == 400  # exists
    clash = riverside(id=51003, slug="riverside-2", api_key=None)
    assert "members of another team" in api.post("/_standin/teams", json=clash).json()["error"]
    assert api.post("/_standin/teams", json={"id": 51004, "name": "Empty", "members": []}).status_code == 400
    assert [t["id"] for t in api.get("/_standin/teams").json()] == [TEAM, OTHER_TEAM]
    api.post("/_standin/reset").raise_for_status()
    assert [t["id"] for t in api.get("/_standin/teams").json()] == [TEAM]
    assert_error(other.get("/v2/teams"), 401, "UnauthorizedException")
