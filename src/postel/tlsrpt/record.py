"""The `_smtp._tls` TXT record (RFC 8460 §3)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from postel.tlsrpt.errors import MultipleRecordsError, RecordError

VERSION = "TLSRPTv1"
RECORD_PREFIX = "_smtp._tls"

# RFC 8460 §3: records not beginning with "v=TLSRPTv1;" are discarded.
_VERSION_RE = re.compile(r"^v=TLSRPTv1[ \t]*(?:;|$)")
_EXT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
_EXT_VALUE_RE = re.compile(r"^[\x21-\x3a\x3c\x3e-\x7e]+$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")


@dataclass
class Record:
    """A parsed TLSRPT policy record."""

    rua: list[str]
    extensions: list[tuple[str, str]] = field(default_factory=list)
    version: str = VERSION

    def to_txt(self) -> str:
        """The record as TXT string, e.g. `v=TLSRPTv1; rua=mailto:tls@example.com`."""
        parts = [f"v={self.version}", "rua=" + ",".join(self.rua)]
        parts.extend(f"{k}={v}" for k, v in self.extensions)
        return "; ".join(parts)

    def mailto_addresses(self) -> list[str]:
        """The addresses of the mailto: URIs (without query)."""
        out = []
        for uri in self.rua:
            if uri[:7].lower() == "mailto:":
                out.append(urllib.parse.unquote(uri[7:].split("?", 1)[0]))
        return out

    def https_uris(self) -> list[str]:
        return [uri for uri in self.rua if uri[:6].lower() == "https:"]


def record_name(domain: str) -> str:
    """The DNS name holding the TLSRPT record for `domain` (RFC 8460 §3)."""
    return f"{RECORD_PREFIX}.{domain.rstrip('.')}"


def is_tlsrpt_text(text: str) -> bool:
    """Whether a TXT string claims to be a TLSRPT record."""
    return _VERSION_RE.match(text) is not None


def validate_uri(uri: str, field_name: str = "rua") -> str:
    """Check one rua URI: mailto with an address, or https with a host (RFC 8460 §3)."""
    if not uri:
        raise RecordError("empty URI", field_name)
    scheme, sep, rest = uri.partition(":")
    if not sep or not _SCHEME_RE.match(scheme):
        raise RecordError(f"not a URI: {uri!r}", field_name)
    if any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        raise RecordError(f"URI contains whitespace or control characters: {uri!r}", field_name)
    scheme = scheme.lower()
    if scheme == "mailto":
        addr = urllib.parse.unquote(rest.split("?", 1)[0])
        local, at, domain = addr.rpartition("@")
        if not at or not local or not domain or "." not in domain.strip("."):
            raise RecordError(f"mailto URI without a valid address: {uri!r}", field_name)
    elif scheme == "https":
        try:
            parsed = urllib.parse.urlsplit(uri)
            host = parsed.hostname
            _ = parsed.port
        except ValueError as e:
            raise RecordError(f"invalid https URI {uri!r}: {e}", field_name) from None
        if not rest.startswith("//") or not host:
            raise RecordError(f"https URI without a host: {uri!r}", field_name)
    else:
        raise RecordError(
            f"unsupported URI scheme {scheme!r} in {uri!r} (only mailto and https)", field_name
        )
    return uri


def parse_record(text: str) -> Record:
    """Parse one TLSRPT TXT record (RFC 8460 §3). Raises RecordError naming the field."""
    if not is_tlsrpt_text(text):
        raise RecordError(f"record does not start with v={VERSION}: {text[:40]!r}", "v")
    fields = [f.strip(" \t") for f in text.split(";")]
    # First field is the version; a trailing ";" gives one empty field (allowed).
    if fields and fields[-1] == "":
        fields.pop()
    rua: list[str] | None = None
    extensions: list[tuple[str, str]] = []
    for index, item in enumerate(fields[1:], start=1):
        if not item:
            raise RecordError(f"empty field at position {index}", "record")
        name, eq, value = item.partition("=")
        if not eq:
            raise RecordError(f"field without '=': {item!r}", "record")
        if name == "rua":
            # RFC 8460 §3: the grammar repeats tlsrpt-field, so rua may be given
            # more than once; every URI is used, each once.
            uris = [validate_uri(u.strip(" \t")) for u in value.split(",")]
            rua = list(dict.fromkeys([*(rua or []), *uris]))
        elif name == "v":
            raise RecordError("version given more than once", "v")
        else:
            if not _EXT_NAME_RE.match(name):
                raise RecordError(f"invalid extension name {name!r}", name or "record")
            if not _EXT_VALUE_RE.match(value):
                raise RecordError(f"invalid extension value {value!r}", name)
            extensions.append((name, value))
    if rua is None:
        raise RecordError("required field missing", "rua")
    return Record(rua=rua, extensions=extensions)


def select_record(texts: list[str]) -> Record | None:
    """Choose the TLSRPT record among a name's TXT strings (RFC 8460 §3).

    Strings not starting with v=TLSRPTv1 are ignored; none gives None; more than
    one raises MultipleRecordsError; a malformed one raises RecordError.
    """
    candidates = [t for t in texts if is_tlsrpt_text(t)]
    if not candidates:
        return None
    if len(candidates) > 1:
        raise MultipleRecordsError(
            f"{len(candidates)} TXT records start with v={VERSION}, expected one", "v"
        )
    return parse_record(candidates[0])
