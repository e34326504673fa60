"""smtplib clients of an SMTP service under test, for the test environments
(smtpserver_env, security_env) that start one with a test CA on loopback."""

from __future__ import annotations

import smtplib
import ssl

import trustme


class SMTPClients:
    """Mixed into an environment that has the test CA and the bound ports
    (kind -> port: smtp, submission, submissions)."""

    ca: trustme.CA
    ports: dict[str, int]

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP(
            "127.0.0.1", self.ports["smtp"], local_hostname="client.sender.test", timeout=10
        )

    def submission(self) -> smtplib.SMTP:
        return smtplib.SMTP(
            "127.0.0.1", self.ports["submission"], local_hostname="laptop", timeout=10
        )

    def submissions(self) -> smtplib.SMTP_SSL:
        return smtplib.SMTP_SSL(
            "127.0.0.1",
            self.ports["submissions"],
            local_hostname="laptop",
            timeout=10,
            context=self.client_context(),
        )
