"""The classifier, its features and its database (postel.junk)."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.junk.classify import Counts, chi2q, classify, feature_probability
from postel.junk.db import JunkDB
from postel.junk.tokens import MAX_FEATURES, features

SPAMMY = [
    "cheap",
    "pills",
    "casino",
    "winner",
    "bitcoin",
    "offer",
    "viagra",
    "prize",
    "urgent",
    "loan",
]
HAMMY = [
    "meeting",
    "tomorrow",
    "project",
    "review",
    "lunch",
    "budget",
    "draft",
    "agenda",
    "notes",
    "family",
]
COMMON = ["the", "and", "you", "for", "with", "this", "that", "have", "from", "your", "will"]


def text(rng: random.Random, vocab: list[str], n: int = 40) -> str:
    return " ".join(rng.choice(vocab + COMMON) for _ in range(n))


def test_features_words_pairs_subject_and_links() -> None:
    f = features("Cheap PILLS today", "Buy cheap pills at https://shop.pills.example/x now")
    assert {"s:cheap", "s:pills", "s:today"} <= f
    assert {"buy", "cheap", "pills", "buy cheap", "cheap pills"} <= f
    assert {"url:shop.pills.example", "url:pills.example"} <= f
    assert "1234" not in features("", "1234 5678")  # numbers are not words
    assert "a" not in features("", "a b c")  # too short


def test_features_are_bounded_on_a_huge_message() -> None:
    rng = random.Random(1)
    body = " ".join("".join(rng.choice("abcdefghij") for _ in range(8)) for _ in range(400_000))
    start = time.process_time()
    f = features("x", body)
    assert len(f) <= MAX_FEATURES
    assert time.process_time() - start < 1.0


def test_chi2q_known_values() -> None:
    assert chi2q(0.0, 2) == 1.0
    assert chi2q(2 * math.log(20), 2) == pytest.approx(0.05)
    assert 0.0 < chi2q(100.0, 20) < 1e-10


def test_feature_probability_is_smoothed_toward_neutral() -> None:
    assert feature_probability(Counts(0, 0), 10, 10) == 0.5
    once = feature_probability(Counts(0, 1), 10, 10)
    often = feature_probability(Counts(0, 9), 10, 10)
    assert 0.5 < once < often < 1.0
    assert feature_probability(Counts(9, 0), 10, 10) < 0.1


def _trained(tmp_path: Path, spam: int, ham: int, seed: int = 2) -> JunkDB:
    rng = random.Random(seed)
    db = JunkDB.open(tmp_path)
    for i in range(spam):
        db.train(f"s{i}", features("offer", text(rng, SPAMMY)), [], spam=True)
    for i in range(ham):
        db.train(f"h{i}", features("project", text(rng, HAMMY)), [], spam=False)
    return db


def test_trained_classifier_separates_spam_and_ham(tmp_path: Path) -> None:
    db = _trained(tmp_path, 20, 20)
    rng = random.Random(99)
    ham, spam = db.totals()
    assert (ham, spam) == (20, 20)
    for vocab, low, high in ((SPAMMY, 0.9, 1.0), (HAMMY, 0.0, 0.1)):
        f = features("", text(rng, vocab))
        v = classify(f, db.counts(f), ham, spam)
        assert low <= v.score <= high, (vocab[0], v)
        assert v.used > 0 and len(v.signals) > 0
    unknown = features("", "zebra quantum harmonica")
    assert classify(unknown, db.counts(unknown), ham, spam).score == 0.5
    db.close()


def test_training_is_idempotent_and_a_verdict_can_be_reversed(tmp_path: Path) -> None:
    db = JunkDB.open(tmp_path)
    f = features("hello", "cheap pills")
    assert db.train("k", f, ["dmarc:a.example"], spam=True)
    assert not db.train("k", f, ["dmarc:a.example"], spam=True)  # the same verdict again
    assert db.totals() == (0, 1) and db.counts(["cheap"])["cheap"] == Counts(0, 1)
    assert db.reputation(["dmarc:a.example"])["dmarc:a.example"] == Counts(0, 1)
    # Moved out of Junk: now ham, and no longer counted as spam.
    assert db.train("k", f, ["dmarc:a.example"], spam=False)
    assert db.totals() == (1, 0) and db.counts(["cheap"])["cheap"] == Counts(1, 0)
    assert db.reputation(["dmarc:a.example"])["dmarc:a.example"] == Counts(1, 0)
    assert db.trained_as("k") is False
    assert db.untrain("k", f) and db.totals() == (0, 0)
    assert db.counts(["cheap"]).get("cheap", Counts(0, 0)) == Counts(0, 0)
    assert not db.untrain("k", f)
    db.close()


def test_chinese_and_japanese_text_is_read_as_pairs_of_characters() -> None:
    # Written without spaces: a run of characters is no one word (bench/NOTES.md).
    f = features("免費電話", "如果此信打扰到您 お送り下さい")
    assert {"s:免費", "s:費電", "s:電話"} <= f
    assert {"如果", "果此", "打扰", "お送", "送り"} <= f
    assert "如果此信打扰到您" not in f
    # Hangul is written with spaces: words, as are Latin words next to Han.
    assert {"한국어", "hello"} <= features("", "한국어 hello 中")


def test_header_features_from_domain_type_charset_and_mailer() -> None:
    from postel.junk.filter import message_features

    f = message_features(
        b'From: "Shop" <deals@Offers.Example>\r\nSubject: hi\r\n'
        b'Content-Type: text/html; charset="GB2312"\r\nX-Mailer: Foo Mail 6.0\r\n'
        b"\r\n<p>hello</p>\r\n"
    )
    assert {"h:from:offers.example", "h:type:text/html", "h:charset:gb2312", "h:mailer:foo"} <= f
    plain = message_features(b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n")
    assert "h:type:none" in plain and "hello" in plain
    assert not any(x.startswith(("h:charset:", "h:mailer:")) for x in plain)


def test_header_features_of_odd_header_fields() -> None:
    from postel.junk.filter import message_features

    # RFC 2231 parameters, no address in From, a content type without a slash.
    f = message_features(
        b"From: nobody\r\nSubject: hi\r\n"
        b"Content-Type: text/plain; charset*=utf-8''UTF-8\r\n\r\nhello\r\n"
    )
    assert "h:charset:utf-8" in f and not any(x.startswith("h:from:") for x in f)
    g = message_features(b"From: <>\r\nContent-Type: garbage\r\nX-Mailer: \r\n\r\nhello\r\n")
    assert "hello" in g and "h:mailer:" in g


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["From", "Subject", "Content-Type", "X-Mailer", "User-Agent"]),
            st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
        ),
        max_size=6,
    )
)
def test_message_features_never_fail_on_any_header_value(
    fields: list[tuple[str, bytes]],
) -> None:
    from postel.junk.filter import message_features

    head = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in fields)
    assert isinstance(message_features(head + b"\r\nhello there\r\n"), frozenset)


def _words_one_by_one(text: str, limit: int) -> list[str]:
    # The tokenizer's rule spelt out match by match: the reference for the
    # faster paths of postel.junk.tokens.
    from postel.junk.tokens import _WORD, MAX_LEN, MIN_LEN

    out: list[str] = []
    for m in _WORD.finditer(text):
        run = m.group(1)
        if run is not None:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            w = m.group(0).strip("'’-").lower()
            if MIN_LEN <= len(w) <= MAX_LEN:
                out.append(w)
    return out[:limit]


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="aZé'’- .,9_\nÄİßx日本語中文", max_size=300),
    st.integers(min_value=1, max_value=80),
)
def test_words_follow_the_rule_match_by_match(text: str, limit: int) -> None:
    from postel.junk.tokens import words

    assert words(text, limit) == _words_one_by_one(text, limit)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(SPAMMY + HAMMY + COMMON + ["x", "İstanbul"]), max_size=2500))
def test_features_are_the_words_and_their_pairs_up_to_the_bound(body_words: list[str]) -> None:
    from postel.junk.tokens import words

    got = features("", " ".join(body_words))
    ws = words(" ".join(body_words))
    expected: set[str] = set()
    previous = ""
    for w in ws:  # each word and its pair with the one before, until the bound
        if len(expected) >= MAX_FEATURES - 1:
            break
        expected.add(w)
        if previous:
            expected.add(f"{previous} {w}")
        previous = w
    assert got == frozenset(expected)
