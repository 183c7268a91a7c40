"""Comparing two person names, for host → staff matching (pure: no I/O).

Two comparisons live here:

* `exact_name_key()`: the exact-name strategy's key: the name as written without umlauts and
  accents, ignoring case and whitespace (Unicode NFC, `casefold()`, runs of whitespace collapsed,
  ends stripped). Umlauts and ß are written out (ä → ae, ö → oe, ü → ue, ß → ss:
  `text.transliterate()`), accents removed (é → e, ñ → n), and the few letters without an accent
  to remove written out too (ø → oe, æ → ae, œ → oe, ł → l, ...). So "Lena Mueller" = "Lena
  Müller", "Groß" = "GROSS", "José" = "Jose", "Özdemir" = "Oezdemir", "Søren" = "Soeren".
  Dropping an umlaut is not a spelling of the same name ("Muller" is a surname of its own): "Lena
  Muller" ≠ "Lena Müller" here, as are differences in punctuation, word order or titles; the
  fuzzy strategy weighs those.
* `fuzzy_name_match()`: the fuzzy strategy. Both names are split into tokens; every token has two
  spellings, umlauts written out and umlauts dropped ("Müller" → "mueller" / "muller", "Özdemir" →
  "oezdemir" / "ozdemir", "Groß" → "gross", "José" → "jose", "Søren" → "soeren" / "soren"), built
  on `text.fold()`. Two tokens are *equal* when their spellings overlap, an *initial* when one of
  them is a single letter that starts the other ("F." ~ "Fabian"), and a *typo* when both have at
  least 4 letters and `rapidfuzz.fuzz.ratio` of their closest spellings is at least 80. "Last,
  First" is read as "First Last"; the titles Dr, Prof, Herr, Frau, Mr, Mrs, Ms and Mx are ignored.

  The shorter name's tokens are each paired with a different token of the longer name, in any
  order (word order does not matter); the longer name's leftover tokens count as dropped middle
  names. A pairing is only acceptable when

  - every token of the shorter name is paired, and at least one pair is *equal*;
  - both names have at least two tokens, or both have exactly one;
  - the longer name's last token (its surname) is paired, not dropped;
  - no surname (last token of either name) is reduced to an initial;
  - at most 6 tokens per name (longer names are not compared fuzzily).

  Confidence of a pairing (the best pairing wins), rounded down:

  ====================================================  ==============================
  identical after folding / reordering / titles          74
  each dropped middle name                               −4   (one dropped: 70)
  each initial                                           −9   (one initial: 65)
  any typo pair                                          −(104 − s): alone 50 … 69
  ====================================================  ==============================

  where `s` (80 ≤ s < 100) is `fuzz.ratio` of the paired full tokens joined in order, so a typo in
  a long name costs less than the same typo in a short one. A result below 50 is no match. Every
  penalty is positive and a higher similarity never costs more, so the mapping is monotonic: a
  pairing with fewer or smaller imperfections never scores lower, and every fuzzy result stays
  strictly below the exact-name confidence of 75.

  Consequences: "Lena Mueller" is "Lena Müller" by `exact_name_key` (exact strategy, 75), so
  the fuzzy 74 of that pair never decides; "Lena Muller" ~ "Lena Müller" (74, umlaut dropped),
  "Mueller" ~ "Muller" only a typo-level 65, "Spitzer, Fabian" ~ "Fabian Spitzer" (74),
  "Fabian Max Spitzer" ~ "Fabian Spitzer" (70), "F. Spitzer" ~ "Fabian Spitzer" (65), "Fabain
  Spitzer" ~ "Fabian Spitzer" (62); "Fabian Müller" ≁ "Fabian Spitzer", "Lara Müller" ≁ "Lena
  Müller", "Lea Müller" ≁ "Lena Müller" (short tokens must be equal), "Fabian S." ≁ "Fabian
  Spitzer" (surname initial), "Fabian" ≁ "Fabian Spitzer" (one token against two).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from calbridge.domain.text import Lookup, fold, transliterate

IDENTICAL = 74
DROPPED_PENALTY = 4
INITIAL_PENALTY = 9
TYPO_BASE = 104  # a typo pair costs TYPO_BASE - s: s=80 -> 24 (50 left), s -> 100 gives 69
TYPO_TOKEN_FLOOR = 80
TYPO_MIN_LENGTH = 4
MIN_CONFIDENCE = 50
MAX_TOKENS = 6

TITLES = frozenset({"dr", "prof", "herr", "frau", "mr", "mrs", "ms", "mx"})

# Letters NFKD does not decompose (so fold() would turn them into spaces), in both spellings.
_WRITTEN_OUT = str.maketrans({"ø": "oe", "Ø": "Oe", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe"})
_DROPPED = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe"})
_OTHER = str.maketrans(
    {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i"}
)
_WHITESPACE = re.compile(r"\s+")


def _letters(name: str, spelling: dict[int, str]) -> str:
    """`name` with the letters NFKD cannot decompose replaced (`spelling`: written out or dropped)."""
    return unicodedata.normalize("NFC", name).translate(_OTHER).translate(spelling)


def exact_name_key(name: str) -> str:
    """The written-out spelling, ignoring case and whitespace: ' Jürgen  GROß ' -> 'juergen gross'."""
    return _WHITESPACE.sub(" ", transliterate(_letters(name, _WRITTEN_OUT))).strip()


class _Pair(Enum):
    EQUAL = "equal"
    INITIAL = "initial"
    TYPO = "typo"


@dataclass(frozen=True)
class _Token:
    spellings: frozenset[str]

    @property
    def initial(self) -> str | None:
        """The letter this token abbreviates ("f" for "F."), or None."""
        short = [s for s in self.spellings if len(s) == 1 and s.isalpha()]
        return short[0] if short else None


@dataclass(frozen=True)
class NameMatch:
    """How two names match fuzzily."""

    confidence: int  # MIN_CONFIDENCE .. IDENTICAL
    dropped: int = 0  # middle names only one side has
    initials: int = 0
    similarity: float = 100.0  # fuzz.ratio of the paired full tokens (100 without typos)

    @property
    def description(self) -> str:
        parts = []
        if self.dropped:
            parts.append(f"{self.dropped} middle name{'s' if self.dropped > 1 else ''} missing on one side")
        if self.initials:
            parts.append(f"{self.initials} initial{'s' if self.initials > 1 else ''}")
        if self.similarity < 100:
            parts.append(f"spelling {self.similarity:.0f}% similar")
        if not parts:
            return "identical after folding umlauts, accents, titles and word order"
        return ", ".join(parts)


def _strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _tokens(name: str) -> list[_Token]:
    name = unicodedata.normalize("NFC", name)
    if name.count(",") == 1:  # "Spitzer, Fabian" -> "Fabian Spitzer"
        last, first = name.split(",")
        name = f"{first} {last}"
    written_out = fold(_letters(name, _WRITTEN_OUT)).split()  # ä -> ae (fold's own rule)
    dropped = fold(_strip_marks(_letters(name, _DROPPED))).split()  # ä -> a
    if len(written_out) != len(dropped):  # cannot happen with the tables above; stay safe
        dropped = written_out
    tokens = [_Token(frozenset({a, b})) for a, b in zip(written_out, dropped, strict=True)]
    untitled = [t for t in tokens if not t.spellings & TITLES]
    return untitled or tokens


def _compare(a: _Token, b: _Token) -> tuple[_Pair, str, str] | None:
    """How two tokens relate, with the spellings that relate best."""
    shared = a.spellings & b.spellings
    if shared:
        same = min(shared)
        return _Pair.EQUAL, same, same
    for short, full in ((a, b), (b, a)):
        letter = short.initial
        if letter and any(len(s) > 1 and s.startswith(letter) for s in full.spellings):
            return _Pair.INITIAL, "", ""
    # rapidfuzz is imported where a fuzzy score is needed (~10 ms of a cold start otherwise).
    from rapidfuzz import fuzz

    best: tuple[float, str, str] | None = None
    for x, y in itertools.product(sorted(a.spellings), sorted(b.spellings)):
        if min(len(x), len(y)) < TYPO_MIN_LENGTH:
            continue
        score = fuzz.ratio(x, y)
        if score >= TYPO_TOKEN_FLOOR and (best is None or score > best[0]):
            best = (score, x, y)
    if best is None:
        return None
    return _Pair.TYPO, best[1], best[2]


def fuzzy_name_match(a: str, b: str) -> NameMatch | None:
    """The best fuzzy match between two names (symmetric), or None. See the module docstring."""
    if not isinstance(a, str) or not isinstance(b, str):
        return None
    left, right = _tokens(a), _tokens(b)
    if not left or not right or len(left) > MAX_TOKENS or len(right) > MAX_TOKENS:
        return None
    if (len(left) == 1) != (len(right) == 1):
        return None
    short, long_ = (left, right) if len(left) <= len(right) else (right, left)
    table = [[_compare(s, t) for t in long_] for s in short]
    surname_short, surname_long = len(short) - 1, len(long_) - 1
    best: NameMatch | None = None
    for chosen in itertools.permutations(range(len(long_)), len(short)):
        pairs = [table[i][j] for i, j in enumerate(chosen)]
        if any(p is None for p in pairs) or surname_long not in chosen:
            continue
        kinds = [p[0] for p in pairs if p is not None]
        if _Pair.EQUAL not in kinds:
            continue
        if not _surnames_spelled_out(short, long_, chosen, kinds, surname_short, surname_long):
            continue
        initials = kinds.count(_Pair.INITIAL)
        dropped = len(long_) - len(short)
        score = float(IDENTICAL - DROPPED_PENALTY * dropped - INITIAL_PENALTY * initials)
        similarity = 100.0
        if _Pair.TYPO in kinds:
            from rapidfuzz import fuzz

            full = [p for p in pairs if p is not None and p[0] is not _Pair.INITIAL]
            similarity = fuzz.ratio(" ".join(p[1] for p in full), " ".join(p[2] for p in full))
            score -= TYPO_BASE - similarity
        confidence = math.floor(score)
        if confidence < MIN_CONFIDENCE:
            continue
        if best is None or confidence > best.confidence:
            best = NameMatch(confidence, dropped, initials, similarity)
    return best


def token_spellings(name: str) -> frozenset[str]:
    """Every spelling of every token `fuzzy_name_match` compares ("Lena Müller" -> lena, mueller,
    muller). Two names it matches always share one (a match needs an equal token pair), so an
    index on these finds every fuzzy candidate without comparing a name with everyone."""
    if not isinstance(name, str):
        return frozenset()
    return frozenset(spelling for token in _tokens(name) for spelling in token.spellings)


def _surnames_spelled_out(
    short: list[_Token],
    long_: list[_Token],
    chosen: tuple[int, ...],
    kinds: list[_Pair],
    surname_short: int,
    surname_long: int,
) -> bool:
    """No surname may be an initial: 'Fabian S.' could be any Fabian."""
    for i, (j, kind) in enumerate(zip(chosen, kinds, strict=True)):
        if kind is not _Pair.INITIAL:
            continue
        if i == surname_short and short[i].initial:
            return False
        if j == surname_long and long_[j].initial:
            return False
    return True


# ------------------------------------------------------------------ a name a caller says


SPOKEN_EQUAL = 100
SPOKEN_INITIAL = 90


def spoken_name_match(spoken: str, name: str) -> int | None:
    """How well a name a caller said fits a staff member's full name: 100 … 80, or None.

    Callers say part of a name ("Fabian", "Frau Müller", "Lena M.") where host resolution compares
    whole names, so every token said must pair with a different token of the full name, in any
    order (titles ignored, umlauts and accents folded either way, as `fuzzy_name_match` does).
    A pair is *equal* (100), an *initial* (90, only beside an equal pair) or a *typo* (the
    `fuzz.ratio` of the closest spellings, ≥ 80, both tokens at least 4 letters: "Fabien" ~
    "Fabian" 83). The score is the weakest pair of the best pairing. "Lena" fits "Lena Müller" and
    "Lena Schmidt" equally (100 each): the caller is asked which one (`find_person`).
    """
    if not isinstance(spoken, str) or not isinstance(name, str):
        return None
    said, full = _tokens(spoken), _tokens(name)
    if not said or len(said) > len(full) or len(full) > MAX_TOKENS:
        return None
    from rapidfuzz import fuzz

    table = [[_compare(s, t) for t in full] for s in said]
    best: int | None = None
    for chosen in itertools.permutations(range(len(full)), len(said)):
        pairs = [table[i][j] for i, j in enumerate(chosen)]
        if any(p is None for p in pairs):
            continue
        kinds = [p[0] for p in pairs if p is not None]
        if _Pair.INITIAL in kinds and _Pair.EQUAL not in kinds:
            continue
        scores = [
            SPOKEN_EQUAL
            if p[0] is _Pair.EQUAL
            else SPOKEN_INITIAL
            if p[0] is _Pair.INITIAL
            else math.floor(fuzz.ratio(p[1], p[2]))
            for p in pairs
            if p is not None
        ]
        score = min(scores)
        if best is None or score > best:
            best = score
    return best


def find_person[T](people: Iterable[T], spoken: str, name_of: Callable[[T], str]) -> Lookup[T]:
    """The one person a caller means by `spoken`, or the equally good candidates (never a guess)."""
    scored = [(score, person) for person in people if (score := spoken_name_match(spoken, name_of(person)))]
    if not scored:
        return Lookup(None)
    top = max(score for score, _ in scored)
    tied = tuple(person for score, person in scored if score == top)
    return Lookup(tied[0]) if len(tied) == 1 else Lookup(None, tied)
