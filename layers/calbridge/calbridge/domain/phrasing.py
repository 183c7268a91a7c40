"""Short sentences the voice agent can say, in the company's language (German default)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from calbridge.domain.models import Language, PausePolicy, Service

_WEEKDAYS = {
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_MONTHS = {
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def spoken_date(day: date, lang: Language) -> str:
    weekday, month = _WEEKDAYS[lang][day.weekday()], _MONTHS[lang][day.month - 1]
    if lang == "de":
        return f"{weekday}, {day.day}. {month} {day.year}"
    return f"{weekday}, {month} {day.day}, {day.year}"


def spoken_duration(minutes: int, lang: Language) -> str:
    hours, rest = divmod(minutes, 60)
    if lang == "de":
        parts = [f"{hours} Stunde" + ("n" if hours > 1 else "")] if hours else []
        parts += [f"{rest} Minuten"] if rest else []
        return " ".join(parts)
    parts = [f"{hours} hour" + ("s" if hours > 1 else "")] if hours else []
    parts += [f"{rest} minutes"] if rest else []
    return " ".join(parts)


def spoken_price(cents: int, lang: Language) -> str:
    euros, rest = divmod(cents, 100)
    if lang == "de":
        return f"{euros} Euro" if not rest else f"{euros},{rest:02d} Euro"
    return f"{euros} euros" if not rest else f"{euros}.{rest:02d} euros"


def join_names(names: Sequence[str], lang: Language) -> str:
    if len(names) <= 1:
        return "".join(names)
    last = " und " if lang == "de" else " and "
    return ", ".join(names[:-1]) + last + names[-1]


def _waiting_de(service: Service) -> str:
    # With a `free` or `flexible` policy the gap is processing time the client waits alone.
    if service.pause_policy in (PausePolicy.FREE, PausePolicy.FLEXIBLE):
        return f"Zwischendurch gibt es etwa {service.gap_minutes} Minuten Einwirkzeit."
    return f"Darin enthalten sind etwa {service.gap_minutes} Minuten Pausen."


def _waiting_en(service: Service) -> str:
    if service.pause_policy in (PausePolicy.FREE, PausePolicy.FLEXIBLE):
        return f"In between there are about {service.gap_minutes} minutes of processing time."
    return f"That includes about {service.gap_minutes} minutes of breaks."


def describe_service(service: Service, staff_names: Sequence[str], lang: Language) -> str:
    duration = spoken_duration(service.duration, lang)
    if lang == "de":
        text = f"{service.name} dauert insgesamt {duration}"
        text += f" und kostet {spoken_price(service.price_cents, lang)}." if service.price_cents else "."
        if service.gap_minutes:
            text += f" {_waiting_de(service)}"
        if staff_names:
            text += f" Das machen bei uns {join_names(staff_names, lang)}."
        return text
    text = f"{service.name} takes {duration} in total"
    text += f" and costs {spoken_price(service.price_cents, lang)}." if service.price_cents else "."
    if service.gap_minutes:
        text += f" In between there are about {service.gap_minutes} minutes of processing time."
    if staff_names:
        text += f" It is done by {join_names(staff_names, lang)}."
    return text


def list_services(services: Sequence[Service], lang: Language) -> str:
    items = [f"{s.name} ({spoken_duration(s.duration, lang)})" for s in services]
    if lang == "de":
        return (
            f"Wir bieten an: {join_names(items, lang)}."
            if items
            else "Zurzeit bieten wir keine Leistungen an."
        )
    return f"We offer: {join_names(items, lang)}." if items else "We currently offer no services."


def unknown_service(query: str, services: Sequence[Service], lang: Language) -> str:
    offer = list_services(services, lang)
    if lang == "de":
        return f"Die Leistung „{query}“ kenne ich leider nicht. {offer}"
    return f'I don\'t know the service "{query}". {offer}'


def which_service(candidates: Sequence[Service], lang: Language) -> str:
    names = join_names([c.name for c in candidates], lang)
    if lang == "de":
        return f"Meinen Sie {names.replace(' und ', ' oder ')}?"
    return f"Do you mean {names.replace(' and ', ' or ')}?"


def calendar_unavailable(lang: Language) -> str:
    if lang == "de":
        return "Der Kalender ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal."
    return "The calendar can't be reached right now. Please try again in a moment."
