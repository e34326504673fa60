"""HTTP-01 answered by a plain-HTTP web listener (RFC 8555 §8.3), so postel can
keep port 80 for its own web listener and still validate with http-01."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from postel.acme.http01 import PREFIX, key_authorization
from postel.tlsreload import ChallengeSource


class ACMEChallenge:
    """ASGI middleware, outermost: a GET or HEAD of a pending token's URL gets its
    key authorization, whatever the Host; every other request goes on."""

    def __init__(self, app: ASGIApp, challenges: ChallengeSource) -> None:
        self.app = app
        self.challenges = challenges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and str(scope["path"]).startswith(PREFIX)
        ):
            body = key_authorization(str(scope["path"]), self.challenges)
            if body is not None:
                data = body.encode("ascii")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"text/plain"),
                            (b"content-length", str(len(data)).encode("ascii")),
                        ],
                    }
                )
                payload = data if scope["method"] == "GET" else b""
                await send({"type": "http.response.body", "body": payload})
                return
        await self.app(scope, receive, send)
