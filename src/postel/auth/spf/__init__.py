"""SPF (RFC 7208): record parsing and check_host() evaluation."""

from postel.auth.spf.evaluate import check_host
from postel.auth.spf.record import Mechanism, Modifier, Record, parse_record, select_record

__all__ = ["Mechanism", "Modifier", "Record", "check_host", "parse_record", "select_record"]
