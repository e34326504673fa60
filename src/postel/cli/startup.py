"""Running the server from a command: an operator's mistake is one line, a bug is logged.

``postel serve`` and ``postel localserve`` run the instance through
:func:`run_or_exit`. A mistake the operator can fix (port in use or not
permitted, certificate and key that do not match, a file that cannot be read,
a data directory of a newer postel) ends with ``error: <what and where>;
<what to do>`` on stderr and exit status 1, never a traceback. Anything else
is a bug: its traceback goes to the log with a cid, and the one line on
stderr names that cid.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from postel.cli.common import fail

log = logging.getLogger("postel.serve")

# OSErrors about a file that an operator fixes (create it, correct its owner or mode).
FILE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.EROFS, errno.ENOSPC})


def operator_message(exc: BaseException) -> str | None:
    """The one-line message for an operator's mistake; None for a bug."""
    from postel.datadir import DataDirError
    from postel.metrics.errors import MetricsListenError
    from postel.pg.errors import PgError
    from postel.preflight import StartupError
    from postel.privdrop import PrivDropError
    from postel.smtpserver.errors import BindError, ListenerConfigError
    from postel.smtpworkers import WorkerStartError
    from postel.web.errors import ListenError

    if isinstance(exc, (StartupError, DataDirError, PrivDropError)):
        return str(exc)
    if isinstance(exc, (BindError, ListenError, MetricsListenError)):
        # Lost a race with another program after the start-up check.
        return f"{_one_line(exc)}; stop the program that uses the port or change the port"
    if isinstance(exc, (ListenerConfigError, WorkerStartError, PgError)):
        return _one_line(exc)  # PgError: the PostgreSQL store unreachable or not migrated
    if isinstance(exc, OSError) and exc.errno in FILE_ERRNOS and exc.filename:
        return (
            f"{exc.filename}: {exc.strerror}; check that it exists and that the user "
            "postel runs as may read and write it"
        )
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def report_bug(exc: BaseException) -> NoReturn:
    """Log *exc* with its traceback and a cid; one line on stderr; exit 1."""
    from postel.log import cid_context

    with cid_context() as cid:
        log.error(
            "postel stops on an unexpected error (a bug; please report it with this line)",
            extra={
                "err": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(traceback.format_exception(exc)),
            },
        )
    fail(f"unexpected error, postel stopped: {type(exc).__name__}; see the log line cid={cid:x}")


def run_or_exit(
    main: Callable[[], Coroutine[Any, Any, None]],
    *,
    in_use_hint: Callable[[str], str] | None = None,
) -> None:
    """Run *main* (the server) with asyncio; exit 1 with one line on an operator's
    mistake (reworded by *in_use_hint* for a port in use), log a bug and exit 1."""
    from postel.preflight import PortInUseError
    from postel.smtpserver.errors import BindError
    from postel.web.errors import ListenError

    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        pass
    except Exception as exc:  # every exception ends here: one line or a logged bug
        message = operator_message(exc)
        if message is None:
            report_bug(exc)
        if in_use_hint is not None and isinstance(exc, (PortInUseError, BindError, ListenError)):
            message = in_use_hint(message)
        fail(message)
