"""What the classifier looks at in a message (pure).

Words of the subject (prefixed "s:") and of the body text, pairs of
consecutive body words (word sequences tell more than single words), and the
host names of links (prefixed "url:"). Bounded: at most MAX_WORDS words are
read and MAX_FEATURES features kept, so a huge message costs what a large one
does.
"""

from __future__ import annotations

import re

MIN_LEN = 2
MAX_LEN = 24  # longer "words" are mostly encodings and hashes: skipped
MAX_WORDS = 3000
MAX_FEATURES = 4000

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_URL_HOST = re.compile(r"(?i)\bhttps?://([a-z0-9.-]{1,253})")


def words(text: str, limit: int = MAX_WORDS) -> list[str]:
    out: list[str] = []
    for m in _WORD.finditer(text):
        w = m.group(0).strip("'’-").lower()
        if MIN_LEN <= len(w) <= MAX_LEN:
            out.append(w)
            if len(out) >= limit:
                break
    return out


def features(subject: str, body: str) -> frozenset[str]:
    """The features of a message with *subject* and body text *body*."""
    out: set[str] = {f"s:{w}" for w in words(subject, 50)}
    for m in _URL_HOST.finditer(body[: MAX_WORDS * 20]):
        host = m.group(1).lower().rstrip(".")
        # The registered part and the whole name: "url:example.com", "url:a.example.com".
        out.add(f"url:{host}")
        parts = host.split(".")
        if len(parts) > 2:
            out.add("url:" + ".".join(parts[-2:]))
        if len(out) >= MAX_FEATURES // 4:
            break
    body_words = words(body)
    previous = ""
    for w in body_words:
        if len(out) >= MAX_FEATURES - 1:  # room for the word and its pair
            break
        out.add(w)
        if previous:
            out.add(f"{previous} {w}")
        previous = w
    return frozenset(out)
