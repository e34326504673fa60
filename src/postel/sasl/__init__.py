"""SASL mechanisms and the password check behind them, shared by SMTP AUTH and IMAP."""

from postel.sasl.login import LoginRefused, PasswordCheck, ScramKeys
from postel.sasl.mechanisms import SASLError, ScramServer, decode_b64, decode_plain, decode_text

__all__ = [
    "LoginRefused",
    "PasswordCheck",
    "SASLError",
    "ScramKeys",
    "ScramServer",
    "decode_b64",
    "decode_plain",
    "decode_text",
]
