"""Per-request state of a page (admin and webmail): session, posted form, flashes."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse

from postel.web.sessions import Session


def session_of(request: Request) -> Session | None:
    s: Session | None = getattr(request.state, "session", None)
    return s


def form_of(request: Request) -> FormData:
    f: FormData = request.state.form
    return f


def field(request: Request, name: str, strip: bool = True) -> str:
    """A text field of the posted form; "" when absent or a file."""
    value = form_of(request).get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown on the next rendered page of this session."""
    s = session_of(request)
    if s is not None:
        s.data.setdefault("flash", []).append((kind, message))


def redirect(path: str) -> RedirectResponse:
    """See other (303): after a POST, the browser GETs *path*."""
    return RedirectResponse(path, status_code=303)
