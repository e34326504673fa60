"""Delivery worker processes: `postel serve` delivers outgoing mail in N processes.

The queue runner of the main process claims, plans and records every
attempt; its deliverer (DeliveryPool) sends each request to the worker of the
recipient domain (a stable hash), over a pipe as length-prefixed JSON frames,
and awaits the outcome. Each worker (``python -m postel.deliveryworkers.worker``)
has its own Deliverer: resolver, DNS cache, MTA-STS cache, idle connections.
Workers die with the main process (PR_SET_PDEATHSIG, stdin EOF) and are
restarted with backoff when they crash; the requests they had fail as
temporary and are retried.
"""

from postel.deliveryworkers.errors import DeliveryWorkerStartError
from postel.deliveryworkers.pool import DeliveryPool
from postel.deliveryworkers.route import worker_for

__all__ = ["DeliveryPool", "DeliveryWorkerStartError", "worker_for"]
