"""HTTP(S) listeners: web admin, webmail, MTA-STS policies (Starlette + uvicorn)."""

from postel.web.app import build_app
from postel.web.errors import EditError, ListenError
from postel.web.listen import start_web

__all__ = ["EditError", "ListenError", "build_app", "start_web"]
