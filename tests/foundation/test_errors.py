"""One error base: every exception postel raises derives from
postel.errors.PostelError, the shared kinds (InputError, LimitError,
SMTPReplyError) behave as documented, and no two packages define an
exception of the same name.

Private exceptions (a leading ``_``) are allowed to derive from Exception:
they are control flow inside one module (an SPF evaluation that stops, an
SMTP client session that is over, a cancelled AUTH exchange, a request body
over its limit raised into the ASGI application) and never reach a caller.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import pkgutil
from collections import defaultdict
from pathlib import Path

import pytest

import postel
from postel.errors import InputError, LimitError, PostelError, SMTPReplyError

SRC = Path(postel.__file__).parent
ERRORS_MODULE = SRC / "errors.py"
BUILTIN_EXCEPTIONS = {
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}


def _classes() -> list[tuple[Path, ast.ClassDef]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        out.extend((path, node) for node in ast.walk(tree) if isinstance(node, ast.ClassDef))
    return out


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _package(path: Path) -> str:
    """postel.<package> for a module in a package, "postel" for a top-level module."""
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else "postel"


def _where(path: Path, node: ast.ClassDef) -> str:
    return f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name}"


def test_no_exception_roots_outside_postel_errors() -> None:
    """No public class derives straight from a builtin exception outside postel/errors.py."""
    offenders = [
        _where(path, node)
        for path, node in _classes()
        if path != ERRORS_MODULE
        and not node.name.startswith("_")
        and any(b in BUILTIN_EXCEPTIONS for b in _base_names(node) if b != "Warning")
    ]
    assert offenders == []


def test_no_exception_name_in_two_packages() -> None:
    classes = _classes()
    exceptions = set(BUILTIN_EXCEPTIONS)
    grown = True
    while grown:  # classes deriving (by name) from an exception are exceptions
        grown = False
        for _, node in classes:
            if node.name not in exceptions and set(_base_names(node)) & exceptions:
                exceptions.add(node.name)
                grown = True
    packages: dict[str, set[str]] = defaultdict(set)
    for path, node in classes:
        if node.name in exceptions - BUILTIN_EXCEPTIONS and not node.name.startswith("_"):
            packages[node.name].add(_package(path))
    assert {name: sorted(p) for name, p in packages.items() if len(p) > 1} == {}


def _postel_exceptions() -> list[type[BaseException]]:
    for info in pkgutil.walk_packages(postel.__path__, "postel."):
        if not info.name.endswith(".__main__"):  # those run a program when imported
            importlib.import_module(info.name)
    found: dict[str, type[BaseException]] = {}
    stack: list[type] = [BaseException]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("postel.") and not sub.__name__.startswith("_"):
                found[f"{sub.__module__}.{sub.__qualname__}"] = sub
    return list(found.values())


def test_every_postel_exception_derives_from_postel_error() -> None:
    exceptions = _postel_exceptions()
    assert len(exceptions) > 50
    assert [e for e in exceptions if not issubclass(e, PostelError)] == []


def test_smtp_reply_error_renders_the_reply() -> None:
    e = SMTPReplyError(550, "5.1.1", "no such user here")
    assert (e.code, e.enhanced, e.text) == (550, "5.1.1", "no such user here")
    assert str(e) == e.line() == "550 5.1.1 no such user here"
    assert e.permanent and not e.temporary
    assert SMTPReplyError(451, None, "try later").line() == "451 try later"
    assert SMTPReplyError(451, "", "try later").enhanced is None
    # No reply exchanged (connection, TLS, local decision): the class of enhanced counts.
    lost = SMTPReplyError(0, "4.4.2", "EHLO: connection closed (192.0.2.1)")
    assert str(lost) == "4.4.2 EHLO: connection closed (192.0.2.1)" and lost.temporary
    assert SMTPReplyError(0, "5.5.2", "command holds a CR").permanent


def test_smtp_replies_of_server_client_queue_and_delivery_share_one_type() -> None:
    from postel.delivery.errors import DeliveryError, InternalAddress, NextHopLookupError, NullMX
    from postel.smtp.errors import ParameterError
    from postel.smtp.params import parse_rcpt
    from postel.smtp.reply import Reply
    from postel.smtpclient.errors import ProtocolError
    from postel.store.routing import NO_SUCH_USER, RecipientRefused

    with pytest.raises(ParameterError) as info:
        parse_rcpt("TO:<>", smtputf8=False)
    assert isinstance(info.value, SMTPReplyError) and info.value.code == 501
    refused = RecipientRefused(NO_SUCH_USER)
    assert refused.line() == "550 5.1.1 no such user here"
    assert Reply(refused.code, refused.enhanced, refused.text) == NO_SUCH_USER
    assert ProtocolError("bad reply").line() == "4.5.0 bad reply"
    null = NullMX("example.com")
    assert (null.code, null.enhanced, null.permanent) == (556, "5.1.10", True)
    assert NextHopLookupError("SERVFAIL").temporary
    assert InternalAddress("127.0.0.1", "127.0.0.1", "loopback").enhanced == "5.4.4"
    assert issubclass(DeliveryError, SMTPReplyError)


def test_input_error_says_where() -> None:
    assert str(InputError("not a number", where="postel.toml:3")) == "postel.toml:3: not a number"
    assert InputError("bad").where == "" and str(InputError("bad")) == "bad"
    limit = LimitError("more than 10 parts", limit="parts", value=10)
    assert (limit.limit, limit.value, str(limit)) == ("parts", 10, "more than 10 parts")


def test_report_limit_errors_are_input_and_limit_errors() -> None:
    from postel import dmarcrpt, tlsrpt

    with pytest.raises(tlsrpt.TLSRPTLimitError) as t:
        tlsrpt.parse_report(b"\x1f\x8b" + b"\x00" * 10, limits=tlsrpt.Limits(max_input_bytes=5))
    assert isinstance(t.value, tlsrpt.TLSRPTError | InputError | LimitError)
    assert isinstance(t.value, LimitError) and isinstance(t.value, tlsrpt.TLSRPTError)
    with pytest.raises(dmarcrpt.DMARCLimitError) as d:
        dmarcrpt.parse_report(b"<feedback/>", limits=dmarcrpt.Limits(max_input_bytes=5))
    assert isinstance(d.value, LimitError) and isinstance(d.value, dmarcrpt.DMARCReportError)
    report = tlsrpt.TLSRPTReportError("expected a string", "policies[0]")
    assert (str(report), report.where, report.path) == (
        "policies[0]: expected a string",
        "policies[0]",
        "policies[0]",
    )
