"""RFC 8461 §3.1 TXT record parsing and selection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.mtasts.errors import (
    RESULT_POLICY_INVALID,
    MTASTSError,
    MultipleRecords,
    NoRecord,
    RecordSyntaxError,
)
from postel.mtasts.record import Record, is_mtasts_record, parse_record, select_record


@pytest.mark.parametrize(
    ("txt", "record_id", "extensions"),
    [
        ("v=STSv1; id=20160831085700Z;", "20160831085700Z", ()),
        ("v=STSv1; id=abc123", "abc123", ()),
        ("v=STSv1;id=x", "x", ()),
        ("v=STSv1 \t;\t id=x \t; ", "x", ()),
        ("v=STSv1; id=" + "a" * 32, "a" * 32, ()),
        ("v=STSv1; id=1; ext-1.a_b=val!ue", "1", (("ext-1.a_b", "val!ue"),)),
        ("v=STSv1; foo=bar; id=2;", "2", (("foo", "bar"),)),
        # Repeated id: the first is used (RFC 8461 §3.2).
        ("v=STSv1; id=first; id=second", "first", ()),
        # Field names are case-sensitive: "ID" is an extension.
        ("v=STSv1; ID=X; id=y", "y", (("ID", "X"),)),
        ("v=STSv1; id=1; " + "k" * 32 + "=v", "1", (("k" * 32, "v"),)),
    ],
)
def test_valid_records(txt: str, record_id: str, extensions: tuple[tuple[str, str], ...]) -> None:
    record = parse_record(txt)
    assert record == Record(id=record_id, extensions=extensions)
    assert record.version == "STSv1"


@pytest.mark.parametrize(
    ("txt", "field", "fragment"),
    [
        ("v=STSv1;", "id", "missing required field id"),
        ("v=STSv1", "id", "missing required field id"),
        ("v=STSv2; id=1;", "v", "must start with"),
        ("V=STSv1; id=1", "v", "must start with"),
        (" v=STSv1; id=1", "v", "must start with"),
        ("v=STSv1; id=", "id", "1 to 32"),
        ("v=STSv1; id=" + "a" * 33, "id", "1 to 32"),
        ("v=STSv1; id=ab-c", "id", "1 to 32"),
        ("v=STSv1; id=abc ", None, "expected ';'"),
        ("v=STSv1 id=abc", None, "expected ';'"),
        ("v=STSv1; ext=", "ext", "extension value"),
        ("v=STSv1; id=1; ext=a b", None, "expected ';'"),
        ("v=STSv1; id=1; ext=a=b", "ext", "extension value"),
        ("v=STSv1; id=1; _x=1", None, "field name"),
        ("v=STSv1; id=1; " + "k" * 33 + "=v", None, "longer than 32"),
        ("v=STSv1; id=1;;", None, "field name"),
        ("v=STSv1; id", "id", "expected '='"),
    ],
)
def test_invalid_records(txt: str, field: str | None, fragment: str) -> None:
    with pytest.raises(RecordSyntaxError) as exc:
        parse_record(txt)
    assert exc.value.field == field
    assert fragment in str(exc.value)
    assert exc.value.result_type == RESULT_POLICY_INVALID


def test_error_names_offset() -> None:
    with pytest.raises(RecordSyntaxError) as exc:
        parse_record("v=STSv1; id=abc; bad=x y")
    assert exc.value.offset == 22
    assert "offset 22" in str(exc.value)


def test_select_ignores_other_records() -> None:
    record = select_record(["v=spf1 -all", "v=STSv1; id=abc", "hello"])
    assert record.id == "abc"


def test_select_none_is_no_record() -> None:
    with pytest.raises(NoRecord):
        select_record([])
    with pytest.raises(NoRecord):
        select_record(["v=STSv2; id=1", "v=STSv10; id=1", "v=STSv1"])
    assert NoRecord().result_type is None


def test_select_multiple_is_error() -> None:
    with pytest.raises(MultipleRecords) as exc:
        select_record(["v=STSv1; id=a", "v=STSv1; id=b"])
    assert exc.value.count == 2
    assert exc.value.result_type == RESULT_POLICY_INVALID


def test_select_invalid_candidate_is_syntax_error() -> None:
    with pytest.raises(RecordSyntaxError):
        select_record(["v=STSv1; id=in valid"])


def test_is_mtasts_record() -> None:
    assert is_mtasts_record("v=STSv1; id=1")
    assert is_mtasts_record("v=STSv1 ;")
    assert not is_mtasts_record("v=STSv10; id=1")
    assert not is_mtasts_record("v=TLSRPTv1; rua=mailto:a@b")


def test_text_and_json() -> None:
    record = Record(id="abc", extensions=(("x", "1"),))
    assert record.text() == "v=STSv1; id=abc; x=1"
    assert record.to_json() == {"version": "STSv1", "id": "abc", "extensions": [["x", "1"]]}


_alnum = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ids = st.text(_alnum, min_size=1, max_size=32)
_ext_names = st.builds(
    lambda first, rest: first + rest,
    _alnum,
    st.text(st.sampled_from("abcXYZ019_-."), max_size=31),
).filter(lambda n: n != "id")
_ext_values = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="=;"), min_size=1
)


@given(_ids, st.lists(st.tuples(_ext_names, _ext_values), max_size=4))
def test_round_trip(record_id: str, extensions: list[tuple[str, str]]) -> None:
    record = Record(id=record_id, extensions=tuple(extensions))
    assert parse_record(record.text()) == record
    assert parse_record(record.text() + ";") == record


@given(st.text(max_size=80))
def test_random_text_raises_only_package_errors(txt: str) -> None:
    try:
        parse_record(txt)
    except MTASTSError:
        pass


@given(st.text(alphabet=st.sampled_from("v=STSv1; id=abc\t_-.x"), max_size=40))
def test_random_near_records_raise_only_package_errors(txt: str) -> None:
    try:
        select_record([txt, "v=STSv1; id=" + txt])
    except MTASTSError:
        pass
