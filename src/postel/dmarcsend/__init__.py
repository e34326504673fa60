"""Outgoing daily DMARC aggregate reports (RFC 7489 §7.2, RFC 9990 format):
grouping the evaluations of incoming mail stored in dmarceval.db, building
the XML report, DKIM-signed report e-mails through the queue; the daily
schedule is the one of TLS reports (postel.tlsrptsend.loop)."""

from postel.dmarcsend.build import BuiltReport, build_report, built, report_filename, report_xml
from postel.dmarcsend.destinations import ReportURI, parse_interval, parse_rua
from postel.dmarcsend.group import ReportRow, pending_by_domain, rows
from postel.dmarcsend.message import compose, subject
from postel.dmarcsend.send import Outcome, ReportSender, Settings

__all__ = [
    "BuiltReport",
    "Outcome",
    "ReportRow",
    "ReportSender",
    "ReportURI",
    "Settings",
    "build_report",
    "built",
    "compose",
    "parse_interval",
    "parse_rua",
    "pending_by_domain",
    "report_filename",
    "report_xml",
    "rows",
    "subject",
]
