"""What callers say, understood: staff names (typos, umlauts, parts of names), confirmation codes
and phone numbers (pure domain functions used by the Retell tools)."""

from datetime import UTC, datetime, timedelta

import pytest

from calbridge.domain import phrasing
from calbridge.domain.booking import CustomerAppointment, normalize_code
from calbridge.domain.models import phone_in_country
from calbridge.domain.name_matching import find_person, spoken_name_match

TEAM = ["Fabian Spitzer", "Emma Williams", "Lena Müller", "Sara Özdemir"]


@pytest.mark.parametrize(
    ("said", "name", "score"),
    [
        ("Fabian", "Fabian Spitzer", 100),
        ("spitzer", "Fabian Spitzer", 100),
        ("Spitzer, Fabian", "Fabian Spitzer", 100),
        ("Frau Müller", "Lena Müller", 100),
        ("Lena Mueller", "Lena Müller", 100),
        ("Mueller", "Lena Müller", 100),
        ("Frau Mueller", "Lena Müller", 100),
        ("Oezdemir", "Sara Özdemir", 100),
        ("Ozdemir", "Sara Özdemir", 100),
        ("Herr Gross", "Jürgen Groß", 100),
        ("Jose", "José García", 100),
        ("Muller", "Lena Müller", 100),  # speech recognition drops umlauts: still her name
        ("Lena M.", "Lena Müller", 90),
        ("Fabien", "Fabian Spitzer", 83),
        ("Fabien Spitzer", "Fabian Spitzer", 83),
    ],
)
def test_spoken_names_fit(said, name, score):
    assert spoken_name_match(said, name) == score


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("Emma", "Fabian Spitzer"),
        ("Lea", "Lena Müller"),  # short names must be spelled right
        ("Lena M.", "Lena Schmidt"),
        ("M.", "Lena Müller"),  # an initial alone is nobody
        ("Fabian Max Spitzer", "Fabian Spitzer"),  # more said than the name has
        ("", "Fabian Spitzer"),
    ],
)
def test_spoken_names_that_do_not_fit(said, name):
    assert spoken_name_match(said, name) is None


@pytest.mark.parametrize(
    ("said", "found"),
    [
        ("Mueller", "Lena Müller"),
        ("Lena Mueller", "Lena Müller"),
        ("Oezdemir", "Sara Özdemir"),
        ("Herr Gross", "Jürgen Groß"),
        ("Jose", "José García"),
    ],
)
def test_find_person_reads_names_written_without_umlauts_and_accents(said, found):
    assert find_person([*TEAM, "Jürgen Groß", "José García"], said, str).match == found


def test_a_written_out_umlaut_prefers_the_umlaut_name_to_a_dropped_one():
    # "Mueller" is how Müller is written without umlauts; "Muller" is another name it resembles.
    assert find_person(["Lena Müller", "Lena Muller"], "Mueller", str).match == "Lena Müller"
    assert find_person(["Lena Müller", "Lena Muller"], "Muller", str).ambiguous


def test_find_person_prefers_the_better_fit_and_asks_when_tied():
    assert find_person(TEAM, "Fabien", str).match == "Fabian Spitzer"
    assert find_person([*TEAM, "Fabienne Roth"], "Fabienne", str).match == "Fabienne Roth"
    tied = find_person([*TEAM, "Lena Schmidt"], "Lena", str)
    assert tied.match is None and tied.ambiguous and tied.candidates == ("Lena Müller", "Lena Schmidt")
    assert find_person([*TEAM, "Lena Schmidt"], "Lena Müller", str).match == "Lena Müller"
    nobody = find_person(TEAM, "Klaus", str)
    assert nobody.match is None and not nobody.ambiguous


@pytest.mark.parametrize(
    ("spoken", "code"),
    [
        ("ABC234", "ABC234"),
        ("a b c 2 3 4", "ABC234"),
        ("abc-234", "ABC234"),
        ("ABC23", None),
        ("ABC230", None),
    ],
)
def test_confirmation_codes_as_read_out(spoken, code):
    assert normalize_code(spoken) == code


@pytest.mark.parametrize(
    ("said", "home", "e164"),
    [
        ("+49 (0)30 1234567", "+4930123456789", "+49301234567"),  # not +490301234567
        ("030 1234567", "+4930123456789", "+49301234567"),
        ("0049 30 1234567", "+4930123456789", "+49301234567"),
        ("+43 1 2345678", "+4930123456789", "+4312345678"),  # an Austrian number stays Austrian
        ("0151 1234 5678", "+4930123456789", "+4915112345678"),
        ("0151/1234 5678", "+4930123456789", "+4915112345678"),
        ("+49 151 12345678", "+4930123456789", "+4915112345678"),
        ("0049 151 12345678", "+4930123456789", "+4915112345678"),
        ("0151 12345678", "+4930123456789", "+4915112345678"),
        ("(0151) 123-45678", "+4930123456789", "+4915112345678"),
        ("020 7946 0000", "+442079460000", "+442079460000"),
        ("0664 1234567", "+43122334455", "+436641234567"),
        ("01 2345678", "+43122334455", "+4312345678"),  # Vienna, read in Austria
        ("(415) 555-0100", "+12125550100", "+14155550100"),  # no trunk prefix in the US
        ("0049 30 1234567", "+12125550100", "+49301234567"),  # 00 although the US dials 011
        ("011 49 30 1234567", "+12125550100", "+49301234567"),
        ("+49 151 12345678", None, "+4915112345678"),  # no home: international numbers only
        ("0049 151 12345678", "sip:reception@salon.example", "+4915112345678"),
    ],
)
def test_phone_numbers_as_said_are_read_in_the_salons_country(said, home, e164):
    assert phone_in_country(said, home) == e164


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("hello", "+4930123456789"),
        ("12345", "+4930123456789"),
        ("0151 1234", "+4930123456789"),  # digits missing: too short for a German mobile
        ("0000 000000", "+4930123456789"),
        ("+49 (0)30 1234567 Durchwahl 12", "+4930123456789"),
        ("030 1234567", "030 1234567"),  # a national number needs an E.164 home to be read in
        ("030 1234567", "+4912"),
        ("030 1234567", None),
    ],
)
def test_phone_numbers_that_are_none(said, home):
    with pytest.raises(ValueError):
        phone_in_country(said, home)


def test_only_booked_future_appointments_can_change():
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    ahead = CustomerAppointment(
        appointment_id="bk_1", company_id="c", status="booked", start=now + timedelta(hours=1)
    )
    assert ahead.changeable(now)
    assert not ahead.model_copy(update={"status": "cancelled"}).changeable(now)
    assert not ahead.model_copy(update={"start": now - timedelta(minutes=1)}).changeable(now)


def test_appointment_sentences():
    one = phrasing.appointment_phrase("Föhnen", "am Montag, 2. März um 10:00 Uhr", "Emma Williams", "de")
    assert one == "Föhnen am Montag, 2. März um 10:00 Uhr bei Emma Williams"
    two = phrasing.which_appointment([one, "Damenhaarschnitt morgen um 9:00 Uhr"], "de")
    assert two == (
        "Ich habe 2 Termine gefunden: Föhnen am Montag, 2. März um 10:00 Uhr bei Emma Williams oder "
        "Damenhaarschnitt morgen um 9:00 Uhr. Welchen meinen Sie?"
    )
    assert phrasing.cancelled("Föhnen tomorrow at 10:00 am", "en") == (
        "Your appointment Föhnen tomorrow at 10:00 am is cancelled."
    )
    assert (
        phrasing.which_staff(["Lena Müller", "Lena Schmidt"], "en")
        == "Do you mean Lena Müller or Lena Schmidt?"
    )


def test_a_cancel_left_half_done_can_be_cancelled_again_but_not_moved():
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    half = CustomerAppointment(
        appointment_id="bk_1", company_id="c", status="cancel_failed", start=now + timedelta(hours=1)
    )
    assert half.changeable(now, cancelling=True)
    assert not half.changeable(now)
    assert not half.model_copy(update={"status": "cancelled"}).changeable(now, cancelling=True)


def test_the_companys_country_reads_a_national_number_before_the_dialled_ones():
    # A German salon reached over a UK forwarding number: "0151 …" is still a German mobile.
    assert phone_in_country("0151 1234 5678", "+442079460000", "DE") == "+4915112345678"
    assert phone_in_country("0151 1234 5678", None, "DE") == "+4915112345678"
    assert phone_in_country("+43 1 2345678", "+4930123456789", "DE") == "+4312345678"
