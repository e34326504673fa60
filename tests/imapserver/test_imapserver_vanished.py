"""The superset of VANISHED (EARLIER) worked out from a mailbox's UIDs."""

from __future__ import annotations

from array import array

from postel.imapserver.vanished import absent, format_ranges, gone_from, merge, superset


def test_absent_are_the_gaps_inside_the_bounds() -> None:
    uids = array("I", [3, 4, 8, 20])
    assert absent(uids, [(1, 30)], 25) == [(1, 2), (5, 7), (9, 19), (21, 24)]
    assert absent(uids, [(4, 8), (6, 10)], 25) == [(5, 7), (9, 10)]
    assert absent(uids, [(3, 4)], 25) == []
    assert absent(array("I"), [(1, 10**9)], 1) == []  # nothing before UIDNEXT 1


def test_superset_adds_kept_uids_still_in_the_array() -> None:
    uids = array("I", [1, 2, 5])
    assert superset(uids, [(1, 5)], 6, [2]) == [(2, 4)]
    assert format_ranges(superset(uids, [(1, 5)], 6, [5])) == "3:5"


def test_merge_and_format() -> None:
    assert merge([(5, 6), (1, 2), (3, 4), (9, 9)]) == [(1, 6), (9, 9)]
    assert format_ranges([(1, 6), (9, 9)]) == "1:6,9"


def test_gone_from_by_one_walk() -> None:
    assert gone_from(array("I", [1, 2, 5, 9]), array("I", [2, 9, 11])) == {1, 5}
    assert gone_from(array("I"), array("I", [1])) == set()
