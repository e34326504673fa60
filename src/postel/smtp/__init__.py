"""Shared SMTP pieces: addresses (SMTPUTF8, IDNA), replies, ESMTP parameters."""

from postel.smtp.address import Address, format_path, parse_address, parse_path
from postel.smtp.errors import AddressError, ParameterError, ReplyError, SMTPError
from postel.smtp.params import MailCommand, MailParams, RcptCommand, parse_mail, parse_rcpt
from postel.smtp.reply import Reply

__all__ = [
    "Address",
    "AddressError",
    "MailCommand",
    "MailParams",
    "ParameterError",
    "RcptCommand",
    "Reply",
    "ReplyError",
    "SMTPError",
    "format_path",
    "parse_address",
    "parse_mail",
    "parse_path",
    "parse_rcpt",
]
