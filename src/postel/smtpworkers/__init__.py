"""SMTP worker processes: `postel serve` runs its SMTP listeners in N processes.

The main process reserves every SMTP port (bound with SO_REUSEPORT, not
listening), starts the workers (``python -m postel.smtpworkers.worker``), each
of which listens on the same ports with SO_REUSEPORT so the kernel spreads
connections over them, and keeps the queue loop, web and reports itself.
Workers report on a pipe (ready / error / queue wake-up), die with the main
process (PR_SET_PDEATHSIG, stdin EOF) and are restarted with backoff when
they crash.
"""

from postel.smtpworkers.count import worker_count
from postel.smtpworkers.errors import WorkerStartError
from postel.smtpworkers.supervisor import Supervisor

__all__ = ["Supervisor", "WorkerStartError", "worker_count"]
