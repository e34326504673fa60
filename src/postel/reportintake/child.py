"""Report intake in a child process, under a hard memory and CPU budget.

The report parsers bound their own work (postel.dmarcrpt, postel.tlsrpt); this
bounds whatever they might still miss, and keeps the work away from the
process that received the report: the SMTP worker's event loop and memory do
not pay for a parse. The child (``python -m postel.reportintake``) limits its
own address space and CPU time with setrlimit(2) before it reads the message,
prints the outcome as one JSON line and exits; the parent also stops it at a
wall-clock deadline. A child stopped by a limit is reported as an unparseable
report, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import signal
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path

import postel
from postel.pg.target import PgTarget
from postel.reportintake.result import IntakeResult, Status

# Exit status of a child whose address-space limit made an allocation fail.
EXIT_MEMORY = 3


@dataclass(frozen=True)
class ChildLimits:
    """The hard budget of one intake child. The parsers' own limits keep a report
    far below it (about 100 MB and 1 s); this is the backstop."""

    max_address_space: int = 256 * 1024 * 1024  # RLIMIT_AS, bytes
    max_cpu_seconds: int = 5  # RLIMIT_CPU
    timeout: float = 60.0  # wall clock, seconds
    max_concurrent: int = 2  # children at once per event loop; more wait


DEFAULT_CHILD_LIMITS = ChildLimits()

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slot(n: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    sem = _slots.get(loop)
    if sem is None:
        sem = _slots[loop] = asyncio.Semaphore(n)
    return sem


def _env() -> dict[str, str]:
    """The child imports the same postel as this process."""
    here = str(Path(postel.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=f"{here}{os.pathsep}{path}" if path else here)


def _stopped(kind: str, rcpt: str, why: str) -> IntakeResult:
    return IntakeResult(kind, rcpt, Status.UNPARSEABLE, error=f"report intake stopped: {why}")


async def run_in_child(
    datadir: Path,
    kind: str,
    message_path: Path,
    rcpt: str,
    max_bytes: int | None,
    limits: ChildLimits,
    pg: PgTarget | None = None,
) -> IntakeResult:
    """Take the report in by a child process; its outcome, or why it was stopped.
    *pg*: store on that PostgreSQL store (the child reads the password file)."""
    args = {
        "datadir": str(datadir),
        "kind": kind,
        "path": str(message_path),
        "rcpt": rcpt,
        "max_bytes": max_bytes,
        "address_space": limits.max_address_space,
        "cpu_seconds": limits.max_cpu_seconds,
        "pg": pg.to_json() if pg is not None else None,
    }
    async with _slot(limits.max_concurrent):
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "postel.reportintake",
                json.dumps(args),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_env(),
            )
        except OSError as e:
            return IntakeResult(
                kind, rcpt, Status.FAILED, error=f"cannot start report intake: {e.strerror or e}"
            )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limits.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return _stopped(kind, rcpt, f"took longer than {limits.timeout:g} s")
        finally:
            if proc.returncode is None:  # cancelled: the server is stopping
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
    rc = proc.returncode
    if rc == -signal.SIGXCPU or rc == -signal.SIGKILL:
        return _stopped(kind, rcpt, f"CPU time budget of {limits.max_cpu_seconds} s exceeded")
    if rc == EXIT_MEMORY:
        mb = limits.max_address_space // (1024 * 1024)
        return _stopped(kind, rcpt, f"memory budget of {mb} MB exceeded")
    try:
        if rc != 0:
            raise ValueError(f"exit status {rc}")
        return _decode(out)
    except (ValueError, KeyError, TypeError) as e:
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        detail = f"{e}; {last[0][:200]}" if last[0] else str(e)
        return IntakeResult(kind, rcpt, Status.FAILED, error=f"report intake failed: {detail}")


def _encode(res: IntakeResult) -> str:
    return json.dumps(dataclasses.asdict(res))


def _decode(out: bytes) -> IntakeResult:
    d = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    if not isinstance(d, dict):
        raise ValueError("child output is not an object")
    db_id = d["db_id"]
    return IntakeResult(
        kind=str(d["kind"]),
        rcpt=str(d["rcpt"]),
        status=Status(d["status"]),
        db_id=int(db_id) if db_id is not None else None,
        organization=str(d["organization"]),
        report_id=str(d["report_id"]),
        warnings=[str(w) for w in d["warnings"]],
        error=str(d["error"]),
        failures=int(d.get("failures", 0)),
    )


def main(argv: list[str]) -> int:
    """The child: limit itself, take the report in, print the outcome as JSON."""
    args = json.loads(argv[1])
    cpu = int(args["cpu_seconds"])
    space = int(args["address_space"])
    # The soft CPU limit sends SIGXCPU (which ends the process); the hard one a second later.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    from postel.reportintake.intake import take_in

    try:
        res = take_in(
            Path(args["datadir"]),
            str(args["kind"]),
            Path(args["path"]),
            str(args["rcpt"]),
            max_bytes=args["max_bytes"],
            pg=PgTarget.from_json(args["pg"]) if args.get("pg") else None,
        )
    except MemoryError:
        return EXIT_MEMORY
    sys.stdout.write(_encode(res) + "\n")
    return 0
