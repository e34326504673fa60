"""Full-text search on PostgreSQL: a message's tsvector and a search's tsquery,
written here as literals (pure).

The text is what the SQLite store indexes (postel.store.search.fts_row: subject,
sender, recipients, body text) cut into words the way its FTS5 tokenizer does
(``unicode61 remove_diacritics 2``): runs of letters and digits, diacritics
removed, lower case. The words are written into the tsvector as they are, with
their positions and one weight per field (A subject, B sender, C recipients, D
body), so PostgreSQL's parser never sees the text and the query's words are the
same words. A phrase is ``<->`` between its words; ``from:`` and the other
fields are a weight (``'word':B``); a prefix is ``:*``. Every literal holds only
letters, digits and the syntax written here: no input becomes tsquery syntax.

Each vector also has one lexeme naming its account (``_a<id>``: no search word
can be one, they have no "_"), which every query requires, so the GIN index
finds one account's matches without reading those of the others.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from postel.store.searchquery import Query, Term

_WORD = re.compile(r"[^\W_]+")
MAX_POSITION = 16383  # PostgreSQL's highest tsvector position
MAX_POSITIONS = 256  # positions kept per word (PostgreSQL keeps no more)
MAX_WORD = 200  # characters; longer runs are not words anyone searches for
FIELD_GAP = 2  # positions between fields: no phrase spans two
# Field of the search box's query (postel.store.searchquery.COLUMNS) -> weight.
WEIGHTS = {"subject": "A", "sender": "B", "recipients": "C", "body": "D"}


def words(text: str) -> list[str]:
    """The words of *text* as the index keeps them."""
    decomposed = unicodedata.normalize("NFD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return [w for w in _WORD.findall(folded) if len(w) <= MAX_WORD]


ACCOUNT_LEXEME_PREFIX = "_a"


def account_lexeme(account_id: int) -> str:
    return f"{ACCOUNT_LEXEME_PREFIX}{account_id}"


def document(account_id: int, subject: str, sender: str, recipients: str, body: str) -> str:
    """The tsvector literal of one message of account *account_id*."""
    words = document_words(subject, sender, recipients, body)
    return f"'{account_lexeme(account_id)}' {words}" if words else f"'{account_lexeme(account_id)}'"


def document_words(subject: str, sender: str, recipients: str, body: str) -> str:
    """The tsvector literal of one message's words, without its account's
    lexeme (which a delivery adds in SQL: postel.pg.newmessage)."""
    positions: dict[str, list[str]] = {}
    pos = 1
    for weight, text in (("A", subject), ("B", sender), ("C", recipients), ("D", body)):
        for word in words(text):
            kept = positions.setdefault(word, [])
            if len(kept) < MAX_POSITIONS:
                kept.append(f"{min(pos, MAX_POSITION)}{weight}")
            pos += 1
        pos += FIELD_GAP
    return " ".join(f"'{w}':{','.join(dict.fromkeys(p))}" for w, p in positions.items())


def _term(t: Term) -> str:
    """One term as a tsquery: its words as a phrase, in its field if it has one;
    "" when it has no word."""
    found = words(t.text)
    if not found:
        return ""
    weight = WEIGHTS.get(t.column, "") if t.column else ""
    out = []
    for i, w in enumerate(found):
        label = ("*" if t.prefix and i == len(found) - 1 else "") + weight
        out.append(f"'{w}'" + (f":{label}" if label else ""))
    return "(" + " <-> ".join(out) + ")"


def _any(terms: Iterable[Term]) -> list[str]:
    return [q for q in (_term(t) for t in terms) if q]


def query(account_id: int, q: Query) -> str | None:
    """The tsquery literal of *q*'s words in account *account_id*: every
    positive term and none of the negated ones; None when *q* has no words
    (filters only). "" when it has words but none that can match."""
    positive, negative = _any(q.positive), _any(q.negative)
    if not q.terms:
        return None
    if not positive and not negative:
        return ""
    if q.positive and not positive:  # a positive term of no word matches nothing
        return ""
    parts = [f"'{account_lexeme(account_id)}'", *positive]
    if negative:
        parts.append("!(" + " | ".join(negative) + ")")
    return " & ".join(parts)
