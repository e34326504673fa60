"""Schema of tlsrpt.db: received TLS reports (RFC 8460), forward migrations."""

from __future__ import annotations

from postel.db import Migration

MIGRATIONS: list[Migration] = [
    """
    -- One row per distinct report; (organization, report_id) identifies a report
    -- (RFC 8460 §4.4 "report-id" is unique per reporting organization).
    CREATE TABLE report (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received TEXT NOT NULL,
        from_addr TEXT NOT NULL DEFAULT '',
        to_rcpt TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL CHECK (kind IN ('domain', 'host')),
        organization TEXT NOT NULL,
        report_id TEXT NOT NULL,
        contact_info TEXT NOT NULL DEFAULT '',
        start TEXT NOT NULL,
        end TEXT NOT NULL,
        day TEXT NOT NULL,
        policy_domains TEXT NOT NULL DEFAULT '',
        successes INTEGER NOT NULL CHECK (successes >= 0),
        failures INTEGER NOT NULL CHECK (failures >= 0),
        json TEXT NOT NULL,
        warnings TEXT NOT NULL DEFAULT '[]',
        message_ref TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX report_org_id ON report (organization, report_id);
    CREATE INDEX report_day ON report (day);
    CREATE INDEX report_received ON report (received);
    -- One row per policy entry, for per-domain filters and sums.
    CREATE TABLE policy (
        report INTEGER NOT NULL REFERENCES report(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        domain TEXT NOT NULL,
        policy_type TEXT NOT NULL,
        successes INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        PRIMARY KEY (report, idx)
    );
    CREATE INDEX policy_domain ON policy (domain, report);
    -- Further copies of a report already stored (same organization and report-id).
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
