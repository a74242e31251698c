"""A loopback HTTP server speaking Slack's Web API method chat.postMessage, standing in for slack.com:
it checks what Slack checks (the bot token in `Authorization: Bearer`, a JSON body, a channel it knows, a
thread_ts that is a parent message in that channel), answers as Slack does (`{"ok": true, "channel":
"C…", "ts": "…"}`, or HTTP 200 with `{"ok": false, "error": …}`, or HTTP 429 with Retry-After), and keeps
the channel as people would see it: the messages posted to it, and each thread's replies."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "xoxb-test-0000-incidents"
CHANNEL_NAME, CHANNEL_ID = "#watch-floor", "C0WATCH01"


@dataclass
class Post:
    headers: dict[str, str]
    body: dict[str, Any] | None  # None: not JSON
    at: float  # time.monotonic() on arrival
    status: int = 0  # HTTP status answered
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.answer.get("ok") is True

    @property
    def thread_ts(self) -> str | None:
        return (self.body or {}).get("thread_ts")


@dataclass
class SlackApi:
    """`script`: answers for the next requests, in order, before the normal ones: "429:<Retry-After>",
    "500", or "error:<name>" (HTTP 200, ok false)."""

    base: str = ""
    token: str = TOKEN
    posts: list[Post] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # every message stored, in order

    @property
    def api_url(self) -> str:
        return f"{self.base}/api"

    def channel(self) -> list[dict[str, Any]]:
        """The channel's own messages (what it shows: parents, and replies broadcast to it)."""
        return [m for m in self.messages if "thread_ts" not in m or m.get("reply_broadcast")]

    def thread(self, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("thread_ts") == ts]

    def accepted(self) -> list[Post]:
        return [p for p in self.posts if p.ok]

    def _answer(self, post: Post, status: int, answer: dict[str, Any],
                headers: dict[str, str] | None = None) -> web.Response:
        post.status, post.answer = status, answer
        return web.json_response(answer, status=status, headers=headers)

    async def post_message(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        post = Post(dict(request.headers), body if isinstance(body, dict) else None, time.monotonic())
        self.posts.append(post)
        if self.script:
            action = self.script.pop(0)
            if action.startswith("429:"):
                return self._answer(post, 429, {"ok": False, "error": "ratelimited"},
                                    {"Retry-After": action.split(":", 1)[1]})
            if action == "500":
                return self._answer(post, 500, {"ok": False, "error": "internal_error"})
            return self._answer(post, 200, {"ok": False, "error": action.split(":", 1)[1]})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._answer(post, 200, {"ok": False, "error": "invalid_auth"})
        if not request.headers.get("Content-Type", "").startswith("application/json") or post.body is None:
            return self._answer(post, 200, {"ok": False, "error": "invalid_arguments"})
        message = post.body
        if message.get("channel") not in (CHANNEL_NAME, CHANNEL_ID):
            return self._answer(post, 200, {"ok": False, "error": "channel_not_found"})
        if not isinstance(message.get("text"), str) or not message["text"]:
            return self._answer(post, 200, {"ok": False, "error": "no_text"})
        parent = message.get("thread_ts")
        if parent is not None and not any(m["ts"] == parent and "thread_ts" not in m for m in self.messages):
            return self._answer(post, 200, {"ok": False, "error": "thread_not_found"})
        ts = f"{1_700_000_000 + len(self.messages)}.{len(self.messages) + 1:06d}"
        self.messages.append({**message, "channel": CHANNEL_ID, "ts": ts})
        return self._answer(post, 200, {"ok": True, "channel": CHANNEL_ID, "ts": ts,
                                        "message": {"type": "message", "text": message["text"], "ts": ts}})


@asynccontextmanager
async def slack_api_server() -> AsyncIterator[SlackApi]:
    """A SlackApi serving POST /api/chat.postMessage on 127.0.0.1 (any free port)."""
    api = SlackApi()
    app = web.Application()
    app.router.add_post("/api/chat.postMessage", api.post_message)
    runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield api
    finally:
        await runner.cleanup()
