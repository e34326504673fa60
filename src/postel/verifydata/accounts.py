"""Open every account of a data dir with the current store code, as the
server would (this migrates and may add default mailboxes: use on a copy
when the data must stay untouched). Used by scripts/test-upgrade."""

from __future__ import annotations

from pathlib import Path

from postel.datadir import DataDir


def open_accounts(root: Path) -> tuple[list[str], list[str]]:
    """Returns (account names, problems): every message of every mailbox is
    listed and its file opened, and AccountStore.check() must pass."""
    from postel.store import Store, StoreError

    problems: list[str] = []
    with Store(DataDir(Path(root))) as store:
        names = store.account_names()
        for name in names:
            try:
                acc = store.account(name, create=False)
                for box in acc.mailboxes():
                    cursor: int | None = None
                    while True:
                        page = acc.list_messages(
                            box.name, cursor=cursor, newest_first=False, limit=1000
                        )
                        for msg in page:
                            with acc.open_message(msg.msgid) as fp:
                                if len(fp.read()) != msg.size:
                                    problems.append(
                                        f"account {name!r}: message {msg.msgid} size differs"
                                    )
                        if len(page) < 1000:
                            break
                        cursor = page[-1].uid
                problems += acc.check()
            except (StoreError, OSError) as exc:
                problems.append(f"account {name!r}: {exc}")
    return names, problems
