"""Who may use the server: the token, the cookie it leaves, and where a request comes from.

A server that can turn on a camera must not be usable by a web page the user happens to visit,
nor by another program that guesses the port. So every route needs the token: in the header,
or in the HttpOnly SameSite=Strict cookie that a page leaves after it was opened once with the
token in its address (the link ``rtmatte serve`` prints; only pages take it there, so an API
address with its token never ends up in a history, a log or a bookmark). Requests that change
something must come from the server's own origin (scheme, host and port) or from a program (no
cross-site Origin or Sec-Fetch-Site). And the Host header must name this machine: a loopback
name, the address the request reached, or a name given with ``--allow-host``, which defeats DNS
rebinding (a hostile name resolved to 127.0.0.1 makes the browser send that name as Host), on
``--host 0.0.0.0`` too.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from html import escape as html_escape
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse

from rtmatte.server.errors import CrossSite, NotAuthorized, RequestError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorAnswer = Callable[[RequestError], ASGIApp]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the methods that may carry the token in a page's address (never OPTIONS, never a change)
_PAGE_METHODS = frozenset({"GET", "HEAD"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
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
    adds the security headers to every answer.

    ``pages`` are the addresses a person opens from the printed link: only they take the token
    in the address (GET or HEAD; they answer with the cookie), and their 401 is a short page
    saying how to get in rather than JSON. ``allow_hosts`` are the names, besides the loopback
    ones and the address a request reached, that the Host header may carry."""

    def __init__(self, app: ASGIApp, *, token: str, port: int, bind_host: str,
                 answer: ErrorAnswer, pages: Iterable[str] = (),
                 allow_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_name(port)
        self.answer = answer
        self.pages = frozenset(pages)
        named = {host_name(bind_host)} - _WILDCARDS
        self.hosts = _LOOPBACK_NAMES | named | {host_name(name) for name in allow_hosts}

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

        is_page = scope["method"] in _PAGE_METHODS and scope["path"] in self.pages
        try:
            self._check_host(connection)
            from_address = self._check_token(connection, is_page)
            self._check_origin(connection)
        except NotAuthorized as exc:
            refusal = _refusal_page(exc) if is_page else self.answer(exc)
            await refusal(scope, receive, send_with_headers)
            return
        except RequestError as exc:
            await self.answer(exc)(scope, receive, send_with_headers)
            return
        if from_address:
            cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            headers.append((b"set-cookie", cookie.encode("latin-1")))
        await self.app(scope, receive, send_with_headers)

    def _check_host(self, connection: HTTPConnection) -> None:
        try:
            name = host_name(urlsplit(f"//{connection.headers.get('host', '')}").hostname or "")
        except ValueError:  # a malformed Host ('[::1') names nothing this server answers to
            name = ""
        if name in self.hosts or _is_address_reached(name, connection.scope.get("server")):
            return
        raise CrossSite(f"this server answers to {', '.join(sorted(self.hosts))} and the "
                        f"address it is reached at, not to '{name}' (serve --allow-host NAME "
                        "adds a name)")

    def _check_token(self, connection: HTTPConnection, is_page: bool) -> bool:
        """True when the token came in a page's address, so the answer leaves the cookie."""
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and same_token(credentials.strip(), self.token):
            return False
        if same_token(connection.cookies.get(self.cookie), self.token):
            return False
        in_address = connection.query_params.get("token")
        if is_page and same_token(in_address, self.token):
            return True
        if in_address is not None and not is_page:
            raise NotAuthorized("the token in the address opens the pages only (/, /docs and "
                                "/overlay); send the header 'Authorization: Bearer TOKEN' here")
        raise NotAuthorized("a token is needed: open the address `rtmatte serve` printed, or "
                            "send the header 'Authorization: Bearer TOKEN'")

    def _check_origin(self, connection: HTTPConnection) -> None:
        """A change asked for by another site's page is refused (cross-site request forgery).

        The Origin must be this server's exactly: an https page on the same host and port is
        another origin, and so is another port."""
        if connection.scope["method"] in SAFE_METHODS:
            return
        site = connection.headers.get("sec-fetch-site")
        if site is not None and site not in _OWN_SITE:
            raise CrossSite(f"a {site} request cannot change anything here")
        origin = connection.headers.get("origin")
        if origin is None:
            return
        theirs = _origin_of(origin)
        if theirs is None or theirs != _own_origin(connection):
            raise CrossSite(f"a request from {origin} cannot change anything here")


def host_name(name: str) -> str:
    """A host as the checks compare it: lower case, an IPv6 address without its brackets."""
    return name.strip().strip("[]").lower()


def _is_address_reached(name: str, server: tuple[str, int] | list[Any] | None) -> bool:
    """True when ``name`` is the IP address the connection came in on: a page can only have
    that address as its Host by being served from this very machine, never by DNS rebinding
    (which needs a name)."""
    if not server:
        return False
    try:
        given, local = ipaddress.ip_address(name), ipaddress.ip_address(host_name(server[0]))
    except ValueError:
        return False
    return _plain(given) == _plain(local)


def _plain(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    """An IPv4 address reached through an IPv6 socket (::ffff:a.b.c.d) as the IPv4 one."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _origin_of(origin: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port of an Origin header; None for 'null' or anything malformed."""
    try:
        parts = urlsplit(origin)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), host_name(parts.hostname), port


def _own_origin(connection: HTTPConnection) -> tuple[str, str, int | None] | None:
    scheme = connection.scope.get("scheme", "http")
    return _origin_of(f"{scheme}://{connection.headers.get('host', '')}")


def _refusal_page(error: NotAuthorized) -> ASGIApp:
    """What a person who opened a page without the token sees: how to get in, in words."""
    html = _REFUSAL_PAGE.replace("{detail}", html_escape(str(error)))
    return HTMLResponse(html, status_code=error.status,
                        headers={"Content-Security-Policy": "default-src 'none'",
                                 "Cache-Control": "no-store"})


_REFUSAL_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>rtmatte: open the link with the token</title></head>
<body>
<h1>Open the link that <code>rtmatte serve</code> printed</h1>
<p>This page belongs to the rtmatte server running on this computer. It opens only for the
person who started it: use the address that <code>rtmatte serve</code> printed in its terminal
(it ends in <code>?token=</code> and a long code). After that, this browser can open the
server's pages without it.</p>
<p>Started with your own <code>--token</code>? Add <code>?token=YOUR_TOKEN</code> to this
address once.</p>
<p><small>{detail}</small></p>
</body>
</html>
"""
