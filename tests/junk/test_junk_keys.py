"""junk.db keys its token counts by the features' 64-bit hashes
(postel.junk.keys), and a junk.db of the text-keyed schema keeps its training."""

from __future__ import annotations

from pathlib import Path

from postel.db import open_db
from postel.junk.db import FILE, MIGRATIONS, JunkDB
from postel.junk.keys import feature_key


def test_feature_keys_are_stable_signed_64_bit_integers() -> None:
    key = feature_key("cheap pills")
    assert key == feature_key("cheap pills") != feature_key("cheap pill")
    assert -(2**63) <= key < 2**63
    # Fixed: the same on every node and after every restart (PostgreSQL shares them).
    assert feature_key("s:hello") == int.from_bytes(
        bytes.fromhex("826a33621b7bc81c"), "little", signed=True
    )


def test_token_counts_are_stored_under_integer_keys(tmp_path: Path) -> None:
    db = JunkDB.open(tmp_path)
    assert db.train("m1", ["cheap", "cheap pills"], [], spam=True)
    rows = db.conn.execute("SELECT key, spam FROM token ORDER BY key").fetchall()
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        [(feature_key("cheap"), 1), (feature_key("cheap pills"), 1)]
    )
    assert db.counts(["cheap", "unknown"]) == {"cheap": db.counts(["cheap"])["cheap"]}
    assert db.counts(["cheap pills"])["cheap pills"].spam == 1
    db.close()


def test_a_text_keyed_junk_db_keeps_its_counts(tmp_path: Path) -> None:
    old = open_db(tmp_path / FILE, MIGRATIONS[:2])  # before the hashed keys
    old.executemany(
        "INSERT INTO token (token, ham, spam) VALUES (?, ?, ?)",
        [("budget", 3, 0), ("cheap pills", 0, 5), ("s:agenda", 2, 1)],
    )
    old.execute("UPDATE meta SET value = 3 WHERE key = 'ham_messages'")
    old.execute("UPDATE meta SET value = 5 WHERE key = 'spam_messages'")
    old.commit()
    old.close()
    db = JunkDB.open(tmp_path)
    counts = db.counts(["budget", "cheap pills", "s:agenda", "never"])
    assert {f: (c.ham, c.spam) for f, c in counts.items()} == {
        "budget": (3, 0),
        "cheap pills": (0, 5),
        "s:agenda": (2, 1),
    }
    assert db.totals() == (3, 5)
    # Training and untraining go on on the migrated table.
    assert db.train("k", ["budget"], [], spam=False)
    assert db.counts(["budget"])["budget"].ham == 4
    assert db.untrain("k", ["budget"])
    assert db.counts(["budget"])["budget"].ham == 3
    db.close()
