"""Who may use the server: the token, the cookie it leaves, and where a request comes from.

A server that can turn on a camera must not be usable by a web page the user happens to visit,
nor by another program that guesses the port. So every route needs the token (header, or once
in the page's address, after which an HttpOnly SameSite=Strict cookie carries it); requests that
change something must come from the server's own page or from a program (no cross-site Origin
or Sec-Fetch-Site); and the Host header must name this machine as bound, which defeats DNS
rebinding (a hostile name resolved to 127.0.0.1 makes the browser send that name as Host).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from rtmatte.server.errors import CrossSite, NotAuthorized, RequestError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorAnswer = Callable[[RequestError], ASGIApp]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_OWN_SITE = frozenset({"same-origin", "none"})
#: on every answer: no page may frame the panel, no address (with its token) leaks as Referer
_SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)


def cookie_name(port: int) -> str:
    """Cookies are shared by every port of a host, so each server's carries its port."""
    return f"rtmatte_token_{port}"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same_token(given: str | None, token: str) -> bool:
    """Constant time, so the answer's timing says nothing about how much of a guess was right."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class Guard:
    """ASGI middleware that answers 401 or 403 before any route (the docs included) runs, and
    adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, *, token: str, port: int, bind_host: str,
                 answer: ErrorAnswer) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_name(port)
        self.answer = answer
        self.any_host = bind_host in _WILDCARDS
        self.hosts = _LOOPBACK_NAMES | {bind_host.strip("[]").lower()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no other kind of connection is served
            await send({"type": "websocket.close", "code": 1008})
            return
        connection = HTTPConnection(scope)
        headers = list(_SECURITY_HEADERS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        try:
            self._check_host(connection)
            from_address = self._check_token(connection)
            self._check_origin(connection)
        except RequestError as exc:
            await self.answer(exc)(scope, receive, send_with_headers)
            return
        if from_address:
            cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            headers.append((b"set-cookie", cookie.encode("latin-1")))
        await self.app(scope, receive, send_with_headers)

    def _check_host(self, connection: HTTPConnection) -> None:
        if self.any_host:
            return
        name = (urlsplit(f"//{connection.headers.get('host', '')}").hostname or "").lower()
        if name not in self.hosts:
            raise CrossSite(f"this server answers to {', '.join(sorted(self.hosts))}, not to "
                            f"'{name}'")

    def _check_token(self, connection: HTTPConnection) -> bool:
        """True when the token came in the address, so the answer leaves the cookie."""
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and same_token(credentials.strip(), self.token):
            return False
        if same_token(connection.cookies.get(self.cookie), self.token):
            return False
        if connection.scope["method"] in SAFE_METHODS and \
                same_token(connection.query_params.get("token"), self.token):
            return True
        raise NotAuthorized("a token is needed: open the address `rtmatte serve` printed, or "
                            "send the header 'Authorization: Bearer TOKEN'")

    def _check_origin(self, connection: HTTPConnection) -> None:
        """A change asked for by another site's page is refused (cross-site request forgery)."""
        if connection.scope["method"] in SAFE_METHODS:
            return
        site = connection.headers.get("sec-fetch-site")
        if site is not None and site not in _OWN_SITE:
            raise CrossSite(f"a {site} request cannot change anything here")
        origin = connection.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != \
                connection.headers.get("host", "").lower():
            raise CrossSite(f"a request from {origin} cannot change anything here")
