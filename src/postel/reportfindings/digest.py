"""The daily digest mail of findings (pure): plain text, one paragraph each."""

from __future__ import annotations

import datetime as dt
import email.utils
import secrets

from postel.reportfindings.findings import Findings, anchor

# Lines listed per kind; the admin pages list all of them.
MAX_LINES = 50


def _clean(text: str, limit: int = 200) -> str:
    """A value from a received report, safe on one line of the mail."""
    return "".join(c if c.isprintable() else " " for c in text)[:limit]


def _check(domain: str, section: str) -> str:
    return f"/admin/domains/{domain}/check#{anchor(section)}"


def digest_text(found: Findings, day: dt.date) -> str:
    lines = [
        f"Reports received on {day.isoformat()} (UTC) show problems with mail to or from",
        "your domains. Each item names the admin page that explains it.",
        "",
    ]
    if found.tls:
        lines += [
            "Senders could not deliver securely to you (TLS reports, RFC 8460):",
            "",
        ]
        for f in found.tls[:MAX_LINES]:
            what = _clean(", ".join(f.results)) or "no details given"
            lines += [
                f"- {_clean(f.organization)}: {f.failures} failed session(s) on the "
                f"{_clean(f.policy_type)} policy of {f.policy_domain} ({_clean(f.day)}): {what}",
                f"  report: /admin/tlsrpt/{f.report}",
                f"  check:  {_check(f.check_domain, f.section)}",
            ]
        if len(found.tls) > MAX_LINES:
            lines.append(f"- and {len(found.tls) - MAX_LINES} more")
        lines.append("")
    if found.dmarc:
        lines += [
            "Mail from your domains failed DMARC from addresses this server does not",
            "send from (DMARC reports, RFC 7489). If such an address is yours (a",
            "newsletter service), add it to SPF and have it sign with DKIM; otherwise",
            "someone sends as you and your DMARC policy decides what receivers do.",
            "",
        ]
        for d in found.dmarc[:MAX_LINES]:
            lines += [
                f"- {d.domain}: {d.messages} message(s) from {_clean(d.source_ip)}, reported by "
                f"{_clean(', '.join(d.organizations))} ({_clean(d.first_day)}"
                + (f" to {_clean(d.last_day)}" if d.last_day != d.first_day else "")
                + f"), disposition {_clean(', '.join(d.dispositions))}",
                f"  report: /admin/dmarc/{d.reports[0]}",
                f"  check:  {_check(d.domain, d.section)}",
            ]
        if len(found.dmarc) > MAX_LINES:
            lines.append(f"- and {len(found.dmarc) - MAX_LINES} more")
        lines.append("")
    return "\r\n".join(lines)


def digest_message(
    found: Findings,
    day: dt.date,
    *,
    mail_from: str,
    rcpt: str,
    hostname: str,
    now: dt.datetime | None = None,
) -> bytes:
    """The digest as an RFC 5322 message, marked as automatic (RFC 3834 §5)."""
    when = now or dt.datetime.now(dt.UTC)
    head = [
        f"From: postel <{mail_from}>",
        f"To: <{rcpt}>",
        f"Subject: Problems others reported on {day.isoformat()}",
        f"Date: {email.utils.format_datetime(when)}",
        f"Message-ID: <findings-{day.isoformat()}-{secrets.token_hex(6)}@{hostname}>",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + digest_text(found, day) + "\r\n").encode()
