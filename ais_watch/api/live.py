"""Live updates over a websocket: new and changed alerts, incidents people changed (owner, notes, state),
positions of watchlisted vessels, and (for a client that asks for a viewport) every vessel inside it.

Each client has a bounded queue. A client too slow to keep up is disconnected (code 1013, try again)
rather than silently skipping alerts: on reconnect it reloads the alert list and carries on. A client
whose token is revoked or expires is disconnected with code 1008 (policy violation) and the reason; it
must not reconnect with that token (the dashboard asks for a new one).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from ais_watch.alerts.model import alert_json, iso
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, StageBase

log = logging.getLogger(__name__)
QUEUE = 2000  # messages a client may fall behind before it is cut off


CUT_TOO_SLOW = (1013, "too slow; reconnect")


@dataclass(eq=False)
class Client:
    socket: web.WebSocketResponse
    token_id: int | None = None  # the token it connected with
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(maxsize=QUEUE))
    viewport: tuple[float, float, float, float] | None = None  # south, west, north, east
    close_with: tuple[int, str] = CUT_TOO_SLOW  # the close code and reason once None is queued


class LiveHub(StageBase):
    """Fan-out of live events to websocket clients; also a pipeline stage (positions) and an alert
    store listener (alerts)."""

    name = "live"

    def __init__(self) -> None:
        self.clients: set[Client] = set()

    def publish(self, message: dict[str, Any], lat: float | None = None, lon: float | None = None,
                watched: bool = True) -> None:
        if not self.clients:
            return
        text = json.dumps(message, ensure_ascii=False, default=str)
        for client in list(self.clients):
            if not watched and not _inside(client.viewport, lat, lon):
                continue
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                self._cut(client, CUT_TOO_SLOW)
                log.warning("live client too slow; disconnected")

    def token_ids(self) -> set[int]:
        return {c.token_id for c in self.clients if c.token_id is not None}

    def cut_tokens(self, token_ids: set[int], reason: str) -> int:
        """Disconnect every client holding one of these tokens (revoked or expired) with code 1008."""
        cut = [c for c in self.clients if c.token_id in token_ids]
        for client in cut:
            self._cut(client, (1008, reason))
        if cut:
            log.warning("live: %d client(s) disconnected: %s", len(cut), reason)
        return len(cut)

    def _cut(self, client: Client, close_with: tuple[int, str]) -> None:
        self.clients.discard(client)
        client.close_with = close_with
        waiting_on = client.queue
        client.queue = asyncio.Queue(maxsize=1)
        client.queue.put_nowait(None)  # tells its writer to close, whatever was still queued
        if waiting_on.empty():  # its writer may be waiting on the old queue: wake it with the same word
            waiting_on.put_nowait(None)

    # alert store listener
    def alert_changed(self, row: dict[str, Any]) -> None:
        self.publish({"type": "alert", "alert": alert_json(row)})

    # alert store incident listener (ais_watch/alerts/incidents.py)
    def incident_changed(self, incident: dict[str, Any]) -> None:
        self.publish({"type": "incident", "incident": incident})

    # pipeline stage
    def handle(self, report: Report, ctx: Context) -> None:
        if not self.clients or not isinstance(report, PositionReport) or ctx.late:
            return
        vessel = ctx.vessel
        watched = ctx.watch is not None
        if not watched and not any(c.viewport for c in self.clients):
            return
        self.publish({"type": "position", "mmsi": report.mmsi, "name": vessel["name"], "imo": vessel["imo"],
                      "time": iso(report.time), "lat": report.lat, "lon": report.lon, "sog": report.sog,
                      "cog": report.cog, "heading": report.heading, "watched": watched},
                     report.lat, report.lon, watched)

    async def serve(self, request: web.Request, token_id: int | None = None) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        client = Client(socket, token_id)
        self.clients.add(client)
        writer = asyncio.create_task(self._write(client))
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                client.viewport = _viewport(message.data, client.viewport)
        finally:
            self.clients.discard(client)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        return socket

    async def _write(self, client: Client) -> None:
        while True:
            text = await client.queue.get()
            if text is None:
                code, reason = client.close_with
                await client.socket.close(code=code, message=reason.encode())
                return
            await client.socket.send_str(text)


def _viewport(data: str, current: tuple[float, float, float, float] | None
              ) -> tuple[float, float, float, float] | None:
    """{"viewport": [south, west, north, east]} or {"viewport": null}; anything else keeps the old one."""
    try:
        request = json.loads(data)
        box = request["viewport"]
        if box is None:
            return None
        south, west, north, east = (float(v) for v in box)
    except (ValueError, KeyError, TypeError):
        return current
    if not (-90 <= south <= north <= 90 and -180 <= west <= 180 and -180 <= east <= 180):
        return current
    return south, west, north, east


def _inside(box: tuple[float, float, float, float] | None, lat: float | None, lon: float | None) -> bool:
    if box is None or lat is None or lon is None:
        return False
    south, west, north, east = box
    in_lon = west <= lon <= east if west <= east else lon >= west or lon <= east  # across the antimeridian
    return south <= lat <= north and in_lon
