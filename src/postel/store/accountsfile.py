"""Adding and removing accounts in the text of domains.toml (pure).

Edits go through tomlkit so comments and layout elsewhere stay as they were;
the result is validated with the DomainsConfig model before anyone writes it.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tomlkit
from pydantic import ValidationError
from tomlkit.items import InlineTable, Table

from postel.config.domains import DomainsConfig
from postel.config.errors import ConfigError, ConfigProblem
from postel.config.locate import find_line
from postel.config.model import StaticConfig
from postel.config.names import check_address


def validate_domains(text: str, filename: str) -> DomainsConfig:
    """Parse and check domains.toml text; ConfigError names file, line, field."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(filename, None, "", f"TOML syntax error: {exc}")]) from exc
    try:
        return DomainsConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append(
                ConfigProblem(filename, find_line(text, loc), ".".join(map(str, loc)), msg)
            )
        raise ConfigError(problems) from exc


def add_account(text: str, name: str, address: str, *, full_name: str = "") -> str:
    """domains.toml text with account *name* for *address* added (not yet validated)."""
    address = check_address(address)
    doc = tomlkit.parse(text)
    accounts = doc.get("accounts")
    if accounts is not None and name in accounts:
        raise ValueError(f"account {name!r} already exists")
    fields: dict[str, Any] = {"domain": address.rpartition("@")[2], "addresses": [address]}
    if full_name:
        fields["full_name"] = full_name
    if isinstance(accounts, InlineTable):
        inline = tomlkit.inline_table()
        inline.update(fields)
        accounts[name] = inline
    else:
        table = tomlkit.table()
        for key, value in fields.items():
            table.add(key, value)
        if accounts is None:
            accounts = tomlkit.table(is_super_table=True)
            doc.append("accounts", accounts)
        if not isinstance(accounts, Table):
            raise ValueError("accounts in domains.toml is not a table")
        accounts.append(name, table)
    return tomlkit.dumps(doc)


def remove_account(text: str, name: str) -> str:
    """domains.toml text without account *name* (not yet validated)."""
    doc = tomlkit.parse(text)
    accounts = doc.get("accounts")
    if accounts is None or name not in accounts:
        raise ValueError(f"no account {name!r} in domains.toml")
    del accounts[name]
    return tomlkit.dumps(doc)


def static_references(static: StaticConfig, name: str) -> list[str]:
    """Settings of postel.toml that name account *name*."""
    refs = []
    if static.postmaster_account == name:
        refs.append("postmaster_account")
    if static.host_tlsrpt.localpart and static.host_tlsrpt.account == name:
        refs.append("host_tlsrpt.account")
    return refs


def alias_references(domains: DomainsConfig, addresses: list[str]) -> list[str]:
    """Aliases ("localpart@domain") with one of *addresses* as a destination."""
    wanted = {a.lower() for a in addresses}
    return [
        f"{lp}@{dname}"
        for dname, dom in domains.domains.items()
        for lp, dests in dom.aliases.items()
        if any(d.lower() in wanted for d in dests)
    ]
