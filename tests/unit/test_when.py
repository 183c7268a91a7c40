"""Callers' dates and times (domain/when.py), read relative to a fixed `now` in Europe/Berlin."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calbridge.domain.models import Company, OpeningHours
from calbridge.domain.when import Resolved, Unclear, resolve_when

BERLIN = ZoneInfo("Europe/Berlin")
FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())
SALON_HOURS = Company.model_validate(FIXTURE["company"]).opening_hours

SATURDAY = datetime(2026, 11, 21, 10, 0, tzinfo=BERLIN)  # "today" unless a case says otherwise
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
ISO_IN_TEXT = re.compile(r"\d{4}-\d{2}|\d{2}:\d{2}")


def at(day: str, clock: str | None = None) -> Resolved:
    return Resolved(day=date.fromisoformat(day), at=time.fromisoformat(clock) if clock else None)


def when(date_text, time_text=None, *, now=SATURDAY, language="de", hours=None):
    return resolve_when(date_text, time_text, now=now, language=language, opening_hours=hours)


def every_day(opens: str, closes: str) -> OpeningHours:
    return OpeningHours.model_validate({"weekly": {str(d): [[opens, closes]] for d in range(7)}})


@pytest.mark.parametrize(
    ("text", "day"),
    [
        # relative days
        ("heute", "2026-11-21"),
        ("today", "2026-11-21"),
        ("morgen", "2026-11-22"),
        ("tomorrow", "2026-11-22"),
        ("übermorgen", "2026-11-23"),
        ("uebermorgen", "2026-11-23"),
        ("ubermorgen", "2026-11-23"),
        ("the day after tomorrow", "2026-11-23"),
        ("day after tomorrow", "2026-11-23"),
        ("in 3 Tagen", "2026-11-24"),
        ("in drei Tagen", "2026-11-24"),
        ("in zwei Wochen", "2026-12-05"),
        ("in a week", "2026-11-28"),
        ("in 10 days", "2026-12-01"),
        # weekdays: the first one after today (today is a Saturday)
        ("Dienstag", "2026-11-24"),
        ("am Dienstag", "2026-11-24"),
        ("nächsten Dienstag", "2026-11-24"),
        ("naechsten Dienstag", "2026-11-24"),
        ("nachsten Dienstag", "2026-11-24"),
        ("kommenden Freitag", "2026-11-27"),
        ("diesen Freitag", "2026-11-27"),
        ("Sonntag", "2026-11-22"),
        ("Samstag", "2026-11-28"),
        ("nächsten Samstag", "2026-11-28"),
        ("Sonnabend", "2026-11-28"),
        ("Tuesday", "2026-11-24"),
        ("on Tuesday", "2026-11-24"),
        ("this Friday", "2026-11-27"),
        ("next Friday", "2026-11-27"),
        ("coming Friday", "2026-11-27"),
        ("Fri", "2026-11-27"),
        ("this Saturday", "2026-11-28"),
        ("übernächsten Dienstag", "2026-12-01"),
        ("Tuesday after next", "2026-12-01"),
        ("nächste Woche Dienstag", "2026-11-24"),
        ("Dienstag nächste Woche", "2026-11-24"),
        ("next week Tuesday", "2026-11-24"),
        # written dates
        ("2026-11-24", "2026-11-24"),
        ("2027-01-05", "2027-01-05"),
        ("24.11.2026", "2026-11-24"),
        ("24.11.26", "2026-11-24"),
        ("am 24.11.", "2026-11-24"),
        ("24.11", "2026-11-24"),
        ("22. Oktober", "2027-10-22"),
        ("22.Oktober", "2027-10-22"),
        ("am 3. Dezember", "2026-12-03"),
        ("3. Dez.", "2026-12-03"),
        ("3. März", "2027-03-03"),
        ("3. Marz", "2027-03-03"),
        ("October 22nd", "2027-10-22"),
        ("Oct 22", "2027-10-22"),
        ("22 Oct", "2027-10-22"),
        ("the 22nd of October", "2027-10-22"),
        ("December 3rd, 2026", "2026-12-03"),
        ("3 March 2027", "2027-03-03"),
        ("am dritten Dezember", "2026-12-03"),
        ("zweiundzwanzigster Oktober", "2027-10-22"),
        ("twenty-second of October", "2027-10-22"),
        ("the first of December", "2026-12-01"),
        # a day of the month alone
        ("am 30.", "2026-11-30"),
        ("am 21.", "2026-11-21"),
        ("am 20.", "2026-12-20"),
        ("am 31.", "2026-12-31"),
        ("the 5th", "2026-12-05"),
        ("on the 25th", "2026-11-25"),
    ],
)
def test_days(text, day):
    assert when(text) == at(day)


@pytest.mark.parametrize(
    ("now", "text", "day"),
    [
        # Said on a Tuesday: every weekday phrase means a day after today; today is "heute".
        (TUESDAY, "Dienstag", "2026-12-01"),
        (TUESDAY, "nächsten Dienstag", "2026-12-01"),
        (TUESDAY, "this Tuesday", "2026-12-01"),
        (TUESDAY, "next Tuesday", "2026-12-01"),
        (TUESDAY, "heute", "2026-11-24"),
        (TUESDAY, "Mittwoch", "2026-11-25"),
        (TUESDAY, "Montag", "2026-11-30"),
        (TUESDAY, "übernächsten Dienstag", "2026-12-08"),
        # On a Monday "nächsten Dienstag" is tomorrow, "nächste Woche Dienstag" the week after.
        (MONDAY, "nächsten Dienstag", "2026-11-24"),
        (MONDAY, "next Tuesday", "2026-11-24"),
        (MONDAY, "nächste Woche Dienstag", "2026-12-01"),
        (MONDAY, "Tuesday next week", "2026-12-01"),
    ],
)
def test_weekday_rule(now, text, day):
    assert when(text, now=now) == at(day)


@pytest.mark.parametrize(
    ("text", "clock"),
    [
        ("14:00", "14:00"),
        ("14:00:00", "14:00"),
        ("14:30:15", "14:30:15"),
        ("08:00", "08:00"),
        ("14 Uhr", "14:00"),
        ("14 uhr 30", "14:30"),
        ("14.30 Uhr", "14:30"),
        ("14.30", "14:30"),
        ("vierzehn Uhr dreißig", "14:30"),
        ("um zwanzig Uhr", "20:00"),
        ("0 Uhr", "00:00"),
        ("Mitternacht", "00:00"),
        ("midnight", "00:00"),
        ("zwölf Uhr", "12:00"),
        ("12:30", "12:30"),
        # a bare hour, read against the default day 08:00-20:00
        ("9", "09:00"),
        ("um 9", "09:00"),
        ("um neun", "09:00"),
        ("gegen 9", "09:00"),
        ("ab 9", "09:00"),
        ("at 9", "09:00"),
        ("8:00", "08:00"),
        ("um 7", "19:00"),
        ("um 3", "15:00"),
        ("um eins", "13:00"),
        ("nine", "09:00"),
        ("9 o'clock", "09:00"),
        # German half and quarter hours
        ("halb drei", "14:30"),
        ("halb neun", "08:30"),
        ("halb eins", "12:30"),
        ("viertel nach zehn", "10:15"),
        ("viertel vor drei", "14:45"),
        ("drei viertel drei", "14:45"),
        ("dreiviertel drei", "14:45"),
        ("viertel drei", "14:15"),
        ("zehn nach drei", "15:10"),
        ("zehn vor drei", "14:50"),
        ("fünf vor halb drei", "14:25"),
        ("funf nach halb drei", "14:35"),
        # English
        ("3pm", "15:00"),
        ("3 pm", "15:00"),
        ("3 p.m.", "15:00"),
        ("3:15 pm", "15:15"),
        ("3:15pm", "15:15"),
        ("three thirty pm", "15:30"),
        ("11 am", "11:00"),
        ("12 am", "00:00"),
        ("12 pm", "12:00"),
        ("quarter past ten", "10:15"),
        ("a quarter to three", "14:45"),
        ("half past two", "14:30"),
        ("ten to four", "15:50"),
        ("twenty past nine", "09:20"),
        # parts of the day
        ("noon", "12:00"),
        ("midday", "12:00"),
        ("mittags", "12:00"),
        ("um 1 mittags", "13:00"),
        ("8 Uhr morgens", "08:00"),
        ("7 Uhr morgens", "07:00"),
        ("um 9 vormittags", "09:00"),
        ("um 4 nachmittags", "16:00"),
        ("8 Uhr abends", "20:00"),
        ("3 in the afternoon", "15:00"),
        ("7 in the evening", "19:00"),
        ("2 Uhr nachts", "02:00"),
        ("11 Uhr nachts", "23:00"),
        ("14 Uhr nachmittags", "14:00"),
        ("morgens", None),
        ("nachmittags", None),
    ],
)
def test_times(text, clock):
    assert when("morgen", text) == at("2026-11-22", clock)


@pytest.mark.parametrize(
    ("text", "day", "clock", "language"),
    [
        ("next Friday at 3pm", "2026-11-27", "15:00", "en"),
        ("next Friday at 3pm", "2026-11-27", "15:00", "de"),
        ("morgen um halb drei", "2026-11-22", "14:30", "de"),
        ("übermorgen nachmittag um 4", "2026-11-23", "16:00", "de"),
        ("morgen früh um 9", "2026-11-22", "09:00", "de"),
        ("morgen um 14 Uhr", "2026-11-22", "14:00", "de"),
        ("morgen ab 14 Uhr", "2026-11-22", "14:00", "de"),
        ("22.10.2027 14:00", "2027-10-22", "14:00", "de"),
        ("Montag, 23. November 2026, 10:30", "2026-11-23", "10:30", "de"),
        ("Monday at 2", "2026-11-23", "14:00", "en"),
        ("übermorgen gegen 15 Uhr", "2026-11-23", "15:00", "de"),
        ("heute abend um 8", "2026-11-21", "20:00", "de"),
        ("heute Abend", "2026-11-21", None, "de"),
        ("heute morgen um 9", "2026-11-21", "09:00", "de"),
        ("morgen mittag", "2026-11-22", "12:00", "de"),
        ("Dienstagnachmittag um 3", "2026-11-24", "15:00", "de"),
        ("Dienstag Nachmittag um 3", "2026-11-24", "15:00", "de"),
        ("um 9 am Dienstag", "2026-11-24", "09:00", "de"),
        ("Freitag, den 27.11. um 10", "2026-11-27", "10:00", "de"),
        ("am 22.10. um 14 Uhr", "2027-10-22", "14:00", "de"),
        ("2026-11-24T14:00", "2026-11-24", "14:00", "de"),
        ("tomorrow at noon", "2026-11-22", "12:00", "en"),
        ("tomorrow morning at 9", "2026-11-22", "09:00", "en"),
        ("tonight at 8", "2026-11-21", "20:00", "en"),
        ("this afternoon at 3", "2026-11-21", "15:00", "en"),
        ("Tuesday 9 am", "2026-11-24", "09:00", "en"),
        ("9 am Tuesday", "2026-11-24", "09:00", "en"),
        ("on Tuesday at 9:30 am", "2026-11-24", "09:30", "en"),
        ("December 3rd at quarter past two", "2026-12-03", "14:15", "en"),
    ],
)
def test_day_and_time_in_one_phrase(text, day, clock, language):
    assert when(text, language=language) == at(day, clock)


def test_the_time_field_wins_and_a_part_of_day_from_the_date_still_applies():
    assert when("morgen um 9", "14:00") == at("2026-11-22", "14:00")
    assert when("übermorgen nachmittag", "um 4") == at("2026-11-23", "16:00")
    assert when("übermorgen", "um 4 vormittags") == at("2026-11-23", "04:00")
    assert when("", "morgen um 3") == at("2026-11-22", "15:00")


@pytest.mark.parametrize(
    ("now", "text", "day"),
    [
        (SATURDAY, "am 22.10.", "2027-10-22"),
        (SATURDAY, "am 21.11.", "2026-11-21"),
        (SATURDAY, "am 20.11.", "2027-11-20"),
        (SATURDAY, "am 5.1.", "2027-01-05"),
        (SATURDAY, "November 20th", "2027-11-20"),
        (datetime(2026, 12, 31, 9, tzinfo=BERLIN), "am 1.1.", "2027-01-01"),
        (datetime(2026, 12, 31, 9, tzinfo=BERLIN), "morgen", "2027-01-01"),
        (datetime(2026, 12, 31, 9, tzinfo=BERLIN), "Freitag", "2027-01-01"),
        (datetime(2026, 12, 31, 9, tzinfo=BERLIN), "am 3.", "2027-01-03"),
        (datetime(2026, 12, 31, 9, tzinfo=BERLIN), "in 3 Tagen", "2027-01-03"),
    ],
)
def test_year_rollover_takes_the_next_occurrence(now, text, day):
    assert when(text, now=now) == at(day)


@pytest.mark.parametrize(
    ("now", "text", "day"),
    [
        (SATURDAY, "29.02.2028", "2028-02-29"),
        (SATURDAY, "29. Februar 2028", "2028-02-29"),
        (datetime(2027, 3, 1, 9, tzinfo=BERLIN), "am 29.02.", "2028-02-29"),
        (datetime(2028, 1, 10, 9, tzinfo=BERLIN), "am 29.02.", "2028-02-29"),
        (datetime(2028, 2, 29, 9, tzinfo=BERLIN), "am 29.02.", "2028-02-29"),
        (datetime(2028, 2, 28, 9, tzinfo=BERLIN), "morgen", "2028-02-29"),
        (datetime(2028, 2, 29, 9, tzinfo=BERLIN), "morgen", "2028-03-01"),
        (datetime(2027, 2, 10, 9, tzinfo=BERLIN), "am 29.", "2027-03-29"),
        (datetime(2028, 2, 10, 9, tzinfo=BERLIN), "am 29.", "2028-02-29"),
    ],
)
def test_leap_days(now, text, day):
    assert when(text, now=now) == at(day)


@pytest.mark.parametrize(
    ("now", "text", "message"),
    [
        (SATURDAY, "am 29.02.", "Den 29. Februar gibt es 2027 nicht. Welcher Tag soll es sein?"),
        (SATURDAY, "2027-02-29", "Den 29. Februar gibt es 2027 nicht. Welcher Tag soll es sein?"),
        (datetime(2028, 3, 1, 9, tzinfo=BERLIN), "am 29.02.", "Den 29. Februar gibt es 2029 nicht."),
    ],
)
def test_a_29_february_the_year_lacks_is_invalid(now, text, message):
    result = when(text, now=now)
    assert isinstance(result, Unclear) and result.reason == "invalid_date"
    assert result.message.startswith(message)


def test_dst_change_weekend_keeps_local_wall_time():
    """Berlin leaves summer time on 2026-10-25: 14:00 that day is 13:00 UTC, the day before 12:00 UTC."""
    now = datetime(2026, 10, 24, 10, 0, tzinfo=BERLIN)
    tomorrow = when("morgen", "14 Uhr", now=now)
    assert tomorrow == at("2026-10-25", "14:00")
    moment = datetime.combine(tomorrow.day, tomorrow.at, tzinfo=BERLIN)
    assert moment.utcoffset() == timedelta(hours=1) and moment.hour == 14
    today = when("heute um 14 Uhr", now=now)
    assert datetime.combine(today.day, today.at, tzinfo=BERLIN).utcoffset() == timedelta(hours=2)
    spring = when("morgen um halb elf", now=datetime(2027, 3, 27, 10, 0, tzinfo=BERLIN))
    assert spring == at("2027-03-28", "10:30")
    assert datetime.combine(spring.day, spring.at, tzinfo=BERLIN).utcoffset() == timedelta(hours=2)


LONG_DAY = every_day("07:00", "21:00")
LATE_DAY = every_day("14:00", "22:00")


@pytest.mark.parametrize(
    ("date_text", "time_text", "hours", "clock"),
    [
        # no opening hours: the default day 08:00-20:00 decides
        ("morgen", "um 8", None, "08:00"),
        ("morgen", "um 7", None, "19:00"),
        ("morgen", "halb acht", None, "19:30"),
        ("morgen", "um 11", None, "11:00"),
        ("morgen", "um 1", None, "13:00"),
        # 07:00-21:00: one reading fits
        ("morgen", "um 9", LONG_DAY, "09:00"),
        ("morgen", "um 6", LONG_DAY, "18:00"),
        # 14:00-22:00: only the evening fits; neither fits 11 or 23 -> as said
        ("morgen", "um 8", LATE_DAY, "20:00"),
        ("morgen", "um 11", LATE_DAY, "11:00"),
        # the demo salon: Monday 08:00-18:00, Saturday 08:00-19:00, Sunday closed
        ("Montag", "um 8", SALON_HOURS, "08:00"),
        ("Montag", "um 5", SALON_HOURS, "17:00"),
        ("Montag", "um 6", SALON_HOURS, "18:00"),  # neither 6:00 nor 18:00 is open: 1-7 -> afternoon
        ("Samstag", "um 9", SALON_HOURS, "09:00"),
        ("Sonntag", "um 8", SALON_HOURS, "08:00"),  # closed: 8-11 as said
        ("Sonntag", "um 3", SALON_HOURS, "15:00"),
        # explicit forms never ask
        ("morgen", "08:00", LONG_DAY, "08:00"),
        ("morgen", "20 Uhr", LONG_DAY, "20:00"),
        ("morgen", "8 pm", LONG_DAY, "20:00"),
        ("morgen", "8 Uhr abends", LONG_DAY, "20:00"),
        ("morgen", "8 Uhr morgens", LONG_DAY, "08:00"),
        ("morgen", "12 Uhr", LONG_DAY, "12:00"),
    ],
)
def test_bare_hours_are_read_against_opening_hours(date_text, time_text, hours, clock):
    result = when(date_text, time_text, hours=hours)
    assert isinstance(result, Resolved) and result.at == time.fromisoformat(clock)


@pytest.mark.parametrize(
    ("time_text", "language", "options", "message"),
    [
        ("um 8", "de", ["08:00", "20:00"], "Meinen Sie 8:00 Uhr morgens oder 20:00 Uhr abends?"),
        ("um 8", "en", ["08:00", "20:00"], "Do you mean 8:00 am or 8:00 pm?"),
        ("halb neun", "de", ["08:30", "20:30"], "Meinen Sie 8:30 Uhr morgens oder 20:30 Uhr abends?"),
        ("um 7", "de", ["07:00", "19:00"], "Meinen Sie 7:00 Uhr morgens oder 19:00 Uhr abends?"),
        ("viertel nach acht", "en", ["08:15", "20:15"], "Do you mean 8:15 am or 8:15 pm?"),
    ],
)
def test_a_bare_hour_inside_opening_hours_twice_is_asked_back(time_text, language, options, message):
    assert when("morgen", time_text, language=language, hours=LONG_DAY) == Unclear(
        reason="ambiguous_time", message=message, options=options
    )


@pytest.mark.parametrize(
    ("date_text", "time_text", "reason"),
    [
        ("31.02.", None, "invalid_date"),
        ("am 32.", None, "invalid_date"),
        ("am 0.", None, "invalid_date"),
        ("30. Februar", None, "invalid_date"),
        ("2026-02-30", None, "invalid_date"),
        ("31.04.", None, "invalid_date"),
        ("13.13.", None, "invalid_date"),
        ("blub", None, "invalid_date"),
        ("morgen oder so", None, "invalid_date"),
        ("nächste Woche", None, "invalid_date"),
        ("", None, "invalid_date"),
        ("um 14 Uhr", None, "invalid_date"),
        ("morgen", "25 Uhr", "invalid_time"),
        ("morgen", "14:75", "invalid_time"),
        ("morgen", "blub", "invalid_time"),
        ("morgen", "um 9 oder 10", "invalid_time"),
        ("morgen", "20 Uhr morgens", "invalid_time"),
        ("morgen", "12 Uhr abends", "invalid_time"),
        ("morgen", "8 Uhr nachmittags", "invalid_time"),
        ("morgen", "7 Uhr nachts", "invalid_time"),
        ("morgen", "24:00", "invalid_time"),
        ("morgen", "13 am", "invalid_time"),
        ("morgen", "halb fünfundzwanzig", "invalid_time"),
        ("morgen", "45 nach halb drei", "invalid_time"),
        ("morgen", "14 Uhr und 15 Uhr", "invalid_time"),
        ("morgen um viertel", None, "invalid_time"),
        ("morgen 9", None, "invalid_time"),
        ("Dienstag, 25.11.", None, "ambiguous_date"),
        ("morgen, den 3.12.", None, "ambiguous_date"),
        ("Montag Dienstag", None, "ambiguous_date"),
        ("morgen", "Dienstag um 3", "ambiguous_date"),
    ],
)
@pytest.mark.parametrize("language", ["de", "en"])
def test_unclear_input_gets_a_speakable_question(date_text, time_text, reason, language):
    result = when(date_text, time_text, language=language)
    assert isinstance(result, Unclear) and result.reason == reason
    assert result.message.endswith("?") and not ISO_IN_TEXT.search(result.message)
    assert ("Welche" in result.message or "Meinen" in result.message or "Um wie" in result.message) == (
        language == "de"
    )


@pytest.mark.parametrize(
    ("date_text", "language", "message", "options"),
    [
        ("31.02.", "de", "Den 31. Februar gibt es nicht. Welcher Tag soll es sein?", []),
        ("31.02.", "en", "There is no February 31. Which day would you like?", []),
        ("am 32.", "de", "Dieses Datum gibt es nicht. Welcher Tag soll es sein?", []),
        ("", "en", "Which day would you like?", []),
        (
            "Dienstag, 25.11.",
            "de",
            "Meinen Sie Mittwoch, den 25. November, oder Dienstag, den 24. November?",
            ["2026-11-25", "2026-11-24"],
        ),
        (
            "Tuesday, November 25th",
            "en",
            "Do you mean Wednesday, November 25, or Tuesday, November 24?",
            ["2026-11-25", "2026-11-24"],
        ),
    ],
)
def test_unclear_messages_and_options(date_text, language, message, options):
    result = when(date_text, language=language)
    assert isinstance(result, Unclear)
    assert (result.message, result.options) == (message, options)


def test_a_weekday_that_misses_the_date_offers_the_nearest_one_not_in_the_past():
    # 22.11.2026 is a Sunday; the Friday before it (20th) is past, so the next Friday is offered.
    result = when("Freitag, 22.11.")
    assert isinstance(result, Unclear) and result.options == ["2026-11-22", "2026-11-27"]


@pytest.mark.parametrize(
    ("date_text", "time_text", "expected"),
    [
        ("  MORGEN  ", None, at("2026-11-22")),
        ("Morgen!", None, at("2026-11-22")),
        ("dienstag?", None, at("2026-11-24")),
        ("am 22.10.!", None, at("2027-10-22")),
        ("ÜBERMORGEN.", None, at("2026-11-23")),
        ("Am   Dienstag ,", None, at("2026-11-24")),
        ("„morgen“", None, at("2026-11-22")),
        ("morgen", "  UM 14   UHR. ", at("2026-11-22", "14:00")),
        ("morgen", "Gegen 15 Uhr?", at("2026-11-22", "15:00")),
        ("morgen", "at 3 PM", at("2026-11-22", "15:00")),
        ("morgen", "ca. 15 Uhr", at("2026-11-22", "15:00")),
        ("morgen", "so gegen halb drei", at("2026-11-22", "14:30")),
        ("morgen", "", at("2026-11-22")),
        ("morgen", "   ", at("2026-11-22")),
    ],
)
def test_case_spacing_and_punctuation_do_not_matter(date_text, time_text, expected):
    assert when(date_text, time_text) == expected
