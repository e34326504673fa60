"""Parsing DMARC aggregate reports (RFC 7489 appendix C and RFC 9990).

XML is parsed incrementally as it is decompressed (postel.dmarcrpt.xmlstream):
DTDs (and so entity expansion and external entities) are refused, and the
limits on bytes, elements, depth, records and parts are checked as the parse
goes, per message rather than per part, so a report bomb stops early. Input
may be XML, gzip, zip (one XML member) or a whole report message. Lenient
parsing (the default) repairs stray '<' and '&' in text, tolerates missing
optional-in-practice fields and reports them as warnings; strict parsing
rejects them.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

from postel.dmarcrpt.container import (
    gunzip_chunks,
    is_gzip,
    is_zip,
    looks_like_message,
    report_parts,
    unzip_chunks,
)
from postel.dmarcrpt.errors import (
    AggregateReportError,
    DMARCInputError,
    DMARCLimitError,
    DMARCReportError,
    ForbiddenXMLError,
    XMLError,
)
from postel.dmarcrpt.report import (
    NAMESPACE_RFC9990,
    AuthResults,
    DateRange,
    DKIMResult,
    Identifiers,
    PolicyEvaluated,
    PolicyOverrideReason,
    PolicyPublished,
    Record,
    Report,
    ReportMetadata,
    Row,
    SPFResult,
)
from postel.dmarcrpt.xmlstream import StreamLimits, parse_stream
from postel.reportbudget import Budget
from postel.reportfile import slices

log = logging.getLogger("postel.dmarcrpt")

# Namespaces whose elements are report elements (others are extensions).
_REPORT_NAMESPACES = ("", NAMESPACE_RFC9990, "http://dmarc.org/dmarc-xml/0.1")

_POLICIES = ("none", "quarantine", "reject")
_VALUES: dict[str, tuple[str, ...]] = {
    "p": _POLICIES,
    "sp": _POLICIES,
    "np": _POLICIES,
    "adkim": ("r", "s"),
    "aspf": ("r", "s"),
    "testing": ("n", "y"),
    "discovery_method": ("psl", "treewalk"),
    "disposition": ("none", "quarantine", "reject", "pass"),
    "policy_evaluated/dkim": ("pass", "fail"),
    "policy_evaluated/spf": ("pass", "fail"),
    "dkim/result": ("none", "pass", "fail", "policy", "neutral", "temperror", "permerror"),
    "spf/result": ("none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"),
    # RFC 7489 §C and RFC 9990 PolicyOverrideType.
    "reason/type": (
        "forwarded",
        "sampled_out",
        "trusted_forwarder",
        "mailing_list",
        "local_policy",
        "policy_test_mode",
        "other",
    ),
}

# A '<' that does not start markup, or an '&' that does not start a reference.
_STRAY_LT_RE = re.compile(
    rb"<(?![?!]|/?[A-Za-z_][\w.:\-]*"
    rb"(?:\s+[A-Za-z_][\w.:\-]*\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*\s*/?>)"
)
_STRAY_AMP_RE = re.compile(rb"&(?!(?:[A-Za-z_][\w.\-]*|#[0-9]+|#x[0-9A-Fa-f]+);)")


@dataclass(frozen=True)
class Limits:
    """Bounds on input, decompressed size and element counts.

    Decompressed bytes and XML elements are counted per message (all parts
    together) and, like depth and records, checked as the parse goes; at most
    max_report_parts parts of a message are tried.
    """

    max_input_bytes: int = 20 * 1024 * 1024
    max_decompressed_bytes: int = 20 * 1024 * 1024
    max_records: int = 5_000
    max_auth_results: int = 100  # per record and kind
    max_list_items: int = 100  # errors, reasons
    max_elements: int = 200_000
    max_depth: int = 32
    max_stall_bytes: int = 1024 * 1024  # one tag, text or comment; checked per 64 KB chunk
    max_report_parts: int = 4  # candidate parts of one message decoded and tried


DEFAULT_LIMITS = Limits()


@dataclass
class ParseResult:
    report: Report
    warnings: list[str] = field(default_factory=list)


class _Ctx:
    def __init__(self, strict: bool, limits: Limits) -> None:
        self.strict = strict
        self.limits = limits
        self.warnings: list[str] = []

    def odd(self, path: str, msg: str) -> None:
        if self.strict:
            raise AggregateReportError(msg, path)
        self.warnings.append(f"{path}: {msg}" if path else msg)

    def note(self, path: str, msg: str) -> None:
        self.warnings.append(f"{path}: {msg}" if path else msg)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _children(ctx: _Ctx, el: ET.Element, path: str) -> list[tuple[str, ET.Element]]:
    """Report children of el with their local names; extension elements are skipped."""
    out = []
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):  # comments, processing instructions
            continue
        if tag[:1] == "{":
            ns, local = _split(tag)
            if ns not in _REPORT_NAMESPACES:
                ctx.note(f"{path}/{local}", f"extension element in namespace {ns!r} ignored")
                continue
            tag = local
        out.append((tag, child))
    return out


class _Elem:
    """An element's report children by local name, for lookups with paths."""

    def __init__(self, ctx: _Ctx, el: ET.Element, path: str) -> None:
        self.ctx = ctx
        self.path = path
        self.by_name: dict[str, list[ET.Element]] = {}
        for local, child in _children(ctx, el, path):
            self.by_name.setdefault(local, []).append(child)

    def all(self, name: str) -> list[ET.Element]:
        return self.by_name.get(name, [])

    def one(self, name: str) -> ET.Element | None:
        els = self.all(name)
        if len(els) > 1:
            self.ctx.odd(f"{self.path}/{name}", f"element occurs {len(els)} times, using first")
        return els[0] if els else None

    def sub(self, name: str, *, required: bool = True) -> _Elem | None:
        el = self.one(name)
        if el is None:
            if required:
                raise AggregateReportError("required element missing", f"{self.path}/{name}")
            return None
        return _Elem(self.ctx, el, f"{self.path}/{name}")

    def text(self, name: str) -> str | None:
        el = self.one(name)
        if el is None:
            return None
        if not len(el):  # a leaf, as nearly all are: its text is all there is
            return (el.text or "").strip()
        return "".join(el.itertext()).strip()

    def required(self, name: str, *, lenient: bool = False) -> str:
        """Text of a required element; lenient: missing is a warning and gives ""."""
        v = self.text(name)
        p = f"{self.path}/{name}"
        if v is None:
            if not lenient:
                raise AggregateReportError("required element missing", p)
            self.ctx.odd(p, "required element missing")
            return ""
        if v == "" and not lenient:
            raise AggregateReportError("required element empty", p)
        return v

    def value(self, name: str, kind: str | None = None, *, required: bool = False) -> str | None:
        """Text of an enumerated element, lower-cased and checked against known values."""
        v = self.text(name)
        p = f"{self.path}/{name}"
        if v is None or v == "":
            if required:
                self.ctx.odd(p, "required element missing" if v is None else "empty")
                return ""
            return None
        v = v.lower()
        known = _VALUES.get(kind or name)
        if known is not None and v not in known:
            self.ctx.odd(p, f"unknown value {v!r} (expected one of {', '.join(known)})")
        return v

    def integer(self, name: str, *, required: bool = True) -> int | None:
        v = self.text(name)
        p = f"{self.path}/{name}"
        if v is None or v == "":
            if required:
                raise AggregateReportError("required element missing", p)
            return None
        if v.isascii() and v.isdigit() and len(v) <= 19:
            return int(v)
        m = re.fullmatch(r"(\d{1,19})\.0*", v)
        if m:
            self.ctx.odd(p, f"integer with a fraction: {v!r}")
            return int(m.group(1))
        raise AggregateReportError(f"expected a non-negative integer, got {v[:40]!r}", p)


def _org_name(ctx: _Ctx, md: _Elem) -> str:
    """org_name is xs:string: empty is schema-valid, and real reporters send it."""
    name = md.text("org_name")
    if name == "" and not ctx.strict:
        ctx.odd(f"{md.path}/org_name", "empty org_name")
        return ""
    return md.required("org_name")


def _metadata(ctx: _Ctx, fb: _Elem) -> ReportMetadata:
    md = fb.sub("report_metadata")
    assert md is not None
    dr = md.sub("date_range")
    assert dr is not None
    begin = dr.integer("begin")
    end = dr.integer("end")
    assert begin is not None and end is not None
    if end < begin:
        ctx.odd(dr.path, "end before begin")
    errors = [("".join(e.itertext())).strip() for e in md.all("error")]
    if len(errors) > ctx.limits.max_list_items:
        raise DMARCLimitError(f"{md.path}/error: more than {ctx.limits.max_list_items} elements")
    return ReportMetadata(
        org_name=_org_name(ctx, md),
        email=md.required("email", lenient=True),
        report_id=md.required("report_id"),
        date_range=DateRange(begin=begin, end=end),
        extra_contact_info=md.text("extra_contact_info") or None,
        errors=errors,
        generator=md.text("generator") or None,
    )


def _policy_published(ctx: _Ctx, fb: _Elem) -> PolicyPublished:
    pp = fb.sub("policy_published")
    assert pp is not None
    pct = pp.integer("pct", required=False)
    if pct is not None and pct > 100:
        ctx.odd(f"{pp.path}/pct", f"percentage over 100: {pct}")
    return PolicyPublished(
        domain=pp.required("domain").lower().rstrip("."),
        p=pp.value("p", required=True) or "",
        sp=pp.value("sp"),
        np=pp.value("np"),
        adkim=pp.value("adkim"),
        aspf=pp.value("aspf"),
        pct=pct,
        fo=pp.text("fo") or None,
        testing=pp.value("testing"),
        discovery_method=pp.value("discovery_method"),
    )


def _record(ctx: _Ctx, el: ET.Element, path: str) -> Record:
    rec = _Elem(ctx, el, path)
    row = rec.sub("row")
    assert row is not None
    source_ip = row.required("source_ip")
    try:
        source_ip = str(ipaddress.ip_address(source_ip))
    except ValueError:
        ctx.odd(f"{row.path}/source_ip", f"not an IP address: {source_ip[:60]!r}")
    count = row.integer("count")
    assert count is not None
    pe = row.sub("policy_evaluated", required=False)
    if pe is None:
        ctx.odd(f"{row.path}/policy_evaluated", "required element missing")
        evaluated = PolicyEvaluated(disposition="", dkim="", spf="")
    else:
        reasons_el = pe.all("reason")
        if len(reasons_el) > ctx.limits.max_list_items:
            raise DMARCLimitError(
                f"{pe.path}/reason: more than {ctx.limits.max_list_items} elements"
            )
        reasons = []
        for i, r in enumerate(reasons_el):
            re_ = _Elem(ctx, r, f"{pe.path}/reason[{i}]")
            reasons.append(
                PolicyOverrideReason(
                    type=re_.value("type", "reason/type", required=True) or "",
                    comment=re_.text("comment") or None,
                )
            )
        evaluated = PolicyEvaluated(
            disposition=pe.value("disposition", required=True) or "",
            dkim=pe.value("dkim", "policy_evaluated/dkim", required=True) or "",
            spf=pe.value("spf", "policy_evaluated/spf", required=True) or "",
            reasons=reasons,
        )
    ids = rec.sub("identifiers", required=False)
    if ids is None:
        ctx.odd(f"{path}/identifiers", "required element missing")
        identifiers = Identifiers(header_from="")
    else:
        env_from = ids.text("envelope_from")
        identifiers = Identifiers(
            header_from=ids.required("header_from", lenient=True),
            envelope_from=env_from,
            envelope_to=ids.text("envelope_to") or None,
        )
    ar = rec.sub("auth_results", required=False)
    auth = AuthResults()
    if ar is None:
        ctx.odd(f"{path}/auth_results", "required element missing")
    else:
        for kind in ("dkim", "spf"):
            if len(ar.all(kind)) > ctx.limits.max_auth_results:
                raise DMARCLimitError(
                    f"{ar.path}/{kind}: more than {ctx.limits.max_auth_results} results"
                )
        for i, d in enumerate(ar.all("dkim")):
            de = _Elem(ctx, d, f"{ar.path}/dkim[{i}]")
            auth.dkim.append(
                DKIMResult(
                    domain=de.required("domain", lenient=True).lower(),
                    result=de.value("result", "dkim/result", required=True) or "",
                    selector=de.text("selector") or None,
                    human_result=de.text("human_result") or None,
                )
            )
        for i, s in enumerate(ar.all("spf")):
            se = _Elem(ctx, s, f"{ar.path}/spf[{i}]")
            scope = se.value("scope")
            auth.spf.append(
                SPFResult(
                    domain=se.required("domain", lenient=True).lower(),
                    result=se.value("result", "spf/result", required=True) or "",
                    scope=scope,
                    human_result=se.text("human_result") or None,
                )
            )
    return Record(row=Row(source_ip, count, evaluated), identifiers=identifiers, auth_results=auth)


def report_from_element(
    root: ET.Element, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParseResult:
    """Build a Report from a parsed XML root element."""
    ctx = _Ctx(strict, limits)
    return ParseResult(_report(ctx, root), ctx.warnings)


# Children of <feedback> kept in the tree while parsing; records are converted and dropped.
_KEPT = ("report_metadata", "policy_published", "version")


class _Records:
    """The children of <feedback> as the parser ends them.

    Records are converted at once and dropped from the tree, so a report never
    holds more than one record's elements; extension elements are noted and
    dropped. A record's error is kept for after the metadata and policy are
    checked, so errors come in the same order as from a whole tree.
    """

    def __init__(self, strict: bool, limits: Limits) -> None:
        self.ctx = _Ctx(strict, limits)  # the records' own warnings, reported last
        self.notes: list[str] = []  # extension elements of <feedback>, in document order
        self.records: list[Record] = []
        self.count = 0
        self.error: DMARCReportError | None = None
        self.is_report: bool | None = None  # whether the root is <feedback>

    def __call__(self, root: ET.Element, el: ET.Element) -> bool:
        if self.is_report is None:
            self.is_report = _split(root.tag)[1] == "feedback"
        if not self.is_report:
            return False  # not a report: the root's name is the error
        tag = el.tag
        ns, local = _split(tag) if tag[:1] == "{" else ("", tag)
        if ns not in _REPORT_NAMESPACES:
            self.notes.append(f"/feedback/{local}: extension element in namespace {ns!r} ignored")
            return False
        if local != "record":
            return local in _KEPT
        self.count += 1
        if self.count > self.ctx.limits.max_records:
            raise DMARCLimitError(
                f"/feedback/record: more than {self.ctx.limits.max_records} records"
            )
        if self.error is None:
            try:
                self.records.append(_record(self.ctx, el, f"/feedback/record[{self.count - 1}]"))
            except DMARCLimitError:
                raise
            except DMARCReportError as e:
                self.error = e
        return False


def _report(ctx: _Ctx, root: ET.Element, streamed: _Records | None = None) -> Report:
    ns, local = _split(root.tag) if isinstance(root.tag, str) else ("", "")
    if local != "feedback":
        raise AggregateReportError(f"root element is <{local}>, expected <feedback>", "/")
    if ns not in _REPORT_NAMESPACES:
        ctx.odd("/feedback", f"unknown namespace {ns!r}")
    fb = _Elem(ctx, root, "/feedback")
    if streamed is None:
        records_el = fb.all("record")
        if len(records_el) > ctx.limits.max_records:
            raise DMARCLimitError(f"/feedback/record: more than {ctx.limits.max_records} records")
        count = len(records_el)
    else:
        ctx.warnings.extend(streamed.notes)
        count = streamed.count
    if not count:
        ctx.odd("/feedback/record", "no records")
    version = fb.text("version")
    if version is not None and version not in ("1.0", "1"):
        ctx.note("/feedback/version", f"unexpected version {version!r}")
    metadata = _metadata(ctx, fb)
    policy_published = _policy_published(ctx, fb)
    if streamed is None:
        records = [_record(ctx, el, f"/feedback/record[{i}]") for i, el in enumerate(records_el)]
    else:
        if streamed.error is not None:
            raise streamed.error
        records = streamed.records
        ctx.warnings.extend(streamed.ctx.warnings)
    return Report(
        metadata=metadata,
        policy_published=policy_published,
        records=records,
        version=version or None,
        format="rfc9990" if ns == NAMESPACE_RFC9990 else "rfc7489",
        namespace=ns or None,
    )


def _budget(limits: Limits) -> Budget:
    """The work one message (or one file) may cost, all parts together."""
    return Budget(
        max_bytes=limits.max_decompressed_bytes,
        max_elements=limits.max_elements,
        limit_error=DMARCLimitError,
    )


@dataclass(frozen=True)
class _Source:
    """Report bytes as given: XML, gzip or zip."""

    data: bytes

    def chunks(
        self, limits: Limits, budget: Budget, trailing: list[int] | None = None
    ) -> Iterator[bytes]:
        """The XML, decompressed as it is read; every byte is charged to the budget.
        *trailing*: lenient, bytes after the gzip data are counted there, not refused."""
        if is_gzip(self.data):
            it = gunzip_chunks(self.data, limits.max_decompressed_bytes, trailing)
        elif is_zip(self.data):
            it = unzip_chunks(self.data, limits.max_decompressed_bytes)
        else:
            it = slices(self.data)
        for chunk in it:
            budget.charge_bytes(len(chunk))
            yield chunk


def _parse_stream(
    chunks: Iterator[bytes], strict: bool, limits: Limits, budget: Budget
) -> ParseResult:
    ctx = _Ctx(strict, limits)
    records = _Records(strict, limits)
    stream_limits = StreamLimits(max_depth=limits.max_depth, max_stall_bytes=limits.max_stall_bytes)
    root = parse_stream(chunks, stream_limits, budget, records)
    report = _report(ctx, root, records)
    return ParseResult(report, ctx.warnings)


def _parse_source(source: _Source, strict: bool, limits: Limits, budget: Budget) -> ParseResult:
    """Parse incrementally. In lenient mode, bytes after gzip data are ignored, and
    malformed XML is retried with the repairs of _REPAIRS applied one after
    another; each repair made is a warning of the result, never silent."""
    trailing: list[int] | None = None if strict else []
    try:
        result = _parse_stream(source.chunks(limits, budget, trailing), strict, limits, budget)
    except XMLError as e:
        if strict or isinstance(e, ForbiddenXMLError):
            raise
        cause = e
    else:
        result.warnings[0:0] = _trailing_notes(trailing)
        return result
    trailing = []
    data = b"".join(source.chunks(limits, budget, trailing))
    made: list[str] = []
    for repair, note in _REPAIRS:
        fixed = repair(data)
        if fixed == data:
            continue
        data = fixed
        made.append(note)
        try:
            result = _parse_stream(slices(data), strict, limits, budget)
        except XMLError:
            continue
        result.warnings[0:0] = [*_trailing_notes(trailing), f"{cause}; {'; '.join(made)}"]
        return result
    raise cause


def _trailing_notes(trailing: list[int] | None) -> list[str]:
    return [f"gzip data followed by {n} trailing bytes, ignored" for n in trailing or []]


_DECLARATION_RE = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*?\?>")
_ENCODING_RE = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_FEEDBACK_START_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?feedback[\s>/]")
_FEEDBACK_END_RE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?feedback\s*>")


def _declaration(data: bytes) -> tuple[bytes, str]:
    """The XML declaration (b"" if none) and the encoding it declares (utf-8 if none)."""
    m = _DECLARATION_RE.match(data)
    if m is None:
        return b"", "utf-8"
    enc = _ENCODING_RE.search(m.group())
    return m.group(), enc.group(1).decode("ascii") if enc else "utf-8"


def _reencode(data: bytes) -> bytes:
    """Bytes that are invalid in the declared encoding replaced (U+FFFD); the
    document is then UTF-8 and says so."""
    decl, encoding = _declaration(data)
    try:
        data.decode(encoding)
        return data
    except LookupError:
        return data  # an unknown encoding: the parser's own error stands
    except UnicodeDecodeError:
        pass
    text = data.decode(encoding, errors="replace")
    body = text[len(decl.decode("latin-1")) :] if decl else text
    return b'<?xml version="1.0" encoding="UTF-8"?>' + body.encode("utf-8")


def _only_feedback(data: bytes) -> bytes:
    """The <feedback> element alone, without what a sender left around it (a
    stray start tag such as a leftover <xs:schema ...> that is never closed)."""
    start = _FEEDBACK_START_RE.search(data)
    ends = list(_FEEDBACK_END_RE.finditer(data))
    if start is None or not ends or ends[-1].end() <= start.start():
        return data
    decl, _ = _declaration(data)
    fixed = decl + data[start.start() : ends[-1].end()]
    return data if fixed.strip() == data.strip() else fixed


def _stray_markup(data: bytes) -> bytes:
    """Escape stray '<' and '&' in text, as some reporters send."""
    return _STRAY_AMP_RE.sub(b"&amp;", _STRAY_LT_RE.sub(b"&lt;", data))


_REPAIRS = (
    (_reencode, "bytes invalid in the declared encoding replaced"),
    (_only_feedback, "content outside <feedback> dropped"),
    (_stray_markup, "repaired stray '<' or '&' in text"),
)


def parse_report_xml(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParseResult:
    """Parse an aggregate report from XML bytes."""
    if len(data) > limits.max_decompressed_bytes:
        raise DMARCLimitError(f"XML report larger than {limits.max_decompressed_bytes} bytes")
    return _parse_source(_Source(data), strict, limits, _budget(limits))


def parse_report(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParseResult:
    """Parse a report given as XML, .xml.gz, .zip or a whole report message.

    Raises a DMARCReportError (DMARCInputError, DMARCLimitError, XMLError, AggregateReportError).
    """
    if len(data) > limits.max_input_bytes:
        raise DMARCLimitError(f"input larger than {limits.max_input_bytes} bytes")
    if is_gzip(data) or is_zip(data):
        return _parse_source(_Source(data), strict, limits, _budget(limits))
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"<" or not stripped:
        return parse_report_xml(data, strict=strict, limits=limits)
    if looks_like_message(data):
        return _parse_message(data, strict=strict, limits=limits)
    raise DMARCInputError("input is not XML, gzip, zip or a report message")


def _parse_message(data: bytes, *, strict: bool, limits: Limits) -> ParseResult:
    parts = report_parts(data, limits.max_report_parts)
    if not parts:
        raise DMARCInputError("message contains no DMARC report attachment (xml, gzip or zip)")
    budget = _budget(limits)  # one for the whole message, not one per part
    first_error: DMARCReportError | None = None
    for part in parts:
        try:
            return _parse_source(_Source(part.data), strict, limits, budget)
        except DMARCLimitError as e:
            raise DMARCLimitError(f"{part.describe()}: {e}") from None
        except DMARCReportError as e:
            log.debug("report part unusable", extra={"part": part.describe(), "err": str(e)})
            if first_error is None:
                if isinstance(e, AggregateReportError):
                    first_error = AggregateReportError(e.reason, f"{part.describe()}: {e.path}")
                else:
                    first_error = type(e)(f"{part.describe()}: {e}")
    assert first_error is not None
    raise first_error
