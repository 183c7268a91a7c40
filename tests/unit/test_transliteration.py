"""domain.text.transliterate: the one spelling rule behind fold() and the exact-name key."""

import pytest

from calbridge.domain.text import fold, transliterate


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Jürgen Groß", "juergen gross"),
        ("ÄÖÜ ẞ", "aeoeue ss"),
        ("José-María Núñez", "jose-maria nunez"),  # accents go, punctuation stays
        ("Zoë Brontë", "zoe bronte"),
        ("Mu\u0308ller", "mueller"),  # a decomposed umlaut is an umlaut, not an accent
        ("Søren", "søren"),  # no accent to remove: name_matching spells such letters out
    ],
)
def test_transliterate(text, written):
    assert transliterate(text) == written


def test_fold_reads_decomposed_umlauts_like_composed_ones():
    assert fold("Fo\u0308hnen") == fold("Föhnen") == "foehnen"
