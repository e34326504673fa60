"""local_only delivery: nothing leaves the machine (localserve, tests)."""

from __future__ import annotations

import logging

from postel.config import Config
from postel.delivery.request import DeliveryRequest, RecipientOutcome
from postel.store.api import Accounts
from postel.store.routing import resolve_for_config

LOCALSERVE_MAILBOX = "Localserve"


def deliver_local(
    cfg: Config, store: Accounts, req: DeliveryRequest, log: logging.Logger
) -> list[RecipientOutcome]:
    """Local recipients go to their mailboxes; everything else once into the
    sender account's "Localserve" mailbox (the postmaster account without sender)."""
    outcomes: list[RecipientOutcome] = []
    delivered: set[tuple[str, str]] = set()
    catchall = req.sender_account or cfg.static.postmaster_account
    for rcpt in req.rcpts:
        dest = resolve_for_config(cfg, rcpt)
        targets = list(dest.accounts) if dest is not None else []
        if dest is None or dest.forward:
            targets.append((catchall, LOCALSERVE_MAILBOX))
        for account, mailbox in targets:
            if (account, mailbox) in delivered:
                continue
            store.account(account).deliver(mailbox, req.message, requiretls=req.requiretls)
            delivered.add((account, mailbox))
            log.info(
                "local-only delivery", extra={"rcpt": rcpt, "account": account, "mailbox": mailbox}
            )
        outcomes.append(
            RecipientOutcome(
                rcpt, "delivered", 250, "2.0.0", "delivered locally (local_only mode)", "localhost"
            )
        )
    return outcomes
