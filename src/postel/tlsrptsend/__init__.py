"""Outgoing daily TLS reports (RFC 8460 §5): grouping the recorded results of
outgoing deliveries, building reports, DKIM-signed report e-mails through the
queue and HTTPS POSTs; the daily schedule (docs/tls-reporting.md, Sending)."""

from postel.tlsrptsend.build import BuiltReport, built, report_filename, report_id, submitter_domain
from postel.tlsrptsend.errors import ReportDeliveryError
from postel.tlsrptsend.group import Key, Selection, keys_for_day, select
from postel.tlsrptsend.loop import DailyLoop, next_run
from postel.tlsrptsend.message import compose, sign
from postel.tlsrptsend.send import Outcome, ReportSender, Settings

__all__ = [
    "BuiltReport",
    "DailyLoop",
    "Key",
    "Outcome",
    "ReportDeliveryError",
    "ReportSender",
    "Selection",
    "Settings",
    "built",
    "compose",
    "keys_for_day",
    "next_run",
    "report_filename",
    "report_id",
    "select",
    "sign",
    "submitter_domain",
]
