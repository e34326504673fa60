"""dmarceval.db: DMARC evaluations of incoming mail, for outgoing aggregate
reports (RFC 7489 §7.2), with the reports' suppression list.

One row per incoming message whose author domain publishes a DMARC record
with rua; SMTP worker processes write through :class:`EvalRecorder`.
"""

from postel.dmarcevaldb.db import MIGRATIONS, EvalDB
from postel.dmarcevaldb.errors import DMARCEvalDBError
from postel.dmarcevaldb.record import (
    DKIMEval,
    Evaluation,
    SPFEval,
    evaluation_from_results,
)
from postel.dmarcevaldb.recorder import EvalRecorder

__all__ = [
    "MIGRATIONS",
    "DKIMEval",
    "DMARCEvalDBError",
    "EvalDB",
    "EvalRecorder",
    "Evaluation",
    "SPFEval",
    "evaluation_from_results",
]
