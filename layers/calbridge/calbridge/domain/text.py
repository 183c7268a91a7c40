"""Text normalisation and fuzzy lookup shared by every name match (services, staff, hosts)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NON_WORD = re.compile(r"[^a-z0-9]+")


def transliterate(text: str) -> str:
    """Case-folded, umlauts and ß written out, accents removed; every other character kept:
    'Jürgen Groß-José' -> 'juergen gross-jose'.

    ä → ae, ö → oe, ü → ue, ß → ss is how German writes a name without umlauts (DIN 5007-2 name
    lists; the machine-readable zone of a German passport, ICAO Doc 9303). NFC first, so a
    decomposed 'u' + diaeresis is an umlaut too, not an accent to drop.
    """
    text = unicodedata.normalize("NFC", text).casefold().translate(_UMLAUTS)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def fold(text: str, *, keep: str = "") -> str:
    """Case-, umlaut- and diacritic-insensitive form: 'Föhnen, Färben' -> 'foehnen faerben'.

    `keep` names punctuation to preserve (dates and times keep '.', ':' and '-').
    """
    text = transliterate(text)
    non_word = re.compile(f"[^a-z0-9{re.escape(keep)}]+") if keep else _NON_WORD
    return non_word.sub(" ", text).strip()


def has_unspoken(text: str) -> bool:
    """Whether `text` holds what no person says: control or format characters (NUL, escape,
    zero-width...) or digits of another script than 0-9, which `fold()` would silently drop."""
    return any(unicodedata.category(c)[0] == "C" or (c.isdigit() and not c.isascii()) for c in text)


def without_controls(text: str) -> str:
    """`text` with control and format characters removed and whitespace runs collapsed, for names
    that go to Cal.com and into spoken answers."""
    kept = "".join(
        " " if c.isspace() else c for c in text if c.isspace() or unicodedata.category(c)[0] != "C"
    )
    return " ".join(kept.split())


@dataclass(frozen=True)
class Lookup[T]:
    """The outcome of finding one item by a spoken name."""

    match: T | None
    candidates: tuple[T, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.match is None and len(self.candidates) > 1


FUZZY_ACCEPT = 85
FUZZY_CANDIDATE = 70
FUZZY_MARGIN = 8


def lookup[T](items: Iterable[T], query: str, name_of: Callable[[T], str]) -> Lookup[T]:
    """Find the item a caller means: exact, then unique containment, then a clear fuzzy winner.

    Two items that fit equally well are reported as candidates, never guessed between.
    """
    pool = list(items)
    wanted = fold(query)
    if not wanted:
        return Lookup(None)
    exact = [item for item in pool if fold(name_of(item)) == wanted]
    if len(exact) == 1:
        return Lookup(exact[0])
    containing = [item for item in pool if wanted in fold(name_of(item))]
    if len(containing) == 1:
        return Lookup(containing[0])
    if len(containing) > 1:
        return Lookup(None, tuple(containing))
    # rapidfuzz is imported where a fuzzy score is needed (~10 ms of a cold start otherwise).
    from rapidfuzz import fuzz

    scored = sorted(
        ((fuzz.WRatio(wanted, fold(name_of(item))), index) for index, item in enumerate(pool)),
        reverse=True,
    )
    close = [pool[index] for score, index in scored if score >= FUZZY_CANDIDATE]
    if scored and scored[0][0] >= FUZZY_ACCEPT:
        runner_up = scored[1][0] if len(scored) > 1 else 0
        if scored[0][0] - runner_up >= FUZZY_MARGIN:
            return Lookup(pool[scored[0][1]])
    return Lookup(None, tuple(close))
