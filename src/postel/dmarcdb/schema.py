"""Schema of dmarcrpt.db: received DMARC aggregate reports (RFC 7489 §7.2, RFC 9990)."""

from __future__ import annotations

from postel.db import Migration

MIGRATIONS: list[Migration] = [
    """
    -- One row per distinct report: (organization, report_id, domain) identifies it
    -- (RFC 7489 appendix C report_id is unique per reporter; the domain guards
    -- against reporters that reuse ids across domains).
    CREATE TABLE report (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received TEXT NOT NULL,
        from_addr TEXT NOT NULL DEFAULT '',
        to_rcpt TEXT NOT NULL DEFAULT '',
        organization TEXT NOT NULL,
        report_id TEXT NOT NULL,
        domain TEXT NOT NULL,
        format TEXT NOT NULL DEFAULT 'rfc7489',
        begin INTEGER NOT NULL,
        end INTEGER NOT NULL,
        day TEXT NOT NULL,
        record_count INTEGER NOT NULL,
        message_count INTEGER NOT NULL,
        dkim_pass INTEGER NOT NULL,
        dkim_fail INTEGER NOT NULL,
        spf_pass INTEGER NOT NULL,
        spf_fail INTEGER NOT NULL,
        dmarc_pass INTEGER NOT NULL,
        dmarc_fail INTEGER NOT NULL,
        json TEXT NOT NULL,
        warnings TEXT NOT NULL DEFAULT '[]',
        message_ref TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX report_org_id ON report (organization, report_id, domain);
    CREATE INDEX report_domain_day ON report (domain, day);
    CREATE INDEX report_day ON report (day);
    -- The report's rows, for per-source views.
    CREATE TABLE record (
        report INTEGER NOT NULL REFERENCES report(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        source_ip TEXT NOT NULL,
        count INTEGER NOT NULL,
        disposition TEXT NOT NULL,
        dkim TEXT NOT NULL,
        spf TEXT NOT NULL,
        header_from TEXT NOT NULL,
        PRIMARY KEY (report, idx)
    );
    CREATE INDEX record_source_ip ON record (source_ip);
    CREATE TABLE duplicate (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        report INTEGER NOT NULL REFERENCES report(id) ON DELETE CASCADE,
        received TEXT NOT NULL,
        from_addr TEXT NOT NULL DEFAULT '',
        to_rcpt TEXT NOT NULL DEFAULT '',
        message_ref TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX duplicate_report ON duplicate (report);
    """,
]
