"""Safe by default: only requests addressed to the studio's own host and port are answered (a
web page elsewhere cannot reach it by rebinding a name to 127.0.0.1), every state-changing
request carries the session's token, and the page may load nothing from the network."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HEADER = "x-studio-token"
SAFE_METHODS = {"GET", "HEAD"}
LOCAL_NAMES = {"127.0.0.1": ("localhost",), "::1": ("localhost",), "localhost": ("127.0.0.1",)}
POLICY = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
          "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
          "frame-ancestors 'none'; form-action 'self'")
HEADERS = [
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True)
class Guard:
    token: str
    hosts: frozenset[str]  # Host header values the studio answers (name:port)


def new_guard(host: str, port: int) -> Guard:
    names = (host, *LOCAL_NAMES.get(host, ()))
    shown = [f"[{name}]" if ":" in name else name for name in names]
    return Guard(secrets.token_urlsafe(24), frozenset(f"{name}:{port}" for name in shown))


class GuardMiddleware:
    """Refuses a wrong Host (400) and a state-changing request without the token (403); adds
    the security headers to every answer."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = None
        if headers.get("host", "").lower() not in self.guard.hosts:
            refusal = PlainTextResponse("unknown host: open the address the studio printed", 400)
        elif scope["method"] not in SAFE_METHODS and not hmac.compare_digest(
            headers.get(TOKEN_HEADER, "").encode(), self.guard.token.encode()
        ):
            refusal = PlainTextResponse("missing or wrong session token", 403)

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *HEADERS]
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, secured)
        else:
            await self.app(scope, receive, secured)
