"""Dates and times as callers say them, read as company-local days and clock times.

Pure: no I/O and no clock reads; the caller passes `now`, already in the company's time zone.
`resolve_when` answers `Resolved(day, at)` or `Unclear(reason, message, options)`, where `message`
is a short sentence in the company's language (German unless "en") the agent can say as it is.
Whether the day is in the past or beyond the booking window is the caller's check
(services/tools.py). German and English are both understood, whatever the company's language;
case, umlauts written as ae/oe/ue or left out, extra spaces and punctuation do not matter.

Days
  * "2026-11-24", "22.10.2027", "22.10.27": taken as written.
  * Without a year — "am 22.10.", "22. Oktober", "October 22nd", "22 Oct", "the 22nd of October":
    the next occurrence, today included (on 21 Nov 2026 "am 21.11." is today and "am 22.10." is
    22 Oct 2027). "29.02." is this year's or, once passed, next year's 29 February — invalid when
    that year has none. A day alone ("am 22.", "the 22nd") is this month's, else the next month
    that has it.
  * heute/today, morgen/tomorrow, übermorgen/(the) day after tomorrow; "in 3 Tagen", "in zwei
    Wochen", "in 3 days", "in a week".
  * A weekday, bare or with am/nächsten/kommenden/diesen, on/this/next/coming ("Dienstag",
    "nächsten Dienstag", "this Friday", "next Friday"), is the first such day AFTER today, 1 to 7
    days ahead: said on a Tuesday, "Dienstag" and "next Tuesday" both mean in 7 days (today is
    "heute"/"today"). "übernächsten Dienstag"/"Tuesday after next" is a week later than that;
    "nächste Woche Dienstag"/"Tuesday next week" is the Tuesday of the next Monday-to-Sunday week.
  * Two days that disagree ("Dienstag, 22.10." when the 22nd is a Thursday, "morgen, den 3.12.")
    are asked back: ambiguous_date, options as ISO dates.

Times
  * "14:00", "14:00:00", "14.30 Uhr", "14 Uhr", "14 Uhr 30", "um 9", "at 9", "gegen 9", "ab 9"
    (gegen/ab: read as that time), "3pm", "3:15 pm", "noon"/"mittags" (12:00),
    "Mitternacht"/"midnight" (0:00), "halb drei" (2:30), "viertel nach zehn", "viertel vor drei"
    and "drei viertel drei" (2:45), "viertel drei" (regional: 2:15), "zehn nach drei", "fünf vor
    halb drei" (2:25), "quarter past ten", "half past two", "ten to four"; numbers as digits or
    words (eins…neunundfünfzig, one…fifty-nine, "zweiundzwanzigster", "twenty-second").
  * Part of the day: morgens/früh/vormittags/in the morning keep the hour; mittags 1–3 → 13–15;
    nachmittags/afternoon 1–7 → 13–19; abends/evening/tonight 4–11 → 16–23; nachts/at night
    1–5 as said, 8–11 → 20–23, 12 → 0:00. A part that contradicts the hour ("20 Uhr morgens",
    "12 Uhr abends") is invalid_time. "heute Abend", "morgen früh", "Dienstagnachmittag" give
    the day and the part; a part without an hour leaves the time open (at=None), except
    mittags/noon.
  * "am" after a number is a.m. for English-speaking companies; for German ones only when no
    day follows ("um 9 am Dienstag" is 9 o'clock on Tuesday).
  * A bare hour 1–11 ("um 8", "halb drei", "8:00") can be morning or evening: the reading inside
    the day's opening hours wins (the company's, else DEFAULT_DAY 08:00–20:00). Both inside →
    ambiguous_time ("Meinen Sie 8:00 Uhr morgens oder 20:00 Uhr abends?", options "08:00",
    "20:00"). Neither (closed that day, or both outside) → 1–7 as afternoon (13:00–19:59), 8–11
    as said. 12 is noon; 0, 13–23 and a leading zero ("08:00") are 24-hour times as written.
  * A time in `time_text` wins over one in `date_text`; a part of the day in `date_text`
    ("übermorgen nachmittag") still applies to an hour given in `time_text` ("um 4").

Words that are neither understood nor fillers (am, um, at, on, the, den, gegen, ca., …) make the
text unclear (invalid_date/invalid_time) rather than half-read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from calbridge.domain import phrasing
from calbridge.domain.models import Language, OpeningHours
from calbridge.domain.text import fold, has_unspoken, without_controls

# The day a bare hour is read against when the company has no opening hours.
DEFAULT_DAY: tuple[time, time] = (time(8), time(20))
_DEFAULT_HOURS = OpeningHours(weekly={weekday: [DEFAULT_DAY] for weekday in range(7)})

Reason = Literal["invalid_date", "invalid_time", "ambiguous_time", "ambiguous_date"]
Part = Literal["morning", "noon", "afternoon", "evening", "night"]


class Resolved(BaseModel):
    """A company-local day and, if one was said, a company-local clock time."""

    model_config = ConfigDict(frozen=True)

    day: date
    at: time | None = None


class Unclear(BaseModel):
    """What the agent should ask or say instead; `options` are ISO dates or HH:MM times."""

    model_config = ConfigDict(frozen=True)

    reason: Reason
    message: str
    options: list[str] = Field(default_factory=list)


class _Problem(Exception):
    def __init__(self, unclear: Unclear) -> None:
        super().__init__(unclear.reason)
        self.unclear = unclear


# --- vocabulary -------------------------------------------------------------------------------

_DE_UNITS = ["", "ein", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun"]
_DE_TEENS = ["zehn", "elf", "zwoelf", "dreizehn", "vierzehn", "fuenfzehn", "sechzehn", "siebzehn"]
_DE_TEENS += ["achtzehn", "neunzehn"]
_DE_TENS = {2: "zwanzig", 3: "dreissig", 4: "vierzig", 5: "fuenfzig"}
_DE_ORDINAL_STEMS = {1: "erst", 3: "dritt", 7: "siebt", 8: "acht"}
_EN_SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_EN_SMALL += ["eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"]
_EN_SMALL += ["eighteen", "nineteen"]
_EN_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty"}
_EN_ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
_EN_ORDINALS += ["ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth"]
_EN_ORDINALS += ["sixteenth", "seventeenth", "eighteenth", "nineteenth"]
_EN_TENS_ORDINALS = {2: "twentieth", 3: "thirtieth"}


def _german_cardinals() -> dict[int, str]:
    words = {n: _DE_UNITS[n] for n in range(2, 10)} | {1: "eins"}
    words |= {10 + i: word for i, word in enumerate(_DE_TEENS)}
    for tens, word in _DE_TENS.items():
        words[tens * 10] = word
        words |= {tens * 10 + unit: f"{_DE_UNITS[unit]}und{word}" for unit in range(1, 10)}
    return words


def _number_words() -> dict[str, str]:
    """Single words for numbers: cardinals become '14', ordinals '22.' (German) or '22th'."""
    german: dict[str, str] = {"null": "0", "ein": "1", "eine": "1", "einer": "1", "zwo": "2"}
    for n, word in _german_cardinals().items():
        german[word] = str(n)
        if n <= 31:
            stem = _DE_ORDINAL_STEMS.get(n) or word + ("t" if n < 20 else "st")
            german |= {stem + ending: f"{n}." for ending in ("e", "en", "er", "em", "es")}
    # Callers' transcripts also drop the umlaut: "funf", "zwolf".
    german |= {word.replace("ue", "u").replace("oe", "o"): value for word, value in german.items()}
    english = {word: str(n) for n, word in enumerate(_EN_SMALL)}
    english |= {word: str(tens * 10) for tens, word in _EN_TENS.items()}
    english |= {word: f"{n}th" for n, word in enumerate(_EN_ORDINALS) if word}
    english |= {word: f"{tens * 10}th" for tens, word in _EN_TENS_ORDINALS.items()}
    return german | english


_NUMBER_WORDS = _number_words()
_EN_COMPOUND = re.compile(
    rf"\b({'|'.join(_EN_TENS.values())}) ({'|'.join(_EN_SMALL[1:10] + _EN_ORDINALS[1:10])})\b"
)

_WEEKDAY_NAMES = {
    "montag": 0, "monday": 0, "mon": 0,
    "dienstag": 1, "tuesday": 1, "tues": 1, "tue": 1,
    "mittwoch": 2, "wednesday": 2, "wed": 2,
    "donnerstag": 3, "thursday": 3, "thurs": 3, "thur": 3, "thu": 3,
    "freitag": 4, "friday": 4, "fri": 4,
    "samstag": 5, "sonnabend": 5, "saturday": 5, "sat": 5,
    "sonntag": 6, "sunday": 6, "sun": 6,
}  # fmt: skip
_MONTH_NAMES = {
    "januar": 1, "jaenner": 1, "january": 1, "jan": 1,
    "februar": 2, "february": 2, "feb": 2,
    "maerz": 3, "marz": 3, "march": 3, "mrz": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11,
    "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip
_WD = "|".join(sorted(_WEEKDAY_NAMES, key=len, reverse=True))
_DE_WD = "montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonnabend|sonntag"
_MONTH = "|".join(sorted(_MONTH_NAMES, key=len, reverse=True))
_NEXT = r"na(?:e)?chste[nmrs]?"
_ORD = r"(?:st|nd|rd|th)"

_FILLERS = frozenset({
    "am", "um", "at", "on", "the", "den", "dem", "der", "die", "gegen", "ab", "ca", "circa", "etwa",
    "ungefaehr", "ungefahr", "so", "around", "about", "bitte", "please", "und", "and", "a",
    "also", "dann", "gern", "gerne",
})  # fmt: skip
# Left-over words that show the caller was giving a time, not a day.
_TIME_WORDS = frozenset({
    "uhr", "halb", "viertel", "nach", "vor", "pm", "quarter", "half", "past", "to", "minuten", "minutes",
})  # fmt: skip


# --- normalising ------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    text = fold(text, keep=".:-")
    text = re.sub(r"\b([ap])\.? ?m\b\.?", r"\1m", text)  # a.m. / p.m.
    text = re.sub(r"\bo ?clock\b", "uhr", text)  # o'clock
    text = re.sub(r"\b(\d{4}-\d{1,2}-\d{1,2})t(?=\d)", r"\1 ", text)  # 2026-11-24T14:00
    text = re.sub(r"(?<!\d)[.:]|:(?!\d)|(?<!\d)-|-(?!\d)", " ", text)  # keep 22.10. 14:00 2026-11-24
    text = _EN_COMPOUND.sub(lambda m: _compound(m[1], m[2]), text)
    text = " ".join(_NUMBER_WORDS.get(word, word) for word in text.split())
    # "Dienstagnachmittag" -> "dienstag nachmittag"; "heute morgen", "Dienstag morgen": the morning.
    text = re.sub(rf"\b({_DE_WD})(morgen|vormittag|mittag|nachmittag|abend|nacht)(s?)\b", r"\1 \2\3", text)
    text = re.sub(rf"\b(heute|morgen|(?:ue|u)bermorgen|{_DE_WD}) morgen\b", r"\1 morgens", text)
    text = re.sub(r"\btonight\b", "today evening", text)
    return re.sub(r"\bthis (morning|afternoon|evening)\b", r"today \1", text)


def _compound(tens_word: str, unit_word: str) -> str:
    tens = next(t for t, word in _EN_TENS.items() if word == tens_word) * 10
    if unit_word in _EN_SMALL:
        return str(tens + _EN_SMALL.index(unit_word))
    return f"{tens + _EN_ORDINALS.index(unit_word)}th"


# --- scanning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int = 0
    second: int = 0
    meridiem: str | None = None
    written_24h: bool = False  # "08:00": a leading zero means the speaker chose the 24-hour form


@dataclass(frozen=True)
class _DayHint:
    day: date
    weekday: int | None = None  # set when the caller named a weekday (checked against other hints)


@dataclass
class _Reading:
    days: list[_DayHint] = field(default_factory=list)
    clocks: list[_Clock] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    leftover: list[str] = field(default_factory=list)


class _Scan:
    """Cuts what a pattern matches out of the text, so every word is read exactly once."""

    def __init__(self, text: str) -> None:
        self.text = f" {text} "

    def take(
        self, pattern: re.Pattern[str], accept: Callable[[re.Match[str]], bool] | None = None
    ) -> list[re.Match[str]]:
        """Matches of `pattern` (those `accept` approves), cut out of the text."""
        found: list[re.Match[str]] = []

        def cut(match: re.Match[str]) -> str:
            if accept and not accept(match):
                return match[0]
            found.append(match)
            return " "

        self.text = pattern.sub(cut, self.text)
        return found

    def leftover(self) -> list[str]:
        return [word for word in self.text.split() if word.strip(".:-") and word not in _FILLERS]


def _hour_before(hour: int) -> int:
    """The hour a "halb drei" / "viertel vor drei" falls in: 2; before one o'clock it is 12."""
    return 12 if hour == 1 else hour - 1


def _is_24h(text: str) -> bool:
    return len(text) == 2 and text.startswith("0")


# "am" after a number: a.m. for English-speaking companies; for German ones only when no day follows.
_MERIDIEM: dict[Language, str] = {
    "en": r"(?P<mer>am|pm)\b",
    "de": rf"(?P<mer>pm|am(?! (?:\d|{_WD}|{_NEXT}|kommende|diese|(?:ue|u)ber|heute|morgen)))\b",
}


def _clock_patterns(lang: Language) -> list[tuple[re.Pattern[str], str]]:
    """Clock-time patterns, relational forms first so their numbers are not read as plain hours."""
    hour, mer = r"(?P<h>\d{1,2})", _MERIDIEM[lang]
    tail = rf"(?: ?uhr)?(?: ?{mer})?\b"
    before = "vor|to|before|til"
    patterns = [
        (rf"\b(?:3 viertel|dreiviertel) {hour}{tail}", "quarter_to"),
        (rf"\b(?:viertel|quarter) (?:nach|past|after) {hour}{tail}", "quarter_past"),
        (rf"\b(?:viertel|quarter) (?:{before}) {hour}{tail}", "quarter_to"),
        (rf"\b(?P<m>\d{{1,2}}) (?P<dir>nach|vor) halb {hour}{tail}", "around_half"),
        (rf"\bhalb {hour}{tail}", "half_to"),
        (rf"\bhalf past {hour}{tail}", "half_past"),
        (
            rf"\b(?P<m>\d{{1,2}}) (?:minuten |minutes )?(?P<dir>nach|past|after|{before}) {hour}{tail}",
            "minutes",
        ),
        (rf"\bviertel {hour}{tail}", "quarter_into"),  # regional: "viertel drei" = 2:15
        (rf"(?<![\d.:-]){hour}:(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?(?![\d.:-]){tail}", "clock"),
        (
            rf"\b(?:(?P<pre>um|at|gegen|ab|around|about) )?{hour}\.(?P<m>\d{{2}})(?![\d.:-])"
            rf"(?P<uhr> ?uhr)?\b(?: ?{mer})?",
            "dotted",
        ),
        (rf"\b{hour} ?uhr(?: (?P<m>\d{{1,2}})\b(?![.:]))?(?: ?{mer})?", "clock"),  # "14 Uhr 30"
        (rf"\b{hour}(?: (?P<m>\d{{2}}))? ?{mer}", "clock"),  # "3pm", "3 15 pm"
        (
            r"\b(?:um|at|gegen|ab|around|about)(?: (?:ca|circa|etwa|ungefaehr|ungefahr))? "
            rf"{hour}(?: (?P<m>\d{{2}}))?\b(?![.:]\d)",
            "clock",
        ),
    ]
    return [(re.compile(pattern), kind) for pattern, kind in patterns]


_CLOCK_PATTERNS: dict[Language, list[tuple[re.Pattern[str], str]]] = {
    lang: _clock_patterns(lang) for lang in ("de", "en")
}
_BARE_HOUR = re.compile(r"(?<![\d.:-])(?P<h>\d{1,2})(?![\d.:-])")
_MIDNIGHT = re.compile(r"\b(?:mitternacht|midnight)\b")

_PARTS: list[tuple[re.Pattern[str], Part]] = [
    (re.compile(r"\b(?:in the morning|morgens|fru(?:e)?h|vormittags?|morning)\b"), "morning"),
    (re.compile(r"\b(?:in the afternoon|nachmittags?|afternoon)\b"), "afternoon"),
    (re.compile(r"\b(?:zu mittag|mittags?|noon|midday|lunchtime)\b"), "noon"),
    (re.compile(r"\b(?:in the evening|abends?|evening)\b"), "evening"),
    (re.compile(r"\b(?:in der nacht|at night|nachts?|night)\b"), "night"),
]
# Hours (24-hour, after applying the part) each part of the day can name.
_PART_HOURS: dict[Part, frozenset[int]] = {
    "morning": frozenset(range(0, 13)),
    "noon": frozenset(range(11, 16)),
    "afternoon": frozenset(range(12, 20)),
    "evening": frozenset(range(16, 24)),
    "night": frozenset([*range(20, 24), *range(0, 6)]),
}

_ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})\b")
_DOTTED_DATE = re.compile(r"(?<![\d.:])(?P<d>\d{1,2})\.(?P<mo>\d{1,2})(?:\.(?P<y>\d{4}|\d{2})?)?(?![\d:])")
_DAY_MONTH = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:\.|{_ORD})? ?(?:of )?(?P<mon>{_MONTH})\b(?: (?P<y>\d{{4}})\b)?"
)
_MONTH_DAY = re.compile(
    rf"\b(?P<mon>{_MONTH}) (?:the )?(?P<d>\d{{1,2}})(?:\.|{_ORD})?(?![\d:])(?: (?P<y>\d{{4}})\b)?"
)
_DAY_ONLY = re.compile(
    rf"\b(?:am|den|dem|on the|on|the) (?P<d>\d{{1,2}})(?:\.|{_ORD})?(?![\d:.])"
    rf"|\b(?P<o>\d{{1,2}}){_ORD}\b|(?<![\d.:])(?P<g>\d{{1,2}})\.(?=\s)"
)
_AFTER_TOMORROW = re.compile(r"\b(?:(?:ue|u)bermorgen|(?:the )?day after tomorrow)\b")
_TOMORROW = re.compile(r"\b(?:morgen|tomorrow)\b")
_TODAY = re.compile(r"\b(?:heute|today)\b")
_IN_DAYS = re.compile(r"\bin (?P<n>\d{1,3}) (?:tagen|tage|tag|days|day)\b")
_IN_WEEKS = re.compile(r"\bin (?P<n>\d{1,2}|a) (?:wochen|woche|weeks|week)\b")
_WEEKDAY_NEXT_WEEK = re.compile(
    rf"\b(?:{_NEXT} woche|next week) (?:am |on )?(?P<wd>{_WD})s?\b"
    rf"|\b(?P<wd2>{_WD})s? (?:in der )?(?:{_NEXT} woche|next week)\b"
)
_WEEKDAY_AFTER_NEXT = re.compile(
    rf"\b(?:ue|u)berna(?:e)?chste[nmrs]? (?P<wd>{_WD})s?\b|\b(?P<wd2>{_WD})s? after next\b"
)
_WEEKDAY = re.compile(rf"\b(?:(?:{_NEXT}|kommende[nmrs]?|diese[nmrs]?|this|next|coming) )?(?P<wd>{_WD})s?\b")


def _read(text: str, today: date, lang: Language, *, time_context: bool) -> _Reading:
    """Everything one text says: day hints, clock times, parts of the day and unknown words."""
    scan, found = _Scan(_normalize(text)), _Reading()
    for pattern, kind in _CLOCK_PATTERNS[lang]:
        # "22.10" is a date unless it is marked as a time or stands in the time field.
        accept = _marked_time if kind == "dotted" and not time_context else None
        found.clocks += [_clock(match, kind) for match in scan.take(pattern, accept)]
    if scan.take(_MIDNIGHT):
        found.clocks.append(_Clock(0))
    for pattern, part in _PARTS:
        found.parts += [part for _ in scan.take(pattern)]
    found.days = _read_days(scan, today)
    if time_context:  # a bare "9" in the time field
        found.clocks += [_clock(match, "clock") for match in scan.take(_BARE_HOUR)]
    found.leftover = scan.leftover()
    return found


def _marked_time(match: re.Match[str]) -> bool:
    return bool(match["pre"] or match["uhr"] or match["mer"])


def _clock(match: re.Match[str], kind: str) -> _Clock:
    said = match.groupdict()
    hour, minute, mer = int(said["h"]), int(said.get("m") or 0), said.get("mer")
    if kind in ("clock", "dotted"):
        return _Clock(hour, minute, int(said.get("s") or 0), mer, written_24h=_is_24h(said["h"]))
    if kind == "quarter_past":
        return _Clock(hour, 15, meridiem=mer)
    if kind == "half_past":
        return _Clock(hour, 30, meridiem=mer)
    if kind == "quarter_to":
        return _Clock(_hour_before(hour), 45, meridiem=mer)
    if kind == "half_to":
        return _Clock(_hour_before(hour), 30, meridiem=mer)
    if kind == "quarter_into":
        return _Clock(_hour_before(hour), 15, meridiem=mer)
    before = said.get("dir") in ("vor", "to", "before", "til")
    if not 0 < minute < 30 or (kind == "minutes" and minute > 30):
        return _Clock(hour, 60, meridiem=mer)  # "45 nach halb drei": no such time, reported as invalid_time
    if kind == "around_half":  # "fünf vor halb drei" = 2:25, "fünf nach halb drei" = 2:35
        return _Clock(_hour_before(hour), 30 - minute if before else 30 + minute, meridiem=mer)
    if before:  # "zehn vor drei" = 2:50
        return _Clock(_hour_before(hour), 60 - minute, meridiem=mer)
    return _Clock(hour, minute, meridiem=mer)


# --- days -------------------------------------------------------------------------------------


def _read_days(scan: _Scan, today: date) -> list[_DayHint]:
    hints: list[_DayHint] = []
    for match in scan.take(_ISO_DATE):
        hints.append(_DayHint(_exact(int(match["y"]), int(match["mo"]), int(match["d"]))))
    for match in scan.take(_DOTTED_DATE):
        hints.append(_DayHint(_day_month(today, int(match["d"]), int(match["mo"]), match["y"])))
    for match in [*scan.take(_DAY_MONTH), *scan.take(_MONTH_DAY)]:
        month = _MONTH_NAMES[match["mon"]]
        hints.append(_DayHint(_day_month(today, int(match["d"]), month, match["y"])))
    for match in scan.take(_DAY_ONLY):
        hints.append(_DayHint(_day_only(today, int(match["d"] or match["o"] or match["g"]))))
    for pattern, offset in ((_AFTER_TOMORROW, 2), (_TOMORROW, 1), (_TODAY, 0)):
        hints += [_DayHint(today + timedelta(days=offset)) for _ in scan.take(pattern)]
    for match in scan.take(_IN_DAYS):
        hints.append(_DayHint(today + timedelta(days=int(match["n"]))))
    for match in scan.take(_IN_WEEKS):
        weeks = 1 if match["n"] == "a" else int(match["n"])
        hints.append(_DayHint(today + timedelta(weeks=weeks)))
    for match in scan.take(_WEEKDAY_NEXT_WEEK):
        weekday = _WEEKDAY_NAMES[match["wd"] or match["wd2"]]
        monday = today + timedelta(days=7 - today.weekday())
        hints.append(_DayHint(monday + timedelta(days=weekday), weekday))
    for match in scan.take(_WEEKDAY_AFTER_NEXT):
        weekday = _WEEKDAY_NAMES[match["wd"] or match["wd2"]]
        hints.append(_DayHint(_next_weekday(today, weekday) + timedelta(days=7), weekday))
    for match in scan.take(_WEEKDAY):
        weekday = _WEEKDAY_NAMES[match["wd"]]
        hints.append(_DayHint(_next_weekday(today, weekday), weekday))
    return hints


def _next_weekday(today: date, weekday: int) -> date:
    """The first `weekday` after today: 1 to 7 days ahead."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


class _NoSuchDate(Exception):
    """A day that doesn't exist; resolve_when, which knows the language, says so."""

    def __init__(self, day: int, month: int | None, year: int | None = None) -> None:
        super().__init__(f"no such date: {day}.{month}.{year}")
        self.day, self.month, self.year = day, month, year


def _exact(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _NoSuchDate(day, month, year if (month, day) == (2, 29) else None) from None


def _day_month(today: date, day: int, month: int, year: str | None) -> date:
    if year:
        return _exact(int(year) + (2000 if len(year) == 2 else 0), month, day)
    if not 1 <= month <= 12:
        raise _NoSuchDate(day, None)
    # The next occurrence, today included: a day already past this year is next year's.
    return _exact(today.year + ((month, day) < (today.month, today.day)), month, day)


def _day_only(today: date, day: int) -> date:
    """This month's `day` if it is still ahead (or today), else the next month that has one."""
    if not 1 <= day <= 31:
        raise _NoSuchDate(day, None)
    year, month = today.year, today.month
    for _ in range(3):  # every day 1-31 occurs within three months
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise _NoSuchDate(day, None)  # unreachable for 1-31; kept so the type is always a date


def _the_day(hints: list[_DayHint], today: date, lang: Language) -> date:
    if not hints:
        raise _Problem(Unclear(reason="invalid_date", message=phrasing.ask_day(lang)))
    named = list(dict.fromkeys(h.day for h in hints if h.weekday is None))
    weekdays = [h for h in hints if h.weekday is not None]
    if len(named) > 1:
        raise _which_day(named[0], named[1], lang)
    if named:
        day = named[0]
        for hint in weekdays:
            if day.weekday() != hint.weekday:
                raise _which_day(day, _weekday_near(day, hint.weekday, today), lang)
        return day
    days = list(dict.fromkeys(h.day for h in weekdays))
    if len(days) > 1:
        raise _which_day(days[0], days[1], lang)
    return days[0]


def _weekday_near(day: date, weekday: int, today: date) -> date:
    """The `weekday` closest to `day` (within three days), not before today."""
    near = day + timedelta(days=(weekday - day.weekday() + 3) % 7 - 3)
    return near if near >= today else near + timedelta(days=7)


def _which_day(first: date, second: date, lang: Language) -> _Problem:
    return _Problem(
        Unclear(
            reason="ambiguous_date",
            message=phrasing.which_day(first, second, lang),
            options=[first.isoformat(), second.isoformat()],
        )
    )


# --- times ------------------------------------------------------------------------------------


def _readings(clock: _Clock, part: Part | None) -> list[time] | None:
    """The clock times a said hour can mean (one or two), or None if it names no real time."""
    hour = clock.hour
    if clock.meridiem:
        if 1 <= hour <= 12:
            hour = hour % 12 + (12 if clock.meridiem == "pm" else 0)
        elif not (13 <= hour <= 23 and clock.meridiem == "pm"):
            return None
    elif part and not clock.written_24h and 1 <= hour <= 12:
        hour = _with_part(hour, part)
    if not (0 <= hour <= 23 and 0 <= clock.minute <= 59 and 0 <= clock.second <= 59):
        return None
    if part and hour not in _PART_HOURS[part]:
        return None
    at = time(hour, clock.minute, clock.second)
    if clock.meridiem or part or clock.written_24h or not 1 <= hour <= 11:
        return [at]
    return [at, at.replace(hour=hour + 12)]


def _with_part(hour: int, part: Part) -> int:
    if part == "morning":
        return hour
    if part == "noon":
        return hour + 12 if hour <= 5 else hour
    if part == "night":
        return 0 if hour == 12 else hour if hour <= 5 else hour + 12
    return hour if hour == 12 else hour + 12  # afternoon, evening


def _the_time(
    reading: _Reading, said: str, day: date, lang: Language, hours: OpeningHours | None
) -> time | None:
    clocks = list(dict.fromkeys(reading.clocks))
    parts = list(dict.fromkeys(reading.parts))
    if len(clocks) > 1 or len(parts) > 1:
        raise _Problem(Unclear(reason="invalid_time", message=phrasing.invalid_time(said, lang)))
    part = parts[0] if parts else None
    if not clocks:
        return time(12) if part == "noon" else None
    readings = _readings(clocks[0], part)
    if readings is None:  # "25 Uhr", "14:75", "20 Uhr morgens"
        raise _Problem(Unclear(reason="invalid_time", message=phrasing.no_such_time(lang)))
    if len(readings) == 1:
        return readings[0]
    inside = [at for at in readings if (hours or _DEFAULT_HOURS).is_open(day.weekday(), at)]
    if len(inside) == 2:
        raise _Problem(
            Unclear(
                reason="ambiguous_time",
                message=phrasing.which_time(inside, lang),
                options=[at.isoformat(timespec="minutes" if not at.second else "seconds") for at in inside],
            )
        )
    if inside:
        return inside[0]
    # Closed then, or both readings outside the hours: callers mean 1-7 in the afternoon.
    return readings[1] if readings[0].hour <= 7 else readings[0]


# --- the entry point --------------------------------------------------------------------------


def resolve_when(
    date_text: str,
    time_text: str | None,
    *,
    now: datetime,
    language: Language,
    opening_hours: OpeningHours | None = None,
) -> Resolved | Unclear:
    """Read a caller's day (and time) relative to `now` (aware, in the company's zone)."""
    today = now.date()
    date_text, time_text = (date_text or "").strip(), (time_text or "").strip()
    # Asked back, never guessed: a control character, a digit of another script or a sign before a
    # number ("-1" would otherwise be read as 1 o'clock) is not something a caller says.
    if not _as_said(date_text):
        return Unclear(
            reason="invalid_date", message=phrasing.invalid_date(without_controls(date_text), language)
        )
    if not _as_said(time_text):
        return Unclear(
            reason="invalid_time", message=phrasing.invalid_time(without_controls(time_text), language)
        )
    try:
        in_date = _read(date_text, today, language, time_context=False)
        in_time = _read(time_text, today, language, time_context=True)
        _check_understood(in_date, date_text, in_time, time_text, language)
        day = _the_day(in_date.days + in_time.days, today, language)
        # The time said in time_text wins; a part of the day said with the date still applies.
        timed, said = (in_time, time_text) if in_time.clocks else (in_date, date_text)
        reading = _Reading(clocks=timed.clocks, parts=in_time.parts or in_date.parts)
        at = _the_time(reading, said, day, language, opening_hours)
    except _NoSuchDate as missing:
        message = phrasing.no_such_date(missing.day, missing.month, missing.year, language)
        return Unclear(reason="invalid_date", message=message)
    except _Problem as problem:
        return problem.unclear
    return Resolved(day=day, at=at)


_SIGNED_NUMBER = re.compile(r"(?<![\w])[-+−]\s*\d")


def _as_said(text: str) -> bool:
    return not has_unspoken(text) and not _SIGNED_NUMBER.search(text)


def _check_understood(
    in_date: _Reading, date_text: str, in_time: _Reading, time_text: str, lang: Language
) -> None:
    """Words neither understood nor fillers: ask again rather than act on half the text."""
    if in_date.leftover:
        # Unknown words beside a day that look like a time ("morgen um viertel") concern the time.
        timeish = any(word in _TIME_WORDS or word[0].isdigit() for word in in_date.leftover)
        if in_date.days and timeish:
            raise _Problem(Unclear(reason="invalid_time", message=phrasing.invalid_time(date_text, lang)))
        raise _Problem(Unclear(reason="invalid_date", message=phrasing.invalid_date(date_text, lang)))
    if in_time.leftover:
        raise _Problem(Unclear(reason="invalid_time", message=phrasing.invalid_time(time_text, lang)))
