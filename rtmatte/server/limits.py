"""The upload size limit, enforced while the body arrives rather than after it is stored.

A ``Content-Length`` over the limit is refused before a byte is read; a body sent without one
(chunked) is counted as it comes and refused the moment it passes the limit. Either way the
answer is 413, never a half-stored upload or a parser's generic 400.
"""

from __future__ import annotations

from rtmatte.server.auth import ASGIApp, ErrorAnswer, Message, Receive, Scope, Send
from rtmatte.server.errors import TooLarge


class BodyLimit:
    """ASGI middleware: request bodies over ``limit`` bytes get 413."""

    def __init__(self, app: ASGIApp, *, limit: int, answer: ErrorAnswer) -> None:
        self.app = app
        self.limit = limit
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = TooLarge(f"the upload is larger than this server's limit of "
                           f"{self.limit / 2**20:g} MiB (serve --max-upload-mb)")
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            await self.answer(refusal)(scope, receive, send)
            return
        received = 0
        over = False
        answered = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = True
                    raise refusal
            return message

        async def replaced(message: Message) -> None:
            nonlocal answered
            if not over:
                await send(message)
            elif not answered:  # whatever the route made of the cut body, the answer is 413
                answered = True
                await self.answer(refusal)(scope, receive, send)

        try:
            await self.app(scope, counted, replaced)
        except TooLarge:
            if not answered:
                answered = True
                await self.answer(refusal)(scope, receive, send)
