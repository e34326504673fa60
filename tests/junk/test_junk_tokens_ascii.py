"""ASCII text takes a shorter way through postel.junk.tokens.words: the same
words as the general way."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postel.junk.tokens import words

# One character that is no word alone (shorter than MIN_LEN) and not ASCII:
# appended, it sends the text the general way without adding a word.
NOT_ASCII = " \u00e9"


def test_apostrophes_hyphens_digits_and_underscores() -> None:
    text = "Don't re-send 'quoted' it-- x_y2 A1b 9lives O'Neil's --dash 'tis HELLO Wörld"
    ascii_text = text.replace("ö", "o")
    assert words(ascii_text) == words(ascii_text + NOT_ASCII)
    assert words(ascii_text)[:4] == ["don't", "re-send", "quoted", "it"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZq09_'- -\t\n.,:/@Xy'"), max_size=80))
def test_ascii_text_gives_the_words_of_the_general_way(text: str) -> None:
    assert words(text) == words(text + NOT_ASCII)
    assert words(text, 3) == words(text + NOT_ASCII, 3)
