import typing
from datetime import date

import pytest

from calbridge.domain import phrasing
from calbridge.domain.models import Service
from calbridge.domain.text import fold, lookup

NAMES = [
    "Ansatzfärbung, waschen, schneiden, föhnen",
    "Ansatz, Längenausgleich, waschen, schneiden, föhnen",
    "Damenhaarschnitt",
    "Herrenhaarschnitt",
    "Kinderhaarschnitt",
    "Föhnen",
]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Föhnen", "foehnen"),
        ("Straße", "strasse"),
        ("  José  Müller ", "jose mueller"),
        ("Ä-Ö_Ü", "ae oe ue"),
    ],
)
def test_fold(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("damenhaarschnitt", "Damenhaarschnitt"),
        ("Foehnen", "Föhnen"),
        ("Ansatzfärbung", NAMES[0]),
        ("Längenausgleich", NAMES[1]),
        ("Herenhaarschnit", "Herrenhaarschnitt"),
    ],
)
def test_lookup_finds_what_callers_say(query, expected):
    assert lookup(NAMES, query, str).match == expected


def test_lookup_reports_ambiguity_instead_of_guessing():
    found = lookup(NAMES, "Ansatz", str)
    assert found.match is None and found.ambiguous
    assert set(found.candidates) == {NAMES[0], NAMES[1]}


@pytest.mark.parametrize("query", ["Massage", "", "   "])
def test_lookup_finds_nothing_for_unknown_names(query):
    found = lookup(NAMES, query, str)
    assert found.match is None and not found.ambiguous


@pytest.mark.parametrize(
    ("minutes", "de", "en"),
    [
        (45, "45 Minuten", "45 minutes"),
        (60, "1 Stunde", "1 hour"),
        (150, "2 Stunden 30 Minuten", "2 hours 30 minutes"),
    ],
)
def test_spoken_duration(minutes, de, en):
    assert phrasing.spoken_duration(minutes, "de") == de
    assert phrasing.spoken_duration(minutes, "en") == en


def test_spoken_price_and_date():
    assert phrasing.spoken_price(8500, "de") == "85 Euro"
    assert phrasing.spoken_price(3950, "de") == "39,50 Euro"
    assert phrasing.spoken_price(3950, "en") == "39.50 euros"
    assert phrasing.spoken_price(9500, "en", "GBP") == "95 pounds"
    assert phrasing.spoken_price(2450, "de", "CHF") == "24,50 Franken"
    assert set(phrasing.CURRENCY_WORDS) == set(typing.get_args(Service.model_fields["currency"].annotation))
    assert phrasing.spoken_date(date(2026, 11, 21), "de") == "Samstag, 21. November 2026"
    assert phrasing.spoken_date(date(2026, 11, 21), "en") == "Saturday, November 21, 2026"


def _composite(policy: str) -> Service:
    return Service(
        company_id="c",
        service_id="s",
        name="Ansatzfärbung",
        duration=150,
        price_cents=8500,
        composite=True,
        pause_policy=policy,
        segments=[
            {"key": "A", "name": "Farbe", "duration": 30, "gap_after": 45},
            {"key": "B", "name": "Rest", "duration": 75},
        ],
    )


def test_composite_service_explains_the_waiting_time():
    text = phrasing.describe_service(_composite("free"), ["Fabian Spitzer", "Lena Müller"], "de")
    assert text == (
        "Ansatzfärbung dauert insgesamt 2 Stunden 30 Minuten und kostet 85 Euro. "
        "Zwischendurch gibt es etwa 45 Minuten Einwirkzeit. "
        "Das machen bei uns Fabian Spitzer und Lena Müller."
    )
    assert "45 minutes of processing time" in phrasing.describe_service(_composite("free"), [], "en")


def test_blocked_policy_speaks_of_breaks_not_processing():
    assert "45 Minuten Pausen" in phrasing.describe_service(_composite("blocked"), [], "de")


def test_choices_join_with_oder_without_touching_names():
    names = ["Beratung und Waschen", "Föhnen"]
    assert phrasing.join_names(names, "de", choice=True) == "Beratung und Waschen oder Föhnen"
    assert phrasing.join_names(["a", "b", "c"], "en", choice=True) == "a, b or c"


def test_a_partly_checked_calendar_never_says_the_time_is_taken():
    from calbridge.domain.phrasing import partly_checked

    de = partly_checked("am Montag um 10:00 Uhr", ["am Montag um 11:00 Uhr"], "de")
    assert de == (
        "Am Montag um 10:00 Uhr konnte ich gerade nicht bei allen prüfen. "
        "Sicher frei wäre am Montag um 11:00 Uhr."
    )
    assert "belegt" not in de and "vergeben" not in de
    assert partly_checked(None, [], "en") == (
        "I couldn't check the whole calendar just now. Please try again in a moment."
    )
