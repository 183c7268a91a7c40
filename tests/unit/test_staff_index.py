"""domain.hosts.StaffIndex: deciding over a host's candidates equals deciding over the whole staff."""

from __future__ import annotations

import itertools

import pytest

from calbridge.domain.hosts import HostRef, ManualRule, StaffIndex, decide
from calbridge.domain.models import StaffMember
from calbridge.domain.name_matching import token_spellings

STAFF = [
    StaffMember(company_id="c", staff_id="fabian", name="Fabian Spitzer", email="fabian@askproai.de",
                calcom_user_id=1420209, calcom_username="fabianaskproai"),
    StaffMember(company_id="c", staff_id="emma", name="Emma Williams", email="emma.williams@salon.de",
                other_emails=["emma.w@gmail.example"]),
    StaffMember(company_id="c", staff_id="lena", name="Lena Müller", email="lena@salon.de"),
    StaffMember(company_id="c", staff_id="lena2", name="Lena Mueller", email="lena.m@salon.de"),
    StaffMember(company_id="c", staff_id="sara", name="Sara Özdemir", email="sara@salon.de"),
    StaffMember(company_id="c", staff_id="jose", name="Dr. José María García", email="jose@salon.de"),
    StaffMember(company_id="c", staff_id="gone", name="Fabian Müller", email="old@salon.de", active=False),
    StaffMember(company_id="c", staff_id="anna", name="Anna Schmidt", calcom_username="aschmidt"),
    StaffMember(company_id="c", staff_id="karl", name="Karl Groß"),
]  # fmt: skip

HOSTS = [
    {"id": 1420209},
    {"id": 7, "email": "FABIAN@askproai.de"},
    {"id": 8, "email": "emma.w@gmail.example", "name": "Someone Else"},
    {"id": 9, "name": "Emma Williams"},
    {"id": 10, "name": "emma  WILLIAMS"},
    {"id": 11, "name": "Lena Muller"},
    {"id": 12, "name": "Lena Müller"},
    {"id": 13, "name": "Sara Oezdemir"},
    {"id": 14, "name": "Sara Ozdemir"},
    {"id": 15, "name": "Garcia, Jose"},
    {"id": 16, "name": "J. García"},
    {"id": 17, "name": "Fabain Spitzer"},
    {"id": 18, "name": "F. Spitzer"},
    {"id": 19, "name": "Fabian Müller"},
    {"id": 20, "username": "ASchmidt"},
    {"id": 21, "name": "Karl Gross"},
    {"id": 22, "name": "Nobody Known", "email": "nobody@example.com"},
    {"id": 23, "name": "Spitzer"},
    {"id": 24, "name": "LENA MUELLER"},  # the exact name of both Lenas
    {"id": 25, "name": "Dr. Jose Maria Garcia"},  # exact without accents
    {"id": 26, "name": "Karl Groß"},
]
RULES = [
    ManualRule(match_on="email", value="nobody@example.com", staff_id="anna"),
    ManualRule(match_on="host_id", value="21", staff_id="gone"),
    ManualRule(match_on="username", value="x", staff_id="missing"),
]


@pytest.mark.parametrize("raw", HOSTS, ids=[str(h["id"]) for h in HOSTS])
@pytest.mark.parametrize("rules", [[], RULES], ids=["no rules", "rules"])
def test_deciding_over_candidates_equals_deciding_over_everyone(raw, rules):
    host = HostRef.from_calcom(raw)
    index = StaffIndex(STAFF)

    candidates = index.candidates(host, rules)

    assert decide(host, candidates, rules) == decide(host, STAFF, rules)
    assert [m.staff_id for m in candidates] == [m.staff_id for m in STAFF if m in candidates]  # staff order


def test_candidates_are_only_the_staff_sharing_something():
    index = StaffIndex(STAFF)
    lena = HostRef.from_calcom({"id": 11, "name": "Lena Muller"})
    # Both Lenas, and (inactive) Fabian Müller for the shared "muller"; decide() drops the inactive.
    assert [m.staff_id for m in index.candidates(lena)] == ["lena", "lena2", "gone"]
    assert index.candidates(HostRef.from_calcom({"id": 99, "name": "Zoe Quinn"})) == []


def test_an_index_over_many_staff_finds_few_candidates():
    first, last = ["Anna", "Ben", "Clara", "David", "Eva"], [f"Nachname{i}" for i in range(200)]
    staff = [
        StaffMember(company_id="c", staff_id=f"s{i}", name=f"{f} {n}", email=f"s{i}@x.de")
        for i, (f, n) in enumerate(itertools.product(first, last))
    ]
    index = StaffIndex(staff)
    host = HostRef.from_calcom({"id": 1, "name": "Clara Nachname17", "email": "other@y.de"})

    candidates = index.candidates(host)

    assert len(staff) == 1000 and len(candidates) == 204  # every Clara, every Nachname17
    assert decide(host, candidates) == decide(host, staff)


def test_exact_names_without_umlauts_and_accents_are_candidates():
    index = StaffIndex(STAFF)
    lena = HostRef.from_calcom({"id": 24, "name": "LENA MUELLER"})
    decision = decide(lena, index.candidates(lena))
    assert {c.staff_id for c in decision.candidates if c.source == "auto_name"} == {"lena", "lena2"}
    jose = HostRef.from_calcom({"id": 25, "name": "Dr. Jose Maria Garcia"})
    assert decide(jose, index.candidates(jose)).best.staff_id == "jose"


def test_token_spellings_cover_both_umlaut_spellings_and_drop_titles():
    assert token_spellings("Dr. Lena Müller") == {"lena", "mueller", "muller"}
    assert token_spellings(None) == frozenset()  # type: ignore[arg-type]
