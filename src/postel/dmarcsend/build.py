"""Building one aggregate report (pure): metadata, published policy, rows, XML.

The report is an RFC 9990 document (namespace urn:ietf:params:xml:ns:dmarc-2.0,
version 1.0), whose elements RFC 7489 appendix C parsers also read; it is
gzip-compressed and named as RFC 7489 §7.2.1.1 says.
"""

from __future__ import annotations

import datetime as dt
import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from postel.dmarcevaldb import Evaluation
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
from postel.dmarcsend.group import ReportRow


def period(first_day: dt.date, last_day: dt.date) -> DateRange:
    """UTC days [first 00:00:00, last 23:59:59] in epoch seconds (RFC 7489 §7.2:
    reports cover whole days, on UTC day boundaries)."""
    start = dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=dt.UTC)
    end = dt.datetime(last_day.year, last_day.month, last_day.day, tzinfo=dt.UTC)
    return DateRange(int(start.timestamp()), int(end.timestamp()) + 86400 - 1)


def report_id(last_day: dt.date, policy_domain: str, submitter: str) -> str:
    """`<yyyymmdd>.<policydomain>@<submitter>`: unique per submitter and domain,
    as long as one report per domain and day goes out."""
    return f"{last_day:%Y%m%d}.{policy_domain}@{submitter}"


def policy_published(e: Evaluation) -> PolicyPublished:
    return PolicyPublished(
        domain=e.policy_domain,
        p=e.p,
        sp=e.sp,
        adkim=e.adkim,
        aspf=e.aspf,
        testing="y" if e.testing else "n",
        discovery_method="psl",  # postel finds the organizational domain with the PSL
    )


def record(r: ReportRow) -> Record:
    return Record(
        row=Row(
            source_ip=r.source_ip,
            count=r.count,
            policy_evaluated=PolicyEvaluated(
                disposition=r.disposition,
                dkim=r.dkim_aligned,
                spf=r.spf_aligned,
                reasons=[PolicyOverrideReason(t) for t in r.reasons],
            ),
        ),
        identifiers=Identifiers(header_from=r.header_from, envelope_from=r.envelope_from or None),
        auth_results=AuthResults(
            dkim=[DKIMResult(d.domain, d.result, d.selector or None) for d in r.dkim],
            spf=[] if r.spf is None else [SPFResult(r.spf.domain, r.spf.result, r.spf.scope)],
        ),
    )


def build_report(
    rows: list[ReportRow],
    latest: Evaluation,
    *,
    first_day: dt.date,
    last_day: dt.date,
    submitter: str,
    contact: str,
    generator: str,
    max_records: int,
) -> Report:
    errors = []
    if len(rows) > max_records:
        left = rows[max_records:]
        errors.append(
            f"{len(left)} rows with {sum(r.count for r in left)} messages left out "
            f"(at most {max_records} rows per report)"
        )
        rows = rows[:max_records]
    return Report(
        metadata=ReportMetadata(
            org_name=submitter,
            email=contact,
            report_id=report_id(last_day, latest.policy_domain, submitter),
            date_range=period(first_day, last_day),
            errors=errors,
            generator=generator,
        ),
        policy_published=policy_published(latest),
        records=[record(r) for r in rows],
        version="1.0",
        format="rfc9990",
        namespace=NAMESPACE_RFC9990,
    )


def _add(parent: ET.Element, tag: str, text: str | int | None) -> None:
    if text is not None:
        ET.SubElement(parent, tag).text = str(text)


def report_xml(report: Report) -> bytes:
    """The report as XML (RFC 9990 §2.1 element order), UTF-8 with declaration."""
    root = ET.Element("feedback", {"xmlns": report.namespace or NAMESPACE_RFC9990})
    _add(root, "version", report.version)
    md = report.metadata
    m = ET.SubElement(root, "report_metadata")
    _add(m, "org_name", md.org_name)
    _add(m, "email", md.email)
    _add(m, "extra_contact_info", md.extra_contact_info)
    _add(m, "report_id", md.report_id)
    dr = ET.SubElement(m, "date_range")
    _add(dr, "begin", md.date_range.begin)
    _add(dr, "end", md.date_range.end)
    for err in md.errors:
        _add(m, "error", err)
    _add(m, "generator", md.generator)
    pp = report.policy_published
    p = ET.SubElement(root, "policy_published")
    _add(p, "domain", pp.domain)
    _add(p, "p", pp.p)
    _add(p, "sp", pp.sp)
    _add(p, "np", pp.np)
    _add(p, "adkim", pp.adkim)
    _add(p, "aspf", pp.aspf)
    _add(p, "discovery_method", pp.discovery_method)
    _add(p, "fo", pp.fo)
    _add(p, "testing", pp.testing)
    for rec in report.records:
        r = ET.SubElement(root, "record")
        row = ET.SubElement(r, "row")
        _add(row, "source_ip", rec.row.source_ip)
        _add(row, "count", rec.row.count)
        pe = ET.SubElement(row, "policy_evaluated")
        _add(pe, "disposition", rec.row.policy_evaluated.disposition)
        _add(pe, "dkim", rec.row.policy_evaluated.dkim)
        _add(pe, "spf", rec.row.policy_evaluated.spf)
        for reason in rec.row.policy_evaluated.reasons:
            re_ = ET.SubElement(pe, "reason")
            _add(re_, "type", reason.type)
            _add(re_, "comment", reason.comment)
        ids = ET.SubElement(r, "identifiers")
        _add(ids, "envelope_to", rec.identifiers.envelope_to)
        _add(ids, "envelope_from", rec.identifiers.envelope_from)
        _add(ids, "header_from", rec.identifiers.header_from)
        ar = ET.SubElement(r, "auth_results")
        for d in rec.auth_results.dkim:
            de = ET.SubElement(ar, "dkim")
            _add(de, "domain", d.domain)
            _add(de, "selector", d.selector)
            _add(de, "result", d.result)
            _add(de, "human_result", d.human_result)
        for s in rec.auth_results.spf:
            se = ET.SubElement(ar, "spf")
            _add(se, "domain", s.domain)
            _add(se, "scope", s.scope)
            _add(se, "result", s.result)
            _add(se, "human_result", s.human_result)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def report_filename(report: Report, submitter: str) -> str:
    """`receiver!policy-domain!begin!end.xml.gz` (RFC 7489 §7.2.1.1)."""
    dr = report.metadata.date_range
    return f"{submitter}!{report.policy_published.domain}!{dr.begin}!{dr.end}.xml.gz"


@dataclass
class BuiltReport:
    policy_domain: str
    submitter: str
    report: Report
    xml: bytes
    gzipped: bytes
    filename: str


def built(report: Report, submitter: str) -> BuiltReport:
    xml = report_xml(report)
    return BuiltReport(
        policy_domain=report.policy_published.domain,
        submitter=submitter,
        report=report,
        xml=xml,
        # mtime 0: equal reports give equal bytes.
        gzipped=gzip.compress(xml, mtime=0),
        filename=report_filename(report, submitter),
    )
