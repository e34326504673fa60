"""Accounts: list, add (with a password), remove."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from postel.config import ConfigError
from postel.passwords import generate_password
from postel.quickstart import account_name_for
from postel.store.accountsfile import (
    add_account,
    alias_references,
    remove_account,
    static_references,
    validate_domains,
)
from postel.store.credentials import Credentials, PasswordStore
from postel.store.errors import CredentialsError, StoreError
from postel.web.admin.configedit import apply_domains_edit
from postel.web.admin.guard import field, flash, page, redirect, render
from postel.web.admin.state import admin_state
from postel.web.errors import EditError

log = logging.getLogger("postel.web")

MIN_PASSWORD_LENGTH = 8

T = TypeVar("T")


def _with_passwords(request: Request, use: Callable[[PasswordStore], T]) -> T:
    """*use* on the server's passwords (on PostgreSQL, those of every node),
    else on auth.db opened for the call. Blocking: from a thread."""
    shared = admin_state(request).passwords
    if shared is not None:
        return use(shared)
    creds = Credentials(admin_state(request).cfg.datadir.auth_db)
    try:
        return use(creds)
    finally:
        creds.close()


@page
async def index(request: Request) -> Response:
    st = admin_state(request)
    with_password = set(await asyncio.to_thread(_with_passwords, request, lambda c: c.accounts()))
    rows = [
        (name, acc, name in with_password) for name, acc in sorted(st.cfg.domains.accounts.items())
    ]
    return render(request, "admin/accounts.html", rows=rows, domains=sorted(st.cfg.domains.domains))


def _set_password(request: Request, name: str, password: str) -> None:
    _with_passwords(request, lambda c: c.set_password(name, password))


@page
async def add(request: Request) -> Response:
    st = admin_state(request)
    address = field(request, "address")
    name = field(request, "name") or (account_name_for(address) if "@" in address else "")
    password = field(request, "password")
    generated = not password
    if generated:
        password = generate_password()
    elif len(password) < MIN_PASSWORD_LENGTH:
        flash(request, f"Not added: password shorter than {MIN_PASSWORD_LENGTH}", "error")
        return redirect("/admin/accounts")
    async with st.edit_lock:
        if name in st.cfg.domains.accounts:
            flash(request, f"Not added: account {name!r} already exists", "error")
            return redirect("/admin/accounts")
        full_name = field(request, "full_name")
        try:
            text = st.cfg.domains_file.read_text(encoding="utf-8")
            validate_domains(
                add_account(text, name, address, full_name=full_name), str(st.cfg.domains_file)
            )
        except ConfigError as exc:
            flash(request, "Not added: " + "; ".join(str(p) for p in exc.problems), "error")
            return redirect("/admin/accounts")
        except (ValueError, OSError) as exc:
            flash(request, f"Not added: {exc}", "error")
            return redirect("/admin/accounts")
        try:
            st.store.account(name)
            await asyncio.to_thread(_set_password, request, name, password)
            apply_domains_edit(st.cfg, lambda t: add_account(t, name, address, full_name=full_name))
        except (EditError, StoreError, CredentialsError) as exc:
            flash(request, f"Not added: {exc}", "error")
            return redirect("/admin/accounts")
    log.info("account added", extra={"account": name})
    message = f"Account {name} added with address {address}."
    if generated:
        message += f" Its password: {password}"
    flash(request, message)
    return redirect("/admin/accounts")


@page
async def remove(request: Request) -> Response:
    st = admin_state(request)
    name = str(request.path_params["name"])
    async with st.edit_lock:
        acc = st.cfg.domains.accounts.get(name)
        if acc is None:
            flash(request, f"No account {name!r}", "error")
            return redirect("/admin/accounts")
        refs = static_references(st.cfg.static, name)
        if refs:
            flash(
                request,
                f"Not removed: account {name} is used by {', '.join(refs)} in postel.toml",
                "error",
            )
            return redirect("/admin/accounts")
        old = st.cfg.domains
        try:
            apply_domains_edit(st.cfg, lambda t: remove_account(t, name))
        except EditError as exc:
            flash(request, f"Not removed: {exc}", "error")
            return redirect("/admin/accounts")
        await asyncio.to_thread(_with_passwords, request, lambda c: c.remove(name))
    log.info("account removed", extra={"account": name})
    flash(request, f"Account {name} removed; its messages are kept in the data directory.")
    for alias in alias_references(old, acc.addresses):
        flash(request, f"Alias {alias} still points to an address of {name}.", "warning")
    return redirect("/admin/accounts")
