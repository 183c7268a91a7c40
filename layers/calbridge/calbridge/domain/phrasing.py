"""Short sentences the voice agent can say, in the company's language (German default)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Literal

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


# How a price's currency is said (ISO 4217 code -> German, English).
CURRENCY_WORDS: dict[str, tuple[str, str]] = {
    "EUR": ("Euro", "euros"),
    "GBP": ("Pfund", "pounds"),
    "CHF": ("Franken", "Swiss francs"),
    "USD": ("Dollar", "dollars"),
}


def spoken_price(cents: int, lang: Language, currency: str = "EUR") -> str:
    whole, rest = divmod(cents, 100)
    german, english = CURRENCY_WORDS[currency]
    if lang == "de":
        return f"{whole} {german}" if not rest else f"{whole},{rest:02d} {german}"
    return f"{whole} {english}" if not rest else f"{whole}.{rest:02d} {english}"


def join_names(names: Sequence[str], lang: Language, *, choice: bool = False) -> str:
    """'A, B und C', or with `choice` 'A, B oder C' (never rewriting an 'und' inside a name)."""
    if len(names) <= 1:
        return "".join(names)
    words = {"de": (" und ", " oder "), "en": (" and ", " or ")}[lang]
    return ", ".join(names[:-1]) + words[choice] + names[-1]


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
    price = spoken_price(service.price_cents, lang, service.currency) if service.price_cents else None
    if lang == "de":
        text = f"{service.name} dauert insgesamt {duration}"
        text += f" und kostet {price}." if price else "."
        if service.gap_minutes:
            text += f" {_waiting_de(service)}"
        if staff_names:
            text += f" Das machen bei uns {join_names(staff_names, lang)}."
        return text
    text = f"{service.name} takes {duration} in total"
    text += f" and costs {price}." if price else "."
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
    names = join_names([c.name for c in candidates], lang, choice=True)
    if lang == "de":
        return f"Meinen Sie {names}?"
    return f"Do you mean {names}?"


def calendar_unavailable(lang: Language) -> str:
    if lang == "de":
        return "Der Kalender ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal."
    return "The calendar can't be reached right now. Please try again in a moment."


def our_error(lang: Language) -> str:
    """Cal.com refused our request as malformed: our fault, and not about the caller's time."""
    if lang == "de":
        return (
            "Da ist bei uns gerade ein technischer Fehler aufgetreten, ich konnte es nicht in den "
            "Kalender eintragen. An Ihrer Uhrzeit liegt es nicht. Bitte versuchen Sie es später noch "
            "einmal, oder wir rufen Sie zurück."
        )
    return (
        "Something went wrong on our side, so I couldn't put it into the calendar. It's not about the "
        "time you asked for. Please try again later, or we can call you back."
    )


def not_bookable_by_phone(lang: Language) -> str:
    """The service has no booking event types yet: nobody can be booked for it on the phone."""
    if lang == "de":
        return "Diese Leistung kann ich am Telefon leider noch nicht buchen. Möchten Sie einen Rückruf?"
    return "I can't book that service on the phone yet. Would you like us to call you back?"


def salon_not_taking_calls(lang: Language) -> str:
    """The company is switched off (Company.active): no tool does anything for its calls."""
    if lang == "de":
        return (
            "Über diese Nummer nimmt der Salon im Moment leider keine Termine an. "
            "Bitte wenden Sie sich direkt an den Salon."
        )
    return (
        "I'm sorry, the salon is not taking appointments on this line at the moment. "
        "Please contact the salon directly."
    )


def spoken_time(moment: datetime, lang: Language) -> str:
    """A local time as said: '14:00 Uhr' / '2:00 pm'."""
    if lang == "de":
        return f"{moment.hour}:{moment.minute:02d} Uhr"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


def spoken_when(moment: datetime, today: date, lang: Language) -> str:
    """'heute um 14:00 Uhr', 'morgen um …', 'am Dienstag, 3. März um …' (local times)."""
    day = moment.date()
    at = spoken_time(moment, lang)
    if lang == "de":
        if day == today:
            return f"heute um {at}"
        if day == today + timedelta(days=1):
            return f"morgen um {at}"
        return f"am {_WEEKDAYS['de'][day.weekday()]}, {day.day}. {_MONTHS['de'][day.month - 1]} um {at}"
    if day == today:
        return f"today at {at}"
    if day == today + timedelta(days=1):
        return f"tomorrow at {at}"
    return f"on {_WEEKDAYS['en'][day.weekday()]}, {_MONTHS['en'][day.month - 1]} {day.day} at {at}"


def slot_free(service: Service, when: str, staff_name: str, lang: Language) -> str:
    if lang == "de":
        text = f"{when[0].upper()}{when[1:]} ist bei {staff_name} frei für {service.name}."
        if service.gap_minutes:
            text += f" {_waiting_de(service)}"
        return text
    text = f"{when[0].upper()}{when[1:]} {staff_name} is free for {service.name}."
    if service.gap_minutes:
        text += f" {_waiting_en(service)}"
    return text


def slot_taken(when: str | None, alternatives: Sequence[str], lang: Language) -> str:
    if lang == "de":
        head = (
            f"{when[0].upper()}{when[1:]} ist leider nichts frei."
            if when
            else "An dem Tag ist leider nichts frei."
        )
        if not alternatives:
            return f"{head} In den nächsten Tagen habe ich auch keinen freien Termin gefunden."
        return f"{head} Frei wäre {join_names(list(alternatives), lang, choice=True)}."
    head = f"{when[0].upper()}{when[1:]} is not available." if when else "Nothing is free that day."
    if not alternatives:
        return f"{head} I found nothing free in the next days either."
    return f"{head} I could offer {join_names(list(alternatives), lang, choice=True)}."


def partly_checked(when: str | None, alternatives: Sequence[str], lang: Language) -> str:
    """Part of the calendar could not be read in time (docs/adr/0016): the asked time is not known
    to be taken, so it is not said to be; what was found free is offered."""
    if lang == "de":
        head = (
            f"{when[0].upper()}{when[1:]} konnte ich gerade nicht bei allen prüfen."
            if when
            else "Ich konnte den Kalender gerade nicht vollständig prüfen."
        )
        if not alternatives:
            return f"{head} Bitte versuchen Sie es gleich noch einmal."
        return f"{head} Sicher frei wäre {join_names(list(alternatives), lang, choice=True)}."
    head = (
        f"I couldn't check everyone's calendar for {when} just now."
        if when
        else ("I couldn't check the whole calendar just now.")
    )
    if not alternatives:
        return f"{head} Please try again in a moment."
    return f"{head} I can offer {join_names(list(alternatives), lang, choice=True)}."


def free_starts(when: Sequence[str], lang: Language) -> str:
    if lang == "de":
        return f"Frei wäre {join_names(list(when), lang, choice=True)}."
    return f"I could offer {join_names(list(when), lang, choice=True)}."


def invalid_date(text: str, lang: Language) -> str:
    if lang == "de":
        return f"Das Datum „{text}“ habe ich nicht verstanden. Welcher Tag soll es sein?"
    return f'I didn\'t understand the date "{text}". Which day would you like?'


def invalid_time(text: str, lang: Language) -> str:
    if lang == "de":
        return f"Die Uhrzeit „{text}“ habe ich nicht verstanden. Um wie viel Uhr soll es sein?"
    return f'I didn\'t understand the time "{text}". What time would you like?'


def date_in_past(lang: Language) -> str:
    if lang == "de":
        return "Dieser Termin liegt in der Vergangenheit. Welcher Tag ab heute passt Ihnen?"
    return "That time is in the past. Which day from today suits you?"


def beyond_window(days: int, lang: Language) -> str:
    if lang == "de":
        return (
            f"So weit im Voraus kann ich leider nicht buchen, höchstens {days} Tage. Welcher Tag davor passt?"
        )
    return f"I can only book up to {days} days ahead. Which earlier day suits you?"


def unknown_staff(name: str, names: Sequence[str], lang: Language) -> str:
    if lang == "de":
        team = join_names(list(names), lang)
        return f"Eine Mitarbeiterin oder einen Mitarbeiter „{name}“ kenne ich nicht. Bei uns arbeiten {team}."
    return f'I don\'t know anyone called "{name}". Our team: {join_names(list(names), lang)}.'


def staff_not_for_service(staff_name: str, service: Service, lang: Language) -> str:
    if lang == "de":
        return f"{staff_name} bietet {service.name} leider nicht an."
    return f"{staff_name} doesn't offer {service.name}."


def staff_not_bookable(staff_name: str, others: Sequence[str], lang: Language) -> str:
    """The caller named someone whose calendar is not connected for booking (e.g. a Cal.com link
    that waits for the salon's review): say why, and who can be booked instead."""
    if lang == "de":
        text = (
            f"Der Kalender von {staff_name} ist noch nicht mit unserer Terminbuchung verbunden, "
            f"darum kann ich bei {staff_name} gerade keinen Termin eintragen."
        )
        if others:
            text += f" Möchten Sie einen Termin bei {join_names(list(others), lang, choice=True)}?"
        return text
    text = (
        f"{staff_name}'s calendar is not connected to our booking system yet, so I can't book "
        f"with {staff_name} right now."
    )
    if others:
        text += f" Would you like an appointment with {join_names(list(others), lang, choice=True)}?"
    return text


def booked(service: Service, when: str, staff_name: str, code: str, lang: Language) -> str:
    spelled = " ".join(code)
    if lang == "de":
        text = f"Ihr Termin ist gebucht: {service.name} {when} bei {staff_name}."
        if service.gap_minutes:
            text += f" {_waiting_de(service)}"
        return f"{text} Ihr Bestätigungscode lautet {spelled}."
    text = f"Your appointment is booked: {service.name} {when} with {staff_name}."
    if service.gap_minutes:
        text += f" {_waiting_en(service)}"
    return f"{text} Your confirmation code is {spelled}."


def booking_noted(
    service: Service, when: str, staff_name: str | None, lang: Language, *, still_running: bool = False
) -> str:
    """Cal.com could not take the booking now, or the booking outlasted the tool call's time budget:
    the wish is kept and the salon confirms it. Never "gebucht" (docs/adr/0025, 0026)."""
    if lang == "de":
        with_whom = f" bei {staff_name}" if staff_name else ""
        why = (
            "Die Buchung dauert gerade länger als sonst."
            if still_running
            else "Unser Kalender ist gerade nicht erreichbar."
        )
        return (
            f"{why} Ich habe Ihren Wunsch notiert: {service.name} "
            f"{when}{with_whom}. Der Termin ist noch nicht fest; der Salon bestätigt ihn Ihnen in Kürze."
        )
    with_whom = f" with {staff_name}" if staff_name else ""
    why = (
        "Booking is taking longer than usual."
        if still_running
        else "Our calendar can't be reached right now."
    )
    return (
        f"{why} I've noted your request: {service.name} {when}"
        f"{with_whom}. It isn't confirmed yet; the salon will confirm it with you shortly."
    )


def change_still_running(change: Literal["cancel", "reschedule"], phrase: str, lang: Language) -> str:
    """A cancel or a move outlasted the tool call's time budget: it goes on, and is not claimed
    done (docs/adr/0026-tool-call-budget.md)."""
    if lang == "de":
        what = "Die Stornierung" if change == "cancel" else "Die Verschiebung"
        return (
            f"{what} Ihres Termins {phrase} dauert gerade länger als sonst und ist noch nicht bestätigt. "
            "Der Salon bestätigt sie Ihnen in Kürze."
        )
    what = "Cancelling" if change == "cancel" else "Moving"
    return (
        f"{what} your appointment {phrase} is taking longer than usual and isn't confirmed yet. "
        "The salon will confirm it with you shortly."
    )


def need_contact(lang: Language) -> str:
    if lang == "de":
        return "Unter welcher Telefonnummer oder E-Mail-Adresse erreichen wir Sie?"
    return "What phone number or e-mail address can we reach you at?"


def which_staff(names: Sequence[str], lang: Language) -> str:
    if lang == "de":
        return f"Meinen Sie {join_names(list(names), lang, choice=True)}?"
    return f"Do you mean {join_names(list(names), lang, choice=True)}?"


def staff_list(names: Sequence[str], service: Service | None, lang: Language) -> str:
    """Who works here, or who performs `service`."""
    team = join_names(list(names), lang)
    if lang == "de":
        if service is None:
            return f"Bei uns arbeiten {team}." if names else "Zurzeit ist niemand im Team eingetragen."
        if not names:
            return f"{service.name} bietet gerade niemand bei uns an."
        return f"{service.name} machen bei uns {team}."
    if service is None:
        return f"Our team: {team}." if names else "Nobody is on the team at the moment."
    if not names:
        return f"Nobody offers {service.name} at the moment."
    return f"{service.name} is done by {team}."


def appointment_phrase(service_name: str, when: str, staff_name: str | None, lang: Language) -> str:
    """'Föhnen am Montag, 2. März um 10:00 Uhr bei Emma Williams' (`when` from spoken_when)."""
    if lang == "de":
        return f"{service_name} {when}" + (f" bei {staff_name}" if staff_name else "")
    return f"{service_name} {when}" + (f" with {staff_name}" if staff_name else "")


def which_appointment(appointments: Sequence[str], lang: Language) -> str:
    listed = join_names(list(appointments), lang, choice=True)
    if lang == "de":
        return f"Ich habe {len(appointments)} Termine gefunden: {listed}. Welchen meinen Sie?"
    return f"I found {len(appointments)} appointments: {listed}. Which one do you mean?"


def appointment_not_found(by_code: bool, lang: Language) -> str:
    if lang == "de":
        if by_code:
            return (
                "Zu diesem Bestätigungscode habe ich keinen Termin gefunden. "
                "Können Sie ihn noch einmal nennen?"
            )
        return (
            "Unter Ihrer Telefonnummer habe ich keinen passenden Termin gefunden. "
            "Haben Sie Ihren Bestätigungscode zur Hand?"
        )
    if by_code:
        return "I couldn't find an appointment with that confirmation code. Could you repeat it?"
    return (
        "I couldn't find a matching appointment under your phone number. Do you have your confirmation code?"
    )


def code_needed_for_other_number(lang: Language) -> str:
    """A number the caller names is not their caller ID: it only finds; the code proves it is theirs."""
    if lang == "de":
        return (
            "Unter dieser Nummer habe ich einen Termin gefunden. Damit ich ihn ändern darf, nennen Sie "
            "mir bitte den Bestätigungscode aus Ihrer Buchungsbestätigung."
        )
    return (
        "I found an appointment under that number. Before I can change it, please tell me the "
        "confirmation code from your booking confirmation."
    )


# What to ask when the agent's call of a tool lacks an argument or gives one the tool cannot use.
_ASK_FOR: dict[str, tuple[str, str]] = {
    "service": ("Welche Behandlung möchten Sie?", "Which service would you like?"),
    "date": ("Für welchen Tag möchten Sie den Termin?", "Which day would you like?"),
    "time": ("Um wie viel Uhr soll es sein?", "What time would you like?"),
    "mitarbeiter": ("Bei wem möchten Sie den Termin?", "Who would you like to see?"),
    "customer_name": (
        "Auf welchen Namen darf ich den Termin eintragen?",
        "What name should I put the appointment under?",
    ),
    "customer_phone": (
        "Unter welcher Telefonnummer erreichen wir Sie?",
        "What phone number can we reach you on?",
    ),
    "customer_email": ("Wie lautet Ihre E-Mail-Adresse?", "What is your e-mail address?"),
    "confirmation_code": ("Wie lautet Ihr Bestätigungscode?", "What is your confirmation code?"),
    "new_date": (
        "Auf welchen Tag möchten Sie den Termin verschieben?",
        "Which day would you like to move it to?",
    ),
    "new_time": (
        "Auf welche Uhrzeit möchten Sie den Termin verschieben?",
        "What time would you like to move it to?",
    ),
}


def ask_for(argument: str | None, lang: Language) -> str:
    """The question that gets a tool the argument it is missing (or could not use)."""
    asked = _ASK_FOR.get(argument or "")
    if asked is not None:
        return asked[0] if lang == "de" else asked[1]
    if lang == "de":
        return "Das habe ich nicht ganz verstanden. Können Sie es bitte noch einmal sagen?"
    return "I didn't quite catch that. Could you say it again, please?"


def need_identification(lang: Language) -> str:
    if lang == "de":
        return (
            "Nennen Sie mir bitte Ihren Bestätigungscode oder die Telefonnummer, mit der Sie gebucht haben."
        )
    return "Please tell me your confirmation code or the phone number you booked with."


def appointment_not_active(when: str | None, lang: Language) -> str:
    """The appointment exists but cannot be changed: cancelled already, or over."""
    if lang == "de":
        if when:
            return f"Der Termin {when} ist bereits storniert."
        return "Dieser Termin ist bereits storniert oder vorbei und kann nicht mehr geändert werden."
    if when:
        return f"The appointment {when} has already been cancelled."
    return "That appointment has already been cancelled or is over and can't be changed."


def cancelled(appointment: str, lang: Language) -> str:
    if lang == "de":
        return f"Ihr Termin {appointment} ist storniert."
    return f"Your appointment {appointment} is cancelled."


def cancel_incomplete(lang: Language) -> str:
    if lang == "de":
        return (
            "Der Termin konnte gerade nicht vollständig storniert werden. "
            "Bitte versuchen Sie es gleich noch einmal."
        )
    return "The appointment couldn't be fully cancelled just now. Please try again in a moment."


def rescheduled(service: Service, when: str, staff_name: str, code: str, lang: Language) -> str:
    spelled = " ".join(code)
    if lang == "de":
        text = f"Ihr Termin ist verschoben: {service.name} {when} bei {staff_name}."
        if service.gap_minutes:
            text += f" {_waiting_de(service)}"
        return f"{text} Ihr Bestätigungscode bleibt {spelled}."
    text = f"Your appointment is moved: {service.name} {when} with {staff_name}."
    if service.gap_minutes:
        text += f" {_waiting_en(service)}"
    return f"{text} Your confirmation code stays {spelled}."


def still_working(lang: Language) -> str:
    """A duplicate of a tool call that is still running: the agent asks again in a moment."""
    if lang == "de":
        return "Einen Moment bitte, ich bin noch dabei."
    return "One moment please, I'm still on it."


def ask_day(lang: Language) -> str:
    if lang == "de":
        return "Welcher Tag soll es sein?"
    return "Which day would you like?"


def no_such_date(day: int, month: int | None, year: int | None, lang: Language) -> str:
    """'Den 31. Februar gibt es nicht.' (`year` when only that year lacks it: 29 February)."""
    if month is None or not 1 <= month <= 12:
        head = "Dieses Datum gibt es nicht." if lang == "de" else "That date doesn't exist."
    elif lang == "de":
        head = f"Den {day}. {_MONTHS['de'][month - 1]} gibt es {f'{year} ' if year else ''}nicht."
    else:
        head = f"There is no {_MONTHS['en'][month - 1]} {day}{f' in {year}' if year else ''}."
    return f"{head} {ask_day(lang)}"


def no_such_time(lang: Language) -> str:
    """A clock time that can't be: '25 Uhr', '14:75', '20 Uhr morgens'."""
    if lang == "de":
        return "Diese Uhrzeit gibt es nicht. Um wie viel Uhr soll es sein?"
    return "That time doesn't exist. What time would you like?"


def _day_with_weekday(day: date, lang: Language) -> str:
    weekday, month = _WEEKDAYS[lang][day.weekday()], _MONTHS[lang][day.month - 1]
    if lang == "de":
        return f"{weekday}, den {day.day}. {month}"
    return f"{weekday}, {month} {day.day}"


def which_day(first: date, second: date, lang: Language) -> str:
    """Two days a caller named at once (e.g. a weekday that doesn't fit the date)."""
    a, b = _day_with_weekday(first, lang), _day_with_weekday(second, lang)
    if lang == "de":
        return f"Meinen Sie {a}, oder {b}?"
    return f"Do you mean {a}, or {b}?"


def _part_of_day_de(hour: int) -> str:
    if hour < 5:
        return "nachts"
    if hour < 10:
        return "morgens"
    if hour < 12:
        return "vormittags"
    if hour < 14:
        return "mittags"
    return "nachmittags" if hour < 18 else "abends"


def which_time(readings: Sequence[time], lang: Language) -> str:
    """'Meinen Sie 8:00 Uhr morgens oder 20:00 Uhr abends?' for a bare hour that fits both."""
    said = [spoken_time(datetime.combine(date.min, at), lang) for at in readings]
    if lang == "de":
        said = [f"{text} {_part_of_day_de(at.hour)}" for text, at in zip(said, readings, strict=True)]
        return f"Meinen Sie {join_names(said, lang, choice=True)}?"
    return f"Do you mean {join_names(said, lang, choice=True)}?"


def service_not_offered(service_name: str, lang: Language) -> str:
    """An appointment's service that is no longer offered: it cannot be moved on the phone."""
    if lang == "de":
        what = service_name or "Diese Leistung"
        return f"{what} bieten wir nicht mehr an; den Termin kann ich leider nicht verschieben."
    return f"We no longer offer {service_name or 'that service'}, so I can't move the appointment."
