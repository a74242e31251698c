"""A loopback HTTP server standing in for Slack and webhook receivers: it records every request (raw
bytes and headers) and answers each path from a script, or through a function of the path."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival
    status: int = 0  # what we answered (0: no answer, e.g. the client gave up first)

    @property
    def key(self) -> str:
        return self.headers.get("X-AIS-Watch-Delivery", "")

    def json(self) -> Any:
        return json.loads(self.body)


# A status code; "sleep:<seconds>" (then 200); "retry-after:<value>" (a 429 with that Retry-After) or
# "503-retry-after:<value>" (a 503 with it).
Action = int | str
RETRY_AFTER = {"retry-after": (429, "rate_limited"), "503-retry-after": (503, "maintenance")}
Answer = Callable[[str], Awaitable[web.StreamResponse]]


@dataclass
class Receiver:
    """Records every request; answers each path from its script (then `default`, 200 unless changed), or,
    when `answer` is given, with what it returns for the path."""

    base: str = ""
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[Action]] = field(default_factory=dict)
    default: Action = 200
    answer: Answer | None = None

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def accepted(self, path: str | None = None) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300 and (path is None or r.path == path)]

    def last(self) -> Received:
        assert self.requests, "the receiver got no request"
        return self.requests[-1]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        entry = Received(request.path, dict(request.headers), await request.read(), time.monotonic())
        self.requests.append(entry)
        if self.answer is not None:
            response = await self.answer(request.path)
            entry.status = response.status
            return response
        script = self.scripts.get(request.path)
        action = script.pop(0) if script else self.default
        if isinstance(action, str) and action.startswith("sleep:"):
            await asyncio.sleep(float(action.split(":", 1)[1]))
            entry.status = 200  # the client has usually gone by now
            return web.Response(text="too late")
        if isinstance(action, str) and action.split(":", 1)[0] in RETRY_AFTER:
            kind, value = action.split(":", 1)
            entry.status, text = RETRY_AFTER[kind]
            return web.Response(status=entry.status, text=text, headers={"Retry-After": value})
        assert isinstance(action, int)
        entry.status = action
        return web.Response(status=action, text="ok" if action < 300 else f"error {action}")


@asynccontextmanager
async def receiver_server(port: int = 0, rec: Receiver | None = None) -> AsyncIterator[Receiver]:
    """`rec` (or a new Receiver) serving POSTs to any path on 127.0.0.1:`port` (0: any free port)."""
    rec = rec or Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    rec.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield rec
    finally:
        await runner.cleanup()
