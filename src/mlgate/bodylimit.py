"""An ASGI middleware that refuses request bodies over a size limit with 413, while streaming.

Checked twice: against Content-Length before the app reads anything, and by counting bytes as
they arrive (chunked uploads carry no Content-Length), so an oversized upload is cut off early
instead of being spooled to disk first.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlgate.errors import PayloadTooLarge

__all__ = ["BodySizeLimit"]


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(scope, send, limit)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(_detail(limit))
            return message

        await self.app(scope, counting_receive, send)


def _detail(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    from mlgate.problems import problem_response

    response = problem_response(PayloadTooLarge(_detail(limit)), instance=scope["path"])
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
