"""DMARC (RFC 7489): record parsing, policy discovery, alignment."""

from postel.auth.dmarc.evaluate import discover, evaluate_dmarc
from postel.auth.dmarc.record import DMARCRecord, parse_record, select_record

__all__ = ["DMARCRecord", "discover", "evaluate_dmarc", "parse_record", "select_record"]
