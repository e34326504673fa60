"""What the classifier looks at in a message (pure).

Words of the subject (prefixed "s:") and of the body text, pairs of
consecutive body words (word sequences tell more than single words), the
host names of links (prefixed "url:"), and a few header fields (prefixed
"h:": the From domain, the content type and charset, the mailer). Chinese and
Japanese text, written without spaces, is read as pairs of characters. Bounded:
at most MAX_WORDS words are read and MAX_FEATURES features kept, so a huge
message costs what a large one does.
"""

from __future__ import annotations

import itertools
import re

MIN_LEN = 2
MAX_LEN = 24  # longer "words" are mostly encodings and hashes: skipped
MAX_WORDS = 3000
MAX_FEATURES = 4000

# Han, Hiragana, Katakana (and their compatibility forms): scripts written
# without spaces between words. Hangul has spaces and is read as words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_WORD = re.compile(rf"([{_CJK}]+)|[^\W\d_{_CJK}](?:[^\W{_CJK}]|['’-])*", re.UNICODE)
_HAS_CJK = re.compile(f"[{_CJK}]")
_PLAIN = re.compile(rf"[^\W\d_{_CJK}](?:[^\W{_CJK}]|['’-])*", re.UNICODE)  # _WORD without CJK
# _PLAIN for ASCII text already lower-cased, each match ending in a letter,
# digit or underscore: what _PLAIN's matches are once stripped of "'" and "-".
_ASCII_WORD = re.compile(r"[a-z](?:[\w'-]*\w)?", re.ASCII)
_URL_HOST = re.compile(r"(?i)\bhttps?://([a-z0-9.-]{1,253})")


def words(text: str, limit: int = MAX_WORDS) -> list[str]:
    # One findall and list comprehensions: a Python loop per match was most
    # of the tokenizing time (bench/NOTES.md, junk filter cost). ASCII text
    # is lower-cased once, its words need no strip (the same words).
    if text.isascii():
        found = _ASCII_WORD.findall(text.lower())
        return [w for w in found if MIN_LEN <= len(w) <= MAX_LEN][:limit]
    if _HAS_CJK.search(text) is None:
        found = [w.strip("'’-").lower() for w in _PLAIN.findall(text)]
        return [w for w in found if MIN_LEN <= len(w) <= MAX_LEN][:limit]
    out: list[str] = []
    for m in _WORD.finditer(text):
        run = m.group(1)
        if run is not None:
            # Each pair of consecutive characters is a word (a single one says little).
            for i in range(len(run) - 1):
                out.append(run[i : i + 2])
                if len(out) >= limit:
                    return out
            continue
        w = m.group(0).strip("'’-").lower()
        if MIN_LEN <= len(w) <= MAX_LEN:
            out.append(w)
            if len(out) >= limit:
                break
    return out


def header_features(
    from_domain: str | None, content_type: str | None, charset: str | None, mailer: str | None
) -> set[str]:
    """Features of the header fields that tell how a message was made: the
    From domain (unverified: a word like any other, never a reputation), the
    top-level content type (RFC 2045 §5) and charset, the mailer's name."""
    out = {f"h:type:{(content_type or 'none').lower()[:60]}"}
    if from_domain:
        out.add(f"h:from:{from_domain.lower().rstrip('.')[:100]}")
    if charset:
        out.add(f"h:charset:{charset.lower()[:40]}")
    if mailer is not None:
        name = words(mailer, 1)
        out.add(f"h:mailer:{name[0] if name else ''}")
    return out


def features(subject: str, body: str, head: frozenset[str] = frozenset()) -> frozenset[str]:
    """The features of a message with *subject*, body text *body* and header
    features *head* (header_features)."""
    out: set[str] = {f"s:{w}" for w in words(subject, 50)}
    out |= head
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
    if len(out) + 2 * len(body_words) < MAX_FEATURES - 1:  # the bound cannot be reached
        out.update(body_words)
        out.update([f"{a} {b}" for a, b in itertools.pairwise(body_words)])
        return frozenset(out)
    previous = ""
    for w in body_words:
        if len(out) >= MAX_FEATURES - 1:  # room for the word and its pair
            break
        out.add(w)
        if previous:
            out.add(f"{previous} {w}")
        previous = w
    return frozenset(out)
