"""Reading hosts from Cal.com data (domain.hosts.HostRef.from_calcom, extract_hosts): REST bookings,
webhook payloads, round robin and collective co-hosts, placeholders and malformed shapes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from calbridge.domain.hosts import HostRef, InvalidHost, extract_hosts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "calcom"
BOOKING_RESPONSE = json.loads((FIXTURES / "booking_create_response.json").read_text())
BOOKING = BOOKING_RESPONSE["data"]

# docs/reference/calcom.md §10.6, examples/calcom/webhook_booking_created.json (BOOKING_CREATED, abridged).
WEBHOOK: dict[str, Any] = {
    "triggerEvent": "BOOKING_CREATED",
    "createdAt": "2025-06-01T10:12:45.002Z",
    "payload": {
        "type": "intro-call",
        "title": "Intro call between Dana Lee and Sam Park",
        "startTime": "2025-06-03T14:00:00Z",
        "endTime": "2025-06-03T14:30:00Z",
        "organizer": {
            "id": 1042,
            "name": "Dana Lee",
            "email": "dana@acme.io",
            "username": "dana",
            "timeZone": "America/New_York",
            "language": {"locale": "en"},
            "utcOffset": -240,
        },
        "attendees": [
            {
                "name": "Sam Park",
                "email": "sam@example.com",
                "timeZone": "Europe/Berlin",
                "language": {"locale": "en"},
                "utcOffset": 120,
            }
        ],
        "team": {"id": 55, "name": "Sales", "members": []},
        "uid": "k3Jd9WqPz7nR2sVb1xYcLm",
        "bookingId": 48213,
        "eventTypeId": 777,
        "status": "ACCEPTED",
        "metadata": {
            "videoCallUrl": "https://app.cal.com/video/k3Jd9WqPz7nR2sVb1xYcLm",
            "ext_id": "req_01HZX...",
        },
        "length": 30,
        "price": 0,
        "currency": "usd",
    },
}

DANA = HostRef(id=1042, name="Dana Lee", email="dana@acme.io", username="dana", time_zone="America/New_York")
ALEX = {"name": "Alex Kim", "email": "alex@acme.io", "timeZone": "America/New_York", "language": "en"}
KIM = {"name": "Kim Ode", "email": "kim@acme.io", "timeZone": "Europe/Berlin", "language": "de"}
BOOKER = BOOKING["attendees"][0]
TEAM = {"dana@acme.io", "alex@acme.io", "kim@acme.io"}
PLACEHOLDER = {"id": "unknown", "name": "unknown", "email": "unknown", "username": "unknown"}


def booking(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BOOKING)
    data.update(changes)
    return data


def no_emails(warnings: tuple[str, ...]) -> bool:
    return not any("@" in w for w in warnings)


# ------------------------------------------------------------------------------------ HostRef.from_calcom


def test_from_calcom_reads_the_seed_host():
    host = HostRef.from_calcom(
        {
            "id": 1420209,
            "name": "Fabian Spitzer",
            "email": "fabian@askproai.de",
            "username": "fabianaskproai",
            "timeZone": "Europe/Berlin",
        }
    )
    assert host == HostRef(
        id=1420209,
        name="Fabian Spitzer",
        email="fabian@askproai.de",
        username="fabianaskproai",
        time_zone="Europe/Berlin",
    )
    assert host.label == "host 1420209"


@pytest.mark.parametrize(
    ("raw_id", "expected"),
    [
        (1420209, 1420209),
        ("1420209", 1420209),
        (" 42 ", 42),
        (7.0, 7),
        ("unknown", None),
        ("UNKNOWN", None),
        ("", None),
        (None, None),
    ],
)
def test_from_calcom_id(raw_id, expected):
    assert HostRef.from_calcom({"id": raw_id, "email": "a@b.de"}).id == expected


def test_from_calcom_missing_id_and_user_id():
    assert HostRef.from_calcom({"email": "a@b.de"}).id is None
    assert HostRef.from_calcom({"userId": 1043, "name": "Alex Kim"}).id == 1043
    assert HostRef.from_calcom({"userId": "1043", "name": "Alex Kim"}).id == 1043
    assert HostRef.from_calcom({"id": "unknown", "userId": 1043}).id == 1043


@pytest.mark.parametrize(
    ("raw_id", "message"),
    [
        ("abc", "non-numeric host id 'abc'"),
        ("12a", "non-numeric host id"),
        ("-5", "non-numeric host id"),
        ("1.5", "non-numeric host id"),
        (True, "boolean"),
        (False, "boolean"),
        (0, "positive"),
        (-3, "positive"),
        (2.5, "unsupported type"),
        ([1042], "unsupported type"),
        ({"id": 1}, "unsupported type"),
    ],
)
def test_from_calcom_rejects_bad_ids(raw_id, message):
    with pytest.raises(InvalidHost, match=message):
        HostRef.from_calcom({"id": raw_id, "email": "a@b.de", "name": "A B"})


def test_invalid_host_messages_never_quote_emails():
    with pytest.raises(InvalidHost) as caught:
        HostRef.from_calcom({"id": "fabian@askproai.de", "name": "Fabian"})
    assert "@" not in str(caught.value)
    assert "non-numeric host id" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "email"),
    [
        ({"email": "  Fabian@AskProAI.de "}, "fabian@askproai.de"),
        ({"displayEmail": "Fabian@AskProAI.de"}, "fabian@askproai.de"),
        ({"email": "", "displayEmail": "fabian@askproai.de"}, "fabian@askproai.de"),
        ({"email": "unknown", "displayEmail": "fabian@askproai.de"}, "fabian@askproai.de"),
        ({"email": "no-at-sign"}, None),
        ({"email": "   "}, None),
        ({"email": 42}, None),
        ({"email": ["a@b.de"]}, None),
    ],
)
def test_from_calcom_email(data, email):
    assert HostRef.from_calcom({"id": 1, **data}).email == email


def test_from_calcom_keeps_a_differing_display_email():
    host = HostRef.from_calcom({"id": 1, "email": "dana+clxyz@acme.io", "displayEmail": "Dana@acme.io"})
    assert host.email == "dana+clxyz@acme.io"
    assert host.display_email == "dana@acme.io"
    assert host.emails == ("dana+clxyz@acme.io", "dana@acme.io")
    same = HostRef.from_calcom({"id": 1, "email": "dana@acme.io", "displayEmail": "DANA@acme.io"})
    assert same.display_email is None and same.emails == ("dana@acme.io",)


@pytest.mark.parametrize(
    ("data", "name", "username"),
    [
        ({"name": "  Fabian Spitzer ", "username": " fabian "}, "Fabian Spitzer", "fabian"),
        ({"name": "", "username": ""}, None, None),
        ({"name": 42, "username": 7}, None, None),  # wrong types count as missing
        ({"name": None, "username": ["x"]}, None, None),
        ({"name": {"firstName": "Fabian", "lastName": "Spitzer"}}, "Fabian Spitzer", None),
        ({"name": "Unknown", "username": "unknown"}, None, None),  # Cal.com's placeholder values
    ],
)
def test_from_calcom_name_and_username(data, name, username):
    host = HostRef.from_calcom({"id": 1, **data})
    assert (host.name, host.username) == (name, username)


def test_from_calcom_time_zone_in_either_spelling():
    assert HostRef.from_calcom({"id": 1, "timeZone": "Europe/Berlin"}).time_zone == "Europe/Berlin"
    assert HostRef.from_calcom({"id": 1, "time_zone": " Europe/Vienna "}).time_zone == "Europe/Vienna"
    assert HostRef.from_calcom({"id": 1, "timeZone": 3}).time_zone is None


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"id": None},
        {"id": "unknown", "email": "", "name": " ", "username": None},
        PLACEHOLDER,
        {"id": "unknown", "name": 5, "email": "nope"},
    ],
)
def test_from_calcom_needs_something_usable(data):
    with pytest.raises(InvalidHost, match="host has no id, e-mail, username or name"):
        HostRef.from_calcom(data)


@pytest.mark.parametrize("data", [None, "1042", 1042, ["id", 1042]])
def test_from_calcom_rejects_non_objects(data):
    with pytest.raises(InvalidHost, match="not an object"):
        HostRef.from_calcom(data)


def test_only_a_name_or_username_is_enough():
    assert HostRef.from_calcom({"id": "unknown", "name": "Fabian"}) == HostRef(name="Fabian")
    assert HostRef.from_calcom({"username": "fabian"}).label == "host fabian"


def test_hostref_normalises_when_built_directly():
    host = HostRef(id=1, email="  Dana@ACME.io ", name="  Dana Lee ", username=" dana ")
    assert (host.email, host.name, host.username) == ("dana@acme.io", "Dana Lee", "dana")


# ------------------------------------------------------------------------------------ REST bookings


def test_reference_booking():
    extraction = extract_hosts(BOOKING)
    assert extraction.hosts == (DANA,)
    assert extraction.warnings == ()


def test_reference_booking_in_its_response_envelope():
    assert extract_hosts(BOOKING_RESPONSE) == extract_hosts(BOOKING)


def test_booker_is_never_a_host_without_team_emails():
    # The booker is an attendee; without team e-mails nobody among the attendees is a host.
    assert extract_hosts(BOOKING).hosts == (DANA,)
    assert extract_hosts(BOOKING, {"dana@acme.io"}).hosts == (DANA,)


def test_round_robin_with_fixed_host():
    # hosts[0] = the first fixed host; the round-robin host is an attendee row (calcom.md §7).
    data = booking(attendees=[BOOKER, ALEX])
    extraction = extract_hosts(data, TEAM)
    assert [h.email for h in extraction.hosts] == ["dana@acme.io", "alex@acme.io"]
    assert extraction.hosts[0] == DANA
    assert extraction.hosts[1] == HostRef(name="Alex Kim", email="alex@acme.io", time_zone="America/New_York")
    assert extraction.warnings == ()


def test_collective_co_hosts_in_attendee_order_with_normalised_emails():
    data = booking(attendees=[{**KIM, "email": " KIM@acme.io "}, BOOKER, ALEX])
    extraction = extract_hosts(data, [" Alex@ACME.io", "kim@acme.io", "dana@acme.io"])
    assert [h.email for h in extraction.hosts] == ["dana@acme.io", "kim@acme.io", "alex@acme.io"]


def test_co_hosts_are_deduplicated_by_email_and_id():
    organizer_again = {"name": "Dana Lee", "email": "DANA@acme.io", "timeZone": "America/New_York"}
    data = booking(attendees=[BOOKER, organizer_again, ALEX, dict(ALEX)])
    extraction = extract_hosts(data, TEAM)
    assert [h.email for h in extraction.hosts] == ["dana@acme.io", "alex@acme.io"]
    twice = booking(hosts=[BOOKING["hosts"][0], {"id": "1042", "name": "Dana"}])
    assert extract_hosts(twice).hosts == (DANA,)


def test_team_emails_as_a_single_string():
    data = booking(attendees=[BOOKER, ALEX])
    assert len(extract_hosts(data, "alex@acme.io").hosts) == 2


def test_numeric_string_id():
    data = booking(hosts=[{**BOOKING["hosts"][0], "id": "1042"}])
    assert extract_hosts(data).hosts == (DANA,)


def test_non_numeric_id_is_skipped_with_a_warning():
    data = booking(hosts=[{**BOOKING["hosts"][0], "id": "dana-lee"}], attendees=[BOOKER, ALEX])
    extraction = extract_hosts(data, TEAM)
    assert [h.email for h in extraction.hosts] == ["alex@acme.io"]
    assert extraction.warnings == ("booking 48213: hosts[0] skipped: non-numeric host id 'dana-lee'",)


def test_unknown_placeholder_is_skipped_with_a_warning():
    extraction = extract_hosts(booking(hosts=[PLACEHOLDER]))
    assert extraction.hosts == ()
    assert extraction.warnings == (
        "booking 48213: hosts[0] is Cal.com's 'unknown' placeholder host (booking without a user); skipped",
        "booking 48213 has no hosts",
    )


def test_placeholder_id_with_a_usable_email_is_kept():
    extraction = extract_hosts(
        booking(hosts=[{"id": "unknown", "name": "Dana Lee", "email": "dana@acme.io"}])
    )
    assert extraction.hosts == (HostRef(name="Dana Lee", email="dana@acme.io"),)
    assert extraction.warnings == ()


@pytest.mark.parametrize("hosts", [[], None])
def test_no_hosts(hosts):
    data = booking(hosts=hosts)
    if hosts is None:
        del data["hosts"]
    extraction = extract_hosts(data)
    assert extraction.hosts == ()
    assert extraction.warnings == ("booking 48213 has no hosts",)


def test_older_responses_without_host_email_or_username():
    data = booking(hosts=[{"id": 1042, "name": "Dana Lee", "timeZone": "America/New_York"}])
    assert extract_hosts(data).hosts == (HostRef(id=1042, name="Dana Lee", time_zone="America/New_York"),)


def test_real_user_without_username():
    # Cal.com fills a missing username with "unknown".
    data = booking(hosts=[{"id": 1042, "name": "Dana Lee", "email": "dana@acme.io", "username": "unknown"}])
    assert extract_hosts(data).hosts[0].username is None


# ------------------------------------------------------------------------------------ webhooks


def test_webhook_payload():
    extraction = extract_hosts(WEBHOOK["payload"])
    assert extraction.hosts == (DANA,)
    assert extraction.warnings == ()


def test_webhook_envelope():
    assert extract_hosts(WEBHOOK) == extract_hosts(WEBHOOK["payload"])


def test_webhook_team_members_are_co_hosts():
    payload = copy.deepcopy(WEBHOOK["payload"])
    payload["team"]["members"] = [
        {
            "name": "Alex Kim",
            "email": "alex@acme.io",
            "timeZone": "America/New_York",
            "language": {"locale": "en"},
        },
        {"name": "Dana Lee", "email": "dana@acme.io", "timeZone": "America/New_York"},  # the organizer again
    ]
    payload["attendees"].append({"name": "Alex Kim", "email": "alex@acme.io", "timeZone": "America/New_York"})
    extraction = extract_hosts(payload)
    assert [h.email for h in extraction.hosts] == ["dana@acme.io", "alex@acme.io"]
    assert extraction.hosts[0] == DANA


def test_webhook_organizer_is_only_a_fallback():
    data = booking(organizer={"id": 999, "name": "Somebody", "email": "some@acme.io"})
    assert extract_hosts(data).hosts == (DANA,)


def test_responses_hosts_fallback():
    rest = booking(hosts=[], bookingFieldsResponses={"hosts": [{"id": 1043, "name": "Alex Kim"}]})
    assert extract_hosts(rest).hosts == (HostRef(id=1043, name="Alex Kim"),)
    webhook = copy.deepcopy(WEBHOOK["payload"])
    del webhook["organizer"]
    webhook["responses"] = {"hosts": {"label": "Hosts", "value": [{"userId": 1043, "email": "alex@acme.io"}]}}
    assert extract_hosts(webhook).hosts == (HostRef(id=1043, email="alex@acme.io"),)


def test_placeholder_host_falls_back_to_the_organizer():
    payload = copy.deepcopy(WEBHOOK["payload"])
    payload["hosts"] = [PLACEHOLDER]
    extraction = extract_hosts(payload)
    assert extraction.hosts == (DANA,)
    assert len(extraction.warnings) == 1 and "placeholder" in extraction.warnings[0]


# ------------------------------------------------------------------------------------ garbage


@pytest.mark.parametrize(
    ("changes", "warning"),
    [
        ({"hosts": "Dana Lee"}, "hosts is not a list"),
        ({"hosts": {"id": 1042}}, "hosts is not a list"),
        ({"hosts": [None, 5, "x"]}, "hosts[0] is not an object"),
        ({"hosts": [{"id": True, "email": "dana@acme.io"}]}, "hosts[0] skipped: host id is a boolean"),
        ({"hosts": [{}]}, "hosts[0] skipped: host has no id, e-mail, username or name"),
        ({"attendees": "sam@example.com"}, "attendees is not a list"),
        ({"attendees": [1, None]}, "attendees[0] is not an object"),
        ({"team": "Sales"}, "team is not an object"),
        ({"team": {"members": "all"}}, "team.members is not a list"),
        ({"team": {"members": [7]}}, "team.members[0] is not an object"),
        ({"organizer": "Dana", "hosts": []}, "organizer is not an object"),
        (
            {"responses": "x", "bookingFieldsResponses": {"hosts": 5}, "hosts": []},
            "hosts[0] is not an object",
        ),
    ],
)
def test_malformed_shapes_become_warnings(changes, warning):
    extraction = extract_hosts(booking(**changes), TEAM)
    assert any(warning in w for w in extraction.warnings), extraction.warnings
    assert no_emails(extraction.warnings)


@pytest.mark.parametrize(
    "data",
    [
        None,
        "booking",
        42,
        [],
        {},
        {"status": "success", "data": None},
        {"status": "success", "data": "x"},
        {"triggerEvent": "BOOKING_CREATED", "payload": None},
        {"uid": None, "hosts": None, "attendees": None, "team": None},
        {"uid": ["x"], "hosts": [[]], "attendees": [[]]},
    ],
)
def test_garbage_never_raises(data):
    extraction = extract_hosts(data)
    assert extraction.hosts == ()
    assert extraction.warnings and no_emails(extraction.warnings)


def test_no_uid_still_gives_a_readable_warning():
    assert extract_hosts({"hosts": []}).warnings == ("booking (without id) has no hosts",)
    assert extract_hosts({"bookingId": 48213}).warnings == ("booking 48213 has no hosts",)


def test_recurring_response_uses_the_first_booking():
    extraction = extract_hosts({"status": "success", "data": [BOOKING, BOOKING]})
    assert extraction.hosts == (DANA,)
    assert extraction.warnings == ("response holds 2 bookings; using the first one's hosts",)


def test_input_is_not_modified():
    data = booking(attendees=[BOOKER, ALEX])
    before = copy.deepcopy(data)
    extract_hosts(data, TEAM)
    assert data == before
