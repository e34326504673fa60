"""The search box's language, parsed into an FTS5 match expression and filters.

Pure. Words match anywhere (subject, sender, recipients, body) as whole
words, or as prefixes when they end in "*"; "quoted phrases" match as
phrases; from:, to:, subject: and body: look in one field; has:attachment,
before:YYYY-MM-DD and after:YYYY-MM-DD filter; a leading "-" excludes.
Every value reaches FTS5 as a quoted string (double quotes doubled), so no
input is FTS5 syntax (https://sqlite.org/fts5.html §3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from postel.store.errors import StoreError

MAX_QUERY = 500  # characters
MAX_TERMS = 20

# Field of the search box -> column of the message_fts table.
COLUMNS = {"from": "sender", "to": "recipients", "subject": "subject", "body": "body"}

_TOKEN = re.compile(r'(-?)(?:([A-Za-z]+):)?("[^"]*"?|\S+)')


class BadQuery(StoreError):
    """A search that cannot be run (what is wrong in the message)."""


@dataclass(frozen=True)
class Term:
    """Text to match (its words in order) in *column* (None: any column); the
    last word as a prefix when *prefix*."""

    text: str
    column: str | None = None
    prefix: bool = False
    negated: bool = False

    def fts(self) -> str:
        expr = '"' + self.text.replace('"', '""') + '"' + ("*" if self.prefix else "")
        return f"{{{self.column}}} : {expr}" if self.column else expr


@dataclass(frozen=True)
class Query:
    """A parsed search: text terms and filters (dates are UTC days)."""

    terms: tuple[Term, ...] = ()
    has_attachment: bool = False
    before: date | None = None  # received or dated earlier than this day
    after: date | None = None  # on this day or later

    @property
    def positive(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.negated)

    @property
    def negative(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.negated)

    @property
    def empty(self) -> bool:
        return not self.terms and not self.has_attachment and not self.before and not self.after

    def match(self) -> str:
        """FTS5 expression: every positive term, none of the negated ones (FTS5's
        own NOT, evaluated inside the index); "" when there is no positive term."""
        positive = " AND ".join(t.fts() for t in self.positive)
        if positive and self.negative:
            return f"({positive}) NOT ({self.exclude()})"
        return positive

    def exclude(self) -> str:
        """FTS5 expression matching any negated term; "" when none."""
        return " OR ".join(t.fts() for t in self.negative)


def _day(key: str, value: str) -> date:
    try:
        return date.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise BadQuery(f"{key}:{value}: a date is written YYYY-MM-DD") from None


def parse_query(text: str) -> Query:
    """Parse the search box's *text*; BadQuery when it is too long or a filter is wrong."""
    if len(text) > MAX_QUERY:
        raise BadQuery(f"the search is longer than {MAX_QUERY} characters")
    terms: list[Term] = []
    has_attachment = False
    before: date | None = None
    after: date | None = None
    for m in _TOKEN.finditer(text):
        neg, key, value = m.group(1) == "-", (m.group(2) or "").lower(), m.group(3)
        phrase = value.startswith('"')
        prefix = False
        if phrase:
            value = value.strip('"')
        elif value.endswith("*"):
            value, prefix = value.rstrip("*"), True
        if key == "has" and not neg:
            if value.lower() not in ("attachment", "attachments"):
                raise BadQuery(f"has:{value}: only has:attachment is known")
            has_attachment = True
            continue
        if key in ("before", "after") and not neg:
            day = _day(key, value)
            if key == "before":
                before = day
            else:
                after = day
            continue
        column = COLUMNS.get(key)
        if key and column is None:
            value = f"{m.group(2)}:{value}"  # not a field: search the text as it is
        # Searched as tokens: punctuation alone would match nothing useful.
        if not re.search(r"\w", value):
            continue
        terms.append(Term(value, column, prefix, neg))
    if len(terms) > MAX_TERMS:
        raise BadQuery(f"more than {MAX_TERMS} search words")
    return Query(tuple(terms), has_attachment, before, after)
