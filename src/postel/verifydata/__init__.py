"""verifydata: check a data directory's databases, message files and invariants."""

from postel.verifydata.errors import NotADataDir, VerifyError
from postel.verifydata.verify import Verification, verify

__all__ = ["NotADataDir", "Verification", "VerifyError", "verify"]
