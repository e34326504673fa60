"""Applying edits of domains.toml from the admin: validate, write atomically, reload."""

from __future__ import annotations

import logging
from collections.abc import Callable

from postel.config import Config, ConfigError, DomainsConfig
from postel.fsutil import write_atomic
from postel.store.accountsfile import validate_domains
from postel.web.errors import EditError

log = logging.getLogger("postel.web")


def problems_text(exc: ConfigError) -> str:
    return "; ".join(str(p) for p in exc.problems)


def apply_domains_edit(cfg: Config, edit: Callable[[str], str]) -> DomainsConfig:
    """Run *edit* on the current domains.toml text, validate the result, write it
    atomically (keeping the file mode) and make the running configuration use it.
    Raises EditError naming the file and the problem."""
    path = cfg.domains_file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditError(f"{path}: cannot read: {exc}") from exc
    try:
        new_text = edit(text)
    except ValueError as exc:
        raise EditError(f"{path}: {exc}") from exc
    try:
        domains = validate_domains(new_text, str(path))
    except ConfigError as exc:
        raise EditError(problems_text(exc)) from exc
    mode = path.stat().st_mode & 0o777
    write_atomic(path, new_text.encode("utf-8"), mode=mode)
    cfg.domains = domains  # the running server reads cfg.domains afresh
    log.info("domains.toml changed", extra={"file": str(path)})
    return domains
