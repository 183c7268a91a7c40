import json
import re
from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from calbridge.domain.models import (
    Company,
    OpeningHours,
    PausePolicy,
    Service,
    StaffMember,
    normalize_phone,
)

FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())

SEGMENTS_177 = [
    {"key": "A", "name": "Ansatzfärbung", "duration": 30, "gap_after": 45},
    {"key": "B", "name": "Auswaschen", "duration": 15},
    {"key": "C", "name": "Schneiden", "duration": 30},
    {"key": "D", "name": "Föhnen", "duration": 30},
]


def service(**overrides):
    data = {
        "company_id": "c1",
        "service_id": "177",
        "name": "Ansatzfärbung",
        "duration": 150,
        "composite": True,
        "segments": SEGMENTS_177,
    }
    return Service.model_validate({**data, **overrides})


def test_seed_service_177_is_four_segments_with_45_minutes_of_gaps():
    s = service()
    assert [seg.duration for seg in s.segments] == [30, 15, 30, 30]
    assert s.gap_minutes == 45
    assert s.pause_policy is PausePolicy.FREE


def test_composite_without_segments_is_rejected_like_seed_service_41():
    with pytest.raises(ValidationError, match="needs at least one segment"):
        service(service_id="41", segments=[])


def test_duration_must_match_segments_and_gaps():
    with pytest.raises(ValidationError, match="does not match"):
        service(duration=140)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([{"key": "A", "name": "a", "duration": 0}], "greater than 0"),
        ([{"key": "A", "name": "a", "duration": 10, "gap_after": -5}], "greater than or equal to 0"),
        ([{"key": "A", "name": "a", "duration": 10, "gap_after": 5}], "last segment"),
        (
            [{"key": "A", "name": "a", "duration": 10}, {"key": "A", "name": "b", "duration": 10}],
            "unique",
        ),
        ([{"key": "a", "name": "a", "duration": 10}], "pattern"),
    ],
)
def test_segment_rules(segments, message):
    duration = sum(s["duration"] + s.get("gap_after", 0) for s in segments)
    with pytest.raises(ValidationError, match=message):
        service(segments=segments, duration=duration)


def test_simple_service_cannot_carry_segments():
    with pytest.raises(ValidationError, match="composite is false"):
        service(composite=False)


def test_demo_fixture_is_valid_domain_data():
    company = Company.model_validate(FIXTURE["company"])
    assert company.branches[0].phone_numbers == ["+4930123456789"]
    services = [Service.model_validate({"company_id": company.company_id, **s}) for s in FIXTURE["services"]]
    by_id = {s.service_id: s for s in services}
    assert by_id["177"].duration == 150 and by_id["178"].duration == 170
    assert by_id["42"].pause_policy is PausePolicy.BLOCKED and len(by_id["42"].segments) == 3
    staff = [StaffMember.model_validate({"company_id": "salon-demo", **m}) for m in FIXTURE["staff"]]
    fabian = next(m for m in staff if m.name == "Fabian Spitzer")
    assert (fabian.calcom_user_id, fabian.calcom_username) == (1420209, "fabianaskproai")


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("+49 30 123456789", "+4930123456789"),
        ("0049-30-1234567", "+49301234567"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+49 (0)30 1234567", "+49301234567"),  # the bracketed trunk prefix is not dialled
        ("+49 0 30 1234567", "+49301234567"),
        ("+44 (0)20 7946 0000", "+442079460000"),
        ("+43 1 2345678", "+4312345678"),
        ("+39 06 1234 5678", "+390612345678"),  # Italy keeps its leading 0 after the country code
        ("  +49 151 1234 5678 ", "+4915112345678"),
        ("+49/30/1234567", "+49301234567"),
    ],
)
def test_phone_numbers_are_normalized_to_e164(raw, normalized):
    assert normalize_phone(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "030 123456",  # national: no country to read it in
        "+0301234567",
        "+49",
        "call me",
        "",
        "+4912",  # possible length perhaps, but no assigned German number
        "+49 30 1234567 ext. 5",
        "+49301234567abc",  # letters are not keypad digits here
        "+49 30 123456789012345678",  # too long
        "0" * 5000,
        "+49\x0030 1234567",
    ],
)
def test_non_e164_numbers_are_rejected(raw):
    with pytest.raises(ValueError, match=r"E\.164") as refused:
        normalize_phone(raw)
    assert str(refused.value) == "not a valid E.164 phone number"  # never quotes a person's number


def test_every_number_in_the_fixtures_and_events_is_accepted():
    # The numbers the tests, fixtures and sample events use, stored as E.164, must stay valid.
    root = Path(__file__).parents[2]
    texts = [f.read_text() for d in ("local/fixtures", "events") for f in (root / d).rglob("*.json")]
    numbers = {m for text in texts for m in re.findall(r"\+[1-9][0-9]{6,14}\b", text)}
    assert {"+4930123456789", "+4915112345678"} <= numbers  # the demo salon's and a caller's
    assert {n: normalize_phone(n) for n in numbers} == {n: n for n in numbers}


def test_unknown_time_zone_is_rejected():
    with pytest.raises(ValidationError, match="unknown time zone"):
        Company.model_validate({**FIXTURE["company"], "timezone": "Europe/Atlantis"})


@pytest.mark.parametrize(
    ("branches", "message"),
    [
        ([{"branch_id": "a", "name": "A"}, {"branch_id": "a", "name": "B"}], "branch id is listed twice"),
        (
            [
                {"branch_id": "a", "name": "A", "phone_numbers": ["+4940555555"]},
                {"branch_id": "b", "name": "B", "phone_numbers": ["+49 40 555555"]},
            ],
            "phone number is listed twice",
        ),
        (
            [{"branch_id": "a", "name": "A", "phone_numbers": [f"+49405555{n:02d}" for n in range(26)]}],
            "at most 25 phone numbers",
        ),
        ([], "at least 1 item"),
    ],
)
def test_a_companys_branches_and_numbers_are_distinct_and_few_enough_for_one_transaction(branches, message):
    with pytest.raises(ValidationError, match=message):
        Company.model_validate({**FIXTURE["company"], "branches": branches})


def test_a_country_is_two_capital_letters():
    with pytest.raises(ValidationError, match="pattern"):
        Company.model_validate({**FIXTURE["company"], "country": "Germany"})
    assert Company.model_validate({**FIXTURE["company"], "country": "DE"}).country == "DE"


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({"0": [["18:00", "09:00"]]}, "closes at 09:00:00 before it opens"),
        ({"0": [["09:00", "09:00"]]}, "before it opens"),
        ({"7": [["09:00", "18:00"]]}, "weekday must be 0"),
        ({"-1": [["09:00", "18:00"]]}, "weekday must be 0"),
        ({"monday": [["09:00", "18:00"]]}, "valid integer"),
        ({"2": [["09:00", "13:00"], ["12:00", "18:00"]]}, "overlap"),
        ({"2": [["09:00+01:00", "18:00+01:00"]]}, "without an offset"),
        ({"2": [["09:00", "25:00"]]}, "time"),
    ],
)
def test_opening_hours_reject_bad_days_and_intervals(weekly, message):
    with pytest.raises(ValidationError, match=message):
        OpeningHours.model_validate({"weekly": weekly})


def test_opening_hours_sort_intervals_and_read_half_open():
    hours = OpeningHours.model_validate({"weekly": {"5": [["14:00", "18:00"], ["09:00", "12:30"]]}})
    assert hours.intervals(5) == [(time(9), time(12, 30)), (time(14), time(18))]
    assert hours.is_open(5, time(9)) and hours.is_open(5, time(17, 59))
    assert not hours.is_open(5, time(12, 30)) and not hours.is_open(5, time(18))
    assert hours.intervals(6) == [] and not hours.is_open(6, time(12))  # a missing day is closed


def test_company_opening_hours_are_optional_and_survive_json():
    assert Company.model_validate({**FIXTURE["company"], "opening_hours": None}).opening_hours is None
    company = Company.model_validate(FIXTURE["company"])
    assert Company.model_validate(company.model_dump(mode="json")) == company


def test_demo_opening_hours_span_the_standin_working_hours():
    """Per weekday, the demo salon opens with its earliest Cal.com member and closes with its last."""
    hours = Company.model_validate(FIXTURE["company"]).opening_hours
    assert hours is not None
    for weekday in range(7):
        calcom_day = (weekday + 1) % 7  # the stand-in counts 0 = Sunday, 1 = Monday
        shifts = [
            (time.fromisoformat(h["start"]), time.fromisoformat(h["end"]))
            for member in FIXTURE["calcom"]["members"]
            for h in member["working_hours"]
            if calcom_day in {d % 7 for d in h["days"]}
        ]
        expected = [(min(s for s, _ in shifts), max(e for _, e in shifts))] if shifts else []
        assert hours.intervals(weekday) == expected, weekday
