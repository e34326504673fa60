"""Errors of the MTA-STS package (RFC 8461), with their RFC 8460 result types."""

from __future__ import annotations

from postel.errors import PostelError

# RFC 8460 §4.3.2.1 result types for MTA-STS failures.
RESULT_FETCH_ERROR = "sts-policy-fetch-error"
RESULT_POLICY_INVALID = "sts-policy-invalid"
RESULT_WEBPKI_INVALID = "sts-webpki-invalid"


def _located(what: str, *where: tuple[str, int | str | None], message: str) -> str:
    """``what, line 3, field mode: message``, leaving out unknown parts."""
    parts = [f"{name} {value}" for name, value in where if value is not None]
    return f"{', '.join([what, *parts])}: {message}"


class MTASTSError(PostelError):
    """Base of all MTA-STS errors.

    ``result_type`` is the RFC 8460 result type to report for this failure,
    or None when the condition is not a failure (no record).
    """

    @property
    def result_type(self) -> str | None:
        return None


class NoRecord(MTASTSError):
    """No `_mta-sts` TXT record starting with v=STSv1 (RFC 8461 §3.1): no MTA-STS."""


class NoPolicy(MTASTSError):
    """The policy host does not exist or answered 404 (RFC 8461 §3.3): no policy served.

    With a record published this still fails to retrieve the announced policy,
    so it is reported as sts-policy-fetch-error.
    """

    @property
    def result_type(self) -> str | None:
        return RESULT_FETCH_ERROR


class TemporaryLookupError(MTASTSError):
    """A DNS failure other than NXDOMAIN/NODATA looking up the record (RFC 8461 §3.1)."""

    @property
    def result_type(self) -> str | None:
        return RESULT_FETCH_ERROR


class RecordSyntaxError(MTASTSError):
    """An `_mta-sts` TXT record that violates RFC 8461 §3.1.

    ``offset`` is the 0-based character offset in the record value, ``field``
    the name of the field being parsed when known.
    """

    def __init__(self, message: str, *, offset: int | None = None, field: str | None = None):
        self.message = message
        self.offset = offset
        self.field = field
        super().__init__(
            _located("mta-sts record", ("offset", offset), ("field", field), message=message)
        )

    @property
    def result_type(self) -> str | None:
        return RESULT_POLICY_INVALID


class MultipleRecords(RecordSyntaxError):
    """More than one `_mta-sts` TXT record starts with v=STSv1 (RFC 8461 §3.1)."""

    def __init__(self, count: int):
        self.count = count
        super().__init__(f"{count} TXT records start with v=STSv1, expected one")


class PolicySyntaxError(MTASTSError):
    """A policy file that violates RFC 8461 §3.2.

    ``line`` is 1-based, ``field`` the policy key concerned when known.
    """

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None):
        self.message = message
        self.line = line
        self.field = field
        super().__init__(
            _located("mta-sts policy", ("line", line), ("field", field), message=message)
        )

    @property
    def result_type(self) -> str | None:
        return RESULT_POLICY_INVALID


class PolicyFetchError(MTASTSError):
    """The policy could not be fetched over HTTPS (RFC 8461 §3.3).

    ``result_type`` is sts-webpki-invalid for certificate verification
    failures, otherwise sts-policy-fetch-error.
    """

    def __init__(
        self, message: str, *, url: str | None = None, result_type: str = RESULT_FETCH_ERROR
    ):
        self.message = message
        self.url = url
        self._result_type = result_type
        super().__init__(f"{url}: {message}" if url else message)

    @property
    def result_type(self) -> str | None:
        return self._result_type
