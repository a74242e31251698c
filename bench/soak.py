"""Soak and load: `ais-watch serve` fed 5,000 aisstream messages/s for 10 minutes while the API is queried.

A websocket server in this process speaks the aisstream.io protocol on 127.0.0.1: it waits for the
subscription (API key and bounding boxes), then streams `PositionReport` JSON messages, one per frame as
aisstream.io does, from --ships vessels (distinct MMSIs, each moving along its own course inside the
subscribed boxes). Every message is unique (its own event time and position, so the pipeline's dedup,
which keys JSON positions on MMSI, type, time and position, drops none), and its `time_utc` is the time the
feed was due to send it: the feed runs on a fixed schedule (--rate, paced every 10 ms), so any time it
spends behind schedule shows up in the pipeline lag too. The service is the real thing: `python -m
ais_watch serve` as a subprocess, with AISSTREAM_API_KEY and AIS_WATCH_AISSTREAM_URL pointing at the
local server, a fresh database (a temporary SQLite file by default), an API token made beforehand with
`ais-watch token create` against the same database, and its HTTP API on a free loopback port. The feed
keeps the websockets library's default keepalive (a ping every 20 s, the connection closed when its pong
is 20 s late): a service that stops reading for that long loses its connection and what was in flight,
as with a real server that drops slow readers. How each connection ended is reported.

While the feed runs, an open-loop load generator (aiohttp) sends --api-rate requests/s to the API's read
routes in the dashboard's mix (map, stats, alerts, vessel search, a vessel, its port calls, its track as
GeoJSON), and, as the baseline in the same run, --health-rate requests/s to /healthz, whose latency is the
event loop's responsiveness alone. Every second the service's RSS (with any children) is sampled; every
--sample-interval seconds its /metrics (counters, store queue, pipeline lag gauge).

After --duration the feed stops; the bench waits (at most --drain-timeout) until the service has read and
stored everything, stops it with SIGTERM (it flushes on the way out) and counts the rows of `positions`.

Figures:
  * offered = rate x duration; sent = frames the feed handed to the socket; not taken = offered - sent
    (the service read too slowly and the socket pushed back, or it was disconnected: a real feed does not
    wait for a slow reader, so these count as lost too); lost = sent - stored (rows after the shutdown).
  * pipeline lag, p50/p95/max over the samples: the service's own gauge (now - newest event processed),
    the feed-to-store backlog (messages the feed should have sent by then less positions committed, in
    seconds of feed) and the socket backlog (sent, not yet read by the service); the drain time after
    the feed stopped.
  * RSS: at warm-up (--warmup, default min(120 s, duration / 4): the dedup window is 60 s, its memory
    fills during the first minute), peak, at the end, growth after warm-up (mean of the last tenth of the
    run less the mean just after warm-up; PASS up to max(10 MB, 5% of the RSS at warm-up)) and the
    least-squares slope over the second half (MB/min).
  * CPU: the service's cores in use, its main thread (the event loop) apart; the bench driver's own.
  * API: per route and overall p50/p95/p99/max and errors; /healthz under the same load as the baseline.

Exit status 1 when anything was lost (lost > 0 or not taken > 0), else 0. Everything stays on loopback and
stops by itself; the service is always killed on the way out.

    python bench/soak.py [--rate 5000] [--duration 600] [--ships 20000] [--api-rate 20]
                         [--health-rate 5] [--db sqlite:///PATH | postgresql://postgres@127.0.0.1:5432]
                         [--no-detectors] [--json PATH] [--keep]

--db postgresql://...: the bench uses the database the URL names if it starts with `ais_watch_soak`
(default `ais_watch_soak` when the URL names none, or names the server's maintenance database), creates it
if missing and empties it (DROP SCHEMA public CASCADE) first; it refuses any other name, so it never
touches the tests' database `test` or anyone's data. --db sqlite:///PATH must name a file that does not
exist yet.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import math
import os
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parent.parent
API_KEY = "soak-bench-key"
TICK = 0.01  # the feed sends what is due every 10 ms
SEND_GRACE = 2.0  # seconds past --duration the feed may still catch up before the rest is "not taken"
SETTLE = 8.0  # seconds after a vessel's first message before the API is asked about it (vessel rows: 5 s)
# Where real traffic in the subscribed area comes from: Russia, Korea, Japan, China, DPRK, flags of
# convenience (Panama, Liberia, Marshall Islands, Hong Kong, Singapore, Sierra Leone, Togo, Vietnam...).
MIDS = (273, 440, 441, 431, 432, 412, 413, 414, 445, 352, 353, 354, 355, 356, 357, 370, 371, 372, 636,
        538, 477, 563, 667, 671, 574, 511)
FALLBACK_BOXES = [[[33.0, 127.0], [52.0, 142.5]]]
# The dashboard's requests: opening it (stats, map, alerts) and clicking vessels (vessel, port calls, track).
ROUTE_MIX: tuple[tuple[str, int], ...] = (
    ("stats", 1), ("map", 1), ("alerts", 2), ("search", 2), ("vessel", 3), ("port_calls", 3), ("track", 3))
NEEDS_VESSEL = frozenset({"search", "vessel", "port_calls", "track"})


# --------------------------------------------------------------------------------------------- feed
class Fleet:
    """--ships vessels inside the subscribed boxes; message k comes from vessel k % n, which moves along
    its course (bouncing off the box edges) by the time since its previous message."""

    def __init__(self, n: int, boxes: list[list[list[float]]], seed: int = 20240501) -> None:
        rng = random.Random(seed)
        mmsis: set[int] = set()
        while len(mmsis) < n:
            mmsis.add(rng.choice(MIDS) * 1_000_000 + rng.randrange(1_000, 999_999))
        self.mmsi = sorted(mmsis)
        rng.shuffle(self.mmsi)
        areas = [abs(b[1][0] - b[0][0]) * abs(b[1][1] - b[0][1]) for b in boxes]
        self.box: list[tuple[float, float, float, float]] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.sog: list[float] = []
        self.cog: list[float] = []
        self.nav: list[int] = []
        self.last: list[float | None] = [None] * n
        for _ in range(n):
            (a, b) = rng.choices(boxes, weights=areas)[0]
            south, north = sorted((a[0], b[0]))
            west, east = sorted((a[1], b[1]))
            self.box.append((south, west, north, east))
            self.lat.append(rng.uniform(south, north))
            self.lon.append(rng.uniform(west, east))
            moored = rng.random() < 0.3
            self.sog.append(round(rng.uniform(0.0, 0.3), 1) if moored else round(rng.uniform(4.0, 19.0), 1))
            self.cog.append(round(rng.uniform(0.0, 359.9), 1))
            self.nav.append(5 if moored else 0)
        self._second = -1
        self._second_text = ""

    def __len__(self) -> int:
        return len(self.mmsi)

    def _time_utc(self, ts: float) -> str:
        """aisstream.io's Go time.String() form: '2024-05-01 10:20:30.123456789 +0000 UTC'."""
        second = int(ts)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((ts - second) * 1e9):09d} +0000 UTC"

    def message(self, k: int, ts: float) -> str:
        i = k % len(self.mmsi)
        last = self.last[i]
        self.last[i] = ts
        lat, lon, sog, cog = self.lat[i], self.lon[i], self.sog[i], self.cog[i]
        if last is not None and sog > 0:
            nm = sog * (ts - last) / 3600.0
            lat += nm * math.cos(math.radians(cog)) / 60.0
            lon += nm * math.sin(math.radians(cog)) / (60.0 * max(0.1, math.cos(math.radians(lat))))
            south, west, north, east = self.box[i]
            if not (south <= lat <= north and west <= lon <= east):
                lat, lon = min(max(lat, south), north), min(max(lon, west), east)
                cog = self.cog[i] = round((cog + 180.0) % 360.0, 1)
            self.lat[i], self.lon[i] = lat, lon
        mmsi = self.mmsi[i]
        heading = int(cog) % 360
        when = self._time_utc(ts)
        return (
            f'{{"Message":{{"PositionReport":{{"Cog":{cog:.1f},"CommunicationState":59916,'
            f'"Latitude":{lat:.6f},"Longitude":{lon:.6f},"MessageID":1,"NavigationalStatus":{self.nav[i]},'
            f'"PositionAccuracy":true,"Raim":false,"RateOfTurn":0,"RepeatIndicator":0,"Sog":{sog:.1f},'
            f'"Spare":0,"SpecialManoeuvreIndicator":0,"Timestamp":{int(ts) % 60},"TrueHeading":{heading},'
            f'"UserID":{mmsi},"Valid":true}}}},"MessageType":"PositionReport","MetaData":{{"MMSI":{mmsi},'
            f'"MMSI_String":{mmsi},"ShipName":"SOAK {i:05d}           ","latitude":{lat:.6f},'
            f'"longitude":{lon:.6f},"time_utc":"{when}"}}}}')


@dataclass
class FeedCounters:
    offered: int = 0
    sent: int = 0
    not_taken: int = 0  # due by the end (plus grace) but never handed to the socket
    skipped_disconnected: int = 0  # due while no service was connected: a live feed does not wait
    disconnects: list[str] = field(default_factory=list)  # how each connection ended, and when
    connections: int = 0
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    blocked_seconds: float = 0.0  # time ws.send() waited for the socket to drain (backpressure)
    send_seconds: float = 0.0  # wall time from the first message to the last
    max_behind: int = 0  # most messages the feed was ever behind its schedule


class Feed:
    """The aisstream.io side: accepts a subscription, then streams on schedule to the newest connection."""

    def __init__(self, rate: float, duration: float, ships: int, compression: bool) -> None:
        self.rate = rate
        self.duration = duration
        self.ships = ships
        self.compression = compression
        self.counters = FeedCounters(offered=round(rate * duration))
        self.fleet: Fleet | None = None
        self.ws: ServerConnection | None = None
        self.subscribed = asyncio.Event()
        self.history_t: list[float] = []  # (perf_counter, messages sent) every tick
        self.history_sent: list[int] = []
        self.server: Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await serve(self._handler, "127.0.0.1", 0,
                                  compression="deflate" if self.compression else None)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.server.wait_closed()

    async def _handler(self, ws: ServerConnection) -> None:
        try:
            async with asyncio.timeout(5):
                first = await ws.recv()
            subscription = json.loads(first)
        except (TimeoutError, ConnectionClosed, ValueError):
            return
        if not isinstance(subscription, dict) or subscription.get("APIKey") != API_KEY:
            await ws.send(json.dumps({"error": "Api Key Is Not Valid"}))
            await ws.close()
            return
        self.counters.connections += 1
        self.counters.subscriptions.append({k: v for k, v in subscription.items() if k != "APIKey"})
        if self.fleet is None:
            boxes = subscription.get("BoundingBoxes") or FALLBACK_BOXES
            self.fleet = await asyncio.to_thread(Fleet, self.ships, boxes)
        self.ws = ws
        self.subscribed.set()
        await ws.wait_closed()
        if self.ws is ws:
            self.ws = None
        proto = ws.protocol
        received, sent = proto.close_rcvd, proto.close_sent
        self.counters.disconnects.append(
            f"{time.strftime('%H:%M:%S')}: close frame received {received or 'none'}, sent {sent or 'none'}"
            + ("" if proto.close_rcvd_then_sent is None else
               f" ({'the service' if proto.close_rcvd_then_sent else 'the feed'} closed first)"))

    def sent_by(self, moment: float) -> int:
        """Messages sent by perf_counter() `moment` (0 before the feed started)."""
        index = bisect.bisect_right(self.history_t, moment)
        return self.history_sent[index - 1] if index else 0

    async def run(self, t0: float, wall0: float) -> None:
        """Send message k at t0 + k / rate; behind schedule, catch up as fast as the socket takes it."""
        assert self.fleet is not None
        counters, rate, total, fleet = self.counters, self.rate, self.counters.offered, self.fleet
        stop_at = t0 + self.duration
        k = 0
        last_send = t0
        while k < total:
            now = time.perf_counter()
            if now >= stop_at + SEND_GRACE:
                break
            due = total if now >= stop_at else min(total, int((now - t0) * rate))
            counters.max_behind = max(counters.max_behind, due - k)
            ws = self.ws
            if ws is None:
                counters.skipped_disconnected += due - k
                k = due
            while ws is not None and k < due:
                text = fleet.message(k, wall0 + k / rate)
                began = time.perf_counter()
                try:
                    await ws.send(text)
                except ConnectionClosed:
                    counters.skipped_disconnected += 1
                    k += 1
                    break
                took = time.perf_counter() - began
                if took > 0.001:
                    counters.blocked_seconds += took
                k += 1
                counters.sent += 1
                last_send = time.perf_counter()
                if k % 500 == 0:
                    await asyncio.sleep(0)  # a catch-up burst must not starve the load generator
                    if time.perf_counter() >= stop_at + SEND_GRACE:
                        break
            self.history_t.append(time.perf_counter())
            self.history_sent.append(counters.sent)
            await asyncio.sleep(max(0.0, TICK - (time.perf_counter() - now)))
        counters.not_taken = total - k
        counters.send_seconds = last_send - t0


# ---------------------------------------------------------------------------------------- API load
@dataclass(slots=True)
class Sample:
    route: str
    at: float  # seconds since t0
    ms: float
    status: int  # HTTP status; 0 for a transport error or timeout


class LoadGenerator:
    """Open loop: a request every 1/rate s whatever the previous ones are doing (bounded in flight)."""

    def __init__(self, base: str, token: str, feed: Feed, max_in_flight: int = 64, seed: int = 7) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.feed = feed
        self.max_in_flight = max_in_flight
        self.rng = random.Random(seed)
        self.samples: list[Sample] = []
        self.errors: dict[str, int] = {}  # "route: status or exception" -> count
        self.not_sent = 0  # requests skipped because max_in_flight were outstanding
        cycle = [name for name, weight in ROUTE_MIX for _ in range(weight)]
        self.rng.shuffle(cycle)
        self.cycle = cycle

    def _known_mmsi(self) -> int | None:
        """A vessel whose first message went out at least SETTLE s ago (so its row is stored)."""
        fleet = self.feed.fleet
        if fleet is None:
            return None
        known = min(len(fleet), self.feed.sent_by(time.perf_counter() - SETTLE))
        return fleet.mmsi[self.rng.randrange(known)] if known else None

    def path(self, route: str) -> tuple[str, str]:
        mmsi = self._known_mmsi() if route in NEEDS_VESSEL else None
        if route in NEEDS_VESSEL and mmsi is None:
            route = "stats"
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
        paths = {
            "healthz": "/healthz",
            "stats": "/api/stats",
            "map": "/api/map",
            "alerts": "/api/alerts?limit=200",
            "search": f"/api/vessels?q={mmsi}",
            "vessel": f"/api/vessels/{mmsi}",
            "port_calls": f"/api/port-calls?vessel={mmsi}&limit=10",
            "track": f"/api/vessels/{mmsi}/track?format=geojson&since={since}&limit=20000",
        }
        return route, paths[route]

    async def run(self, session: aiohttp.ClientSession, t0: float, stop_at: float, rate: float,
                  routes: Callable[[int], str]) -> None:
        if rate <= 0:
            return
        in_flight: set[asyncio.Task[None]] = set()
        n = 0
        while (at := t0 + n / rate) < stop_at:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            if len(in_flight) >= self.max_in_flight:
                self.not_sent += 1
            else:
                route, path = self.path(routes(n))
                task = asyncio.create_task(self._one(session, route, path, t0))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            n += 1
        if in_flight:
            await asyncio.wait(in_flight, timeout=60)

    async def _one(self, session: aiohttp.ClientSession, route: str, path: str, t0: float) -> None:
        began = time.perf_counter()
        status = 0
        try:
            async with session.get(self.base + path, headers=self.headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as err:
            key = f"{route}: {type(err).__name__}"
            self.errors[key] = self.errors.get(key, 0) + 1
        ended = time.perf_counter()
        if status and status != 200:
            key = f"{route}: HTTP {status}"
            self.errors[key] = self.errors.get(key, 0) + 1
        self.samples.append(Sample(route, began - t0, (ended - began) * 1000.0, status))


# ------------------------------------------------------------------------------------------ sampling
def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {name: value}; labelled series summed under the bare name too."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            continue
        values[name_part] = number
        bare = name_part.split("{", 1)[0]
        if bare != name_part:
            values[bare] = values.get(bare, 0.0) + number
    return values


@dataclass(slots=True)
class MetricsSample:
    at: float
    due: int  # messages the feed should have sent by then
    sent: int
    messages: float
    positions_written: float
    duplicates: float
    rejected: float
    queue_batches: float
    lag_gauge: float


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_mb(pid: int) -> float | None:
    total = 0
    procs = process_tree(pid)
    if not procs:
        return None
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total / 2**20


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process tree, of the main thread alone: the event loop)."""
    total = main = 0.0
    for proc in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = proc.cpu_times()
            total += times.user + times.system
            if proc.pid == pid:
                for thread in proc.threads():
                    if thread.id == pid:
                        main = thread.user_time + thread.system_time
    return total, main


# ------------------------------------------------------------------------------------------- helpers
def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per minute; nan for fewer than 3 points."""
    if len(points) < 3:
        return float("nan")
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return float("nan")
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(db: str, ws_port: int, http_port: int, detectors: bool) -> dict[str, str]:
    """The environment minus any AIS_WATCH_*/AISSTREAM_* of the caller's (no notifiers, no config file,
    no other feed), plus the soak's own settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIS_WATCH_", "AISSTREAM_"))}
    env.update({
        "AISSTREAM_API_KEY": API_KEY,
        "AIS_WATCH_AISSTREAM_URL": f"ws://127.0.0.1:{ws_port}",
        "AIS_WATCH_DB": db,
        "AIS_WATCH_HTTP_HOST": "127.0.0.1",
        "AIS_WATCH_HTTP_PORT": str(http_port),
        "AIS_WATCH_DEMO_REPLAY": "false",
        "AIS_WATCH_LOG_LEVEL": "INFO",
        "AIS_WATCH_STATS_INTERVAL": "10",
        "AIS_WATCH_DETECTORS_ENABLED": "true" if detectors else "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def pg_target(url: str) -> tuple[str, str]:
    """(the soak database's URL, the server's maintenance database URL) for a postgresql:// URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    name = parsed.database or ""
    if name in ("", "postgres"):
        name = "ais_watch_soak"
    if not name.startswith("ais_watch_soak"):
        raise SystemExit(f"--db: the soak empties its database first, so it only uses one named "
                         f"ais_watch_soak* (got {name!r}); the tests' database 'test' is never used")
    target = parsed.set(database=name).render_as_string(hide_password=False)
    maintenance = parsed.set(database="postgres").render_as_string(hide_password=False)
    return target, maintenance


async def prepare_postgres(url: str) -> str:
    import asyncpg

    target, maintenance = pg_target(url)
    name = target.rsplit("/", 1)[1].split("?", 1)[0]
    conn = await asyncpg.connect(maintenance, timeout=10)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(target, timeout=10)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    return target


async def count_stored(db: str) -> dict[str, Any]:
    """Rows of positions (and vessels), the span of their event times and the database's size on disk."""
    if db.startswith("sqlite"):
        path = Path(db.split("///", 1)[1])

        def query() -> dict[str, Any]:
            conn = sqlite3.connect(path)
            try:
                rows, ships = conn.execute("SELECT COUNT(*), COUNT(DISTINCT mmsi) FROM positions").fetchone()
                vessels = conn.execute("SELECT COUNT(*) FROM vessels").fetchone()[0]
            finally:
                conn.close()
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
            return {"positions": rows, "distinct_mmsi": ships, "vessels": vessels, "db_mb": size / 2**20}

        return await asyncio.to_thread(query)
    import asyncpg

    conn = await asyncpg.connect(db, timeout=10)
    try:
        rows, ships = await conn.fetchrow("SELECT COUNT(*), COUNT(DISTINCT mmsi) FROM positions")
        vessels = await conn.fetchval("SELECT COUNT(*) FROM vessels")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {"positions": rows, "distinct_mmsi": ships, "vessels": vessels, "db_mb": size / 2**20}


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ----------------------------------------------------------------------------------------- the soak
@dataclass
class Run:
    args: argparse.Namespace
    db: str
    workdir: Path
    feed: Feed
    log_path: Path
    token: str = ""
    http_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    t0: float = 0.0
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds since t0, MB)
    metrics: list[MetricsSample] = field(default_factory=list)
    cpu_start: tuple[float, float] = (0.0, 0.0)
    cpu_end: tuple[float, float] = (0.0, 0.0)
    bench_cpu: float = 0.0
    final_metrics: dict[str, float] = field(default_factory=dict)
    drain_seconds: float = float("nan")
    drained: bool = False
    shutdown_seconds: float = float("nan")
    exit_code: int | None = None
    died: str = ""
    load: LoadGenerator | None = None


def make_token(db: str, workdir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIS_WATCH_", "AISSTREAM_"))}
    out = subprocess.run([sys.executable, "-m", "ais_watch", "--db", db, "--log-level", "WARNING", "token",
                          "create", "--role", "viewer", "--name", "soak-bench"],
                         capture_output=True, text=True, env=env, cwd=workdir, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"ais-watch token create failed: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


async def scrape(session: aiohttp.ClientSession, base: str) -> dict[str, float] | None:
    try:
        async with session.get(base + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as response:
            if response.status != 200:
                return None
            return parse_metrics(await response.text())
    except (aiohttp.ClientError, TimeoutError):
        return None


async def sample_rss(run: Run, stop: asyncio.Event) -> None:
    assert run.proc is not None
    while not stop.is_set():
        value = rss_mb(run.proc.pid)
        if value is not None:
            run.rss.append((time.perf_counter() - run.t0, value))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def sample_metrics(run: Run, session: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> None:
    feed = run.feed
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=run.args.sample_interval)
        if stop.is_set():
            break
        values = await scrape(session, base)
        now = time.perf_counter()
        if values is None:
            continue
        elapsed = now - run.t0
        due = min(feed.counters.offered, int(elapsed * feed.rate))
        run.metrics.append(MetricsSample(
            at=elapsed, due=due, sent=feed.counters.sent,
            messages=values.get("ais_watch_messages_total", 0.0),
            positions_written=values.get("ais_watch_positions_written_total", 0.0),
            duplicates=values.get("ais_watch_duplicates_total", 0.0),
            rejected=values.get("ais_watch_rejected_total", 0.0),
            queue_batches=values.get("ais_watch_store_queue_batches", 0.0),
            lag_gauge=values.get("ais_watch_pipeline_lag_seconds", float("nan"))))


async def watch_service(run: Run, stop: asyncio.Event) -> None:
    """Ends the run early if the service dies."""
    assert run.proc is not None
    while not stop.is_set():
        if run.proc.poll() is not None:
            run.died = f"the service exited with code {run.proc.returncode} during the run"
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


async def soak(run: Run) -> None:
    args, feed = run.args, run.feed
    await feed.start()
    run.http_port = args.http_port or free_port()
    base = f"http://127.0.0.1:{run.http_port}"
    env = service_env(run.db, feed.port, run.http_port, not args.no_detectors)
    log_file = run.log_path.open("wb")
    try:
        run.proc = subprocess.Popen([sys.executable, "-m", "ais_watch", "serve"], env=env, cwd=run.workdir,
                                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    finally:
        log_file.close()
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Up: the API answers and the service has subscribed.
        deadline = time.perf_counter() + 60
        while True:
            if run.proc.poll() is not None:
                raise SystemExit(f"the service exited with code {run.proc.returncode} at start:\n"
                                 f"{log_tail(run.log_path)}")
            if time.perf_counter() > deadline:
                raise SystemExit(f"the service did not come up within 60 s:\n{log_tail(run.log_path)}")
            if feed.subscribed.is_set():
                try:
                    async with session.get(base + "/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
            await asyncio.sleep(0.1)

        load = LoadGenerator(base, run.token, feed)
        health = LoadGenerator(base, run.token, feed)
        stop = asyncio.Event()
        run.cpu_start = cpu_seconds(run.proc.pid)
        bench_cpu0 = time.process_time()
        run.t0 = time.perf_counter()
        wall0 = time.time()
        stop_at = run.t0 + args.duration
        samplers = [asyncio.create_task(sample_rss(run, stop)),
                    asyncio.create_task(sample_metrics(run, session, base, stop)),
                    asyncio.create_task(watch_service(run, stop))]
        sender = asyncio.create_task(feed.run(run.t0, wall0))
        loaders = [
            asyncio.create_task(load.run(session, run.t0, stop_at, args.api_rate,
                                         lambda n: load.cycle[n % len(load.cycle)])),
            asyncio.create_task(health.run(session, run.t0, stop_at, args.health_rate, lambda n: "healthz")),
        ]
        work = asyncio.gather(sender, *loaders)
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([work, stopped], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():  # the service died: stop feeding and querying
            for task in (sender, *loaders):
                task.cancel()
        await asyncio.gather(work, return_exceptions=True)
        stopped.cancel()
        run.cpu_end = cpu_seconds(run.proc.pid)
        load.samples.extend(health.samples)
        for key, count in health.errors.items():
            load.errors[key] = load.errors.get(key, 0) + count
        load.not_sent += health.not_sent
        run.load = load

        # Drain: everything sent read and committed (or the timeout).
        ended = time.perf_counter()
        while not run.died and time.perf_counter() - ended < args.drain_timeout:
            values = await scrape(session, base)
            if values is not None:
                run.final_metrics = values
                taken = (values.get("ais_watch_positions_written_total", 0.0)
                         + values.get("ais_watch_duplicates_total", 0.0)
                         + values.get("ais_watch_rejected_total", 0.0))
                if values.get("ais_watch_messages_total", 0.0) >= feed.counters.sent and taken >= (
                        values.get("ais_watch_messages_total", 0.0)):
                    run.drained = True
                    break
            await asyncio.sleep(0.25)
        run.drain_seconds = time.perf_counter() - ended
        stop.set()
        await asyncio.gather(*samplers, return_exceptions=True)
        run.bench_cpu = time.process_time() - bench_cpu0

    # A clean stop: SIGTERM, the service flushes what it holds and exits.
    if run.proc.poll() is None:
        began = time.perf_counter()
        run.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(run.proc.wait, 120)
        except subprocess.TimeoutExpired:
            run.died = run.died or "the service did not stop within 120 s of SIGTERM (killed)"
            run.proc.kill()
            await asyncio.to_thread(run.proc.wait, 30)
        run.shutdown_seconds = time.perf_counter() - began
    run.exit_code = run.proc.returncode
    await feed.close()


# ------------------------------------------------------------------------------------------- report
def summarise(run: Run, stored: dict[str, Any], load: LoadGenerator) -> dict[str, Any]:
    args, c = run.args, run.feed.counters
    duration = args.duration
    warmup = args.warmup
    m = run.final_metrics
    lost = c.sent - int(stored["positions"])
    rate = run.feed.rate

    # Achieved rate per 5-second window of the feed's own history.
    windows: list[float] = []
    edge = run.t0 + 5.0
    while edge <= run.t0 + min(duration, c.send_seconds) + 1e-9:
        windows.append((run.feed.sent_by(edge) - run.feed.sent_by(edge - 5.0)) / 5.0)
        edge += 5.0

    samples = [s for s in run.metrics if s.at <= duration + 0.5]
    lag = [s.lag_gauge for s in samples if not math.isnan(s.lag_gauge)]
    store_backlog = [max(0.0, (s.due - s.positions_written - s.duplicates - s.rejected) / rate)
                     for s in samples]
    socket_backlog = [max(0.0, s.sent - s.messages) for s in samples]
    feed_behind = [max(0.0, (s.due - s.sent) / rate) for s in samples]

    rss_points = run.rss
    rss_values = [v for _, v in rss_points]
    after = [(t, v) for t, v in rss_points if t >= warmup]
    at_warmup = after[0][1] if after else float("nan")
    tenth = max(1.0, duration / 10)
    early = [v for t, v in after if t < warmup + tenth]
    late = [v for t, v in after if t >= duration - tenth]
    growth = (sum(late) / len(late) - sum(early) / len(early)) if early and late else float("nan")
    second_half = [(t, v) for t, v in rss_points if t >= duration / 2]

    cpu_elapsed = max(1e-9, duration + (run.drain_seconds if not math.isnan(run.drain_seconds) else 0.0))
    cpu_total = (run.cpu_end[0] - run.cpu_start[0]) / max(1e-9, duration)
    cpu_main = (run.cpu_end[1] - run.cpu_start[1]) / max(1e-9, duration)

    def latency(route_filter: Callable[[Sample], bool]) -> dict[str, float]:
        chosen = [s for s in load.samples if route_filter(s)]
        ok = [s.ms for s in chosen if s.status == 200]
        return {"n": len(chosen), "errors": sum(1 for s in chosen if s.status != 200),
                "p50_ms": pct(ok, 50), "p95_ms": pct(ok, 95), "p99_ms": pct(ok, 99),
                "max_ms": max(ok) if ok else float("nan")}

    routes = [name for name, _ in ROUTE_MIX]
    per_route = {name: latency(lambda s, name=name: s.route == name) for name in routes}
    data_routes = latency(lambda s: s.route != "healthz")
    healthz = latency(lambda s: s.route == "healthz")
    quarters = [pct([s.ms for s in load.samples if s.route != "healthz" and s.status == 200
                     and q * duration / 4 <= s.at < (q + 1) * duration / 4], 95) for q in range(4)]

    return {
        "config": {"rate": rate, "duration_s": duration, "ships": args.ships, "api_rate": args.api_rate,
                   "health_rate": args.health_rate, "db": "postgresql" if run.db.startswith("postgresql")
                   else "sqlite", "detectors": not args.no_detectors, "compression": args.compression,
                   "warmup_s": warmup, "sample_interval_s": args.sample_interval, "cpus": os.cpu_count()},
        "ingest": {
            "offered": c.offered, "sent": c.sent, "not_taken": c.not_taken,
            "skipped_disconnected": c.skipped_disconnected, "connections": c.connections,
            "disconnects": c.disconnects,
            "achieved_rate": c.sent / c.send_seconds if c.send_seconds > 0 else float("nan"),
            "min_5s_rate": min(windows) if windows else float("nan"),
            "max_behind_messages": c.max_behind, "sender_blocked_s": c.blocked_seconds,
            "received": m.get("ais_watch_messages_total", float("nan")),
            "decoded": m.get("ais_watch_decoded_total", float("nan")),
            "rejected": m.get("ais_watch_rejected_total", 0.0),
            "duplicates": m.get("ais_watch_duplicates_total", float("nan")),
            "positions_written_metric": m.get("ais_watch_positions_written_total", float("nan")),
            "stored": stored["positions"], "distinct_mmsi_stored": stored["distinct_mmsi"],
            "vessels_rows": stored["vessels"], "db_mb": stored["db_mb"], "lost": lost,
            "drained": run.drained, "drain_s": run.drain_seconds, "shutdown_s": run.shutdown_seconds,
            "service_exit_code": run.exit_code, "died": run.died,
        },
        "lag": {
            "samples": len(samples),
            "gauge_p50_s": pct(lag, 50), "gauge_p95_s": pct(lag, 95),
            "gauge_max_s": max(lag) if lag else float("nan"),
            "feed_to_store_p50_s": pct(store_backlog, 50), "feed_to_store_p95_s": pct(store_backlog, 95),
            "feed_to_store_max_s": max(store_backlog) if store_backlog else float("nan"),
            "socket_backlog_p50": pct(socket_backlog, 50), "socket_backlog_p95": pct(socket_backlog, 95),
            "socket_backlog_max": max(socket_backlog) if socket_backlog else float("nan"),
            "feed_behind_max_s": max(feed_behind) if feed_behind else float("nan"),
            "store_queue_max": max((s.queue_batches for s in samples), default=float("nan")),
        },
        "rss": {
            "start_mb": rss_values[0] if rss_values else float("nan"), "warmup_mb": at_warmup,
            "peak_mb": max(rss_values) if rss_values else float("nan"),
            "peak_after_warmup_mb": max((v for _, v in after), default=float("nan")),
            "end_mb": rss_values[-1] if rss_values else float("nan"),
            "growth_after_warmup_mb": growth, "slope_second_half_mb_per_min": slope_per_minute(second_half),
            "samples": len(rss_values),
        },
        "cpu": {"service_cores": cpu_total, "service_main_thread_cores": cpu_main,
                "bench_cores": run.bench_cpu / cpu_elapsed},
        "api": {"routes": per_route, "data_routes": data_routes, "healthz": healthz,
                "data_p95_by_quarter_ms": quarters, "not_sent_in_flight_cap": load.not_sent,
                "errors": load.errors},
        "series": {"rss": rss_points, "metrics": [asdict(s) for s in run.metrics],
                   "api": [(s.route, round(s.at, 3), round(s.ms, 2), s.status) for s in load.samples]},
    }


def print_report(r: dict[str, Any]) -> None:
    cfg, ing, lag, rss, cpu, api = r["config"], r["ingest"], r["lag"], r["rss"], r["cpu"], r["api"]
    ok = "PASS"
    print(f"soak: {cfg['rate']:,.0f} msg/s offered for {cfg['duration_s']:g} s over {cfg['ships']:,} ships; "
          f"db {cfg['db']}; detectors {'on' if cfg['detectors'] else 'off'}; websocket compression "
          f"{cfg['compression']}; API {cfg['api_rate']:g} req/s + /healthz {cfg['health_rate']:g} req/s; "
          f"{cfg['cpus']} CPUs")
    rows: list[tuple[str, str, str]] = []

    def row(label: str, value: str, note: str = "") -> None:
        rows.append((label, value, note))

    row("[ingest]", "", "")
    row("offered (rate x duration)", f"{ing['offered']:,}")
    row("sent by the feed", f"{ing['sent']:,}",
        f"achieved {ing['achieved_rate']:,.0f} msg/s (slowest 5 s: {ing['min_5s_rate']:,.0f} msg/s)")
    row("not taken (backpressure / disconnected)", f"{ing['not_taken']:,} / {ing['skipped_disconnected']:,}",
        f"target 0: {ok if ing['not_taken'] + ing['skipped_disconnected'] == 0 else 'FAIL'}; "
        f"feed blocked on the socket {ing['sender_blocked_s']:.1f} s, "
        f"at most {ing['max_behind_messages']:,} msgs behind schedule")
    row("received by the service", f"{ing['received']:,.0f}",
        f"decoded {ing['decoded']:,.0f}, rejected {ing['rejected']:,.0f}, "
        f"duplicates {ing['duplicates']:,.0f}")
    row("stored (positions rows after SIGTERM)", f"{ing['stored']:,}",
        f"{ing['distinct_mmsi_stored']:,} MMSIs, {ing['vessels_rows']:,} vessel rows, "
        f"db {ing['db_mb']:,.0f} MB")
    row("LOST (sent - stored)", f"{ing['lost']:,}", f"target 0: {ok if ing['lost'] == 0 else 'FAIL'}")
    row("connections / service exit code", f"{ing['connections']} / {ing['service_exit_code']}",
        ing["died"] or ("clean shutdown" if ing["service_exit_code"] == 0 else "unclean exit"))
    for line in ing["disconnects"][:-1] if ing["connections"] > 1 else []:  # the last one is the shutdown
        row("  disconnected", "", line)
    row(f"[pipeline lag] ({lag['samples']} samples)", "p50 / p95 / max", "")
    row("service gauge: now - newest event processed",
        f"{lag['gauge_p50_s']:.2f} / {lag['gauge_p95_s']:.2f} / {lag['gauge_max_s']:.2f} s",
        "event time = when the feed was due to send it")
    row("feed to store: due less committed",
        f"{lag['feed_to_store_p50_s']:.2f} / {lag['feed_to_store_p95_s']:.2f} / "
        f"{lag['feed_to_store_max_s']:.2f} s",
        "in seconds of feed; includes the 1 s store.flush_interval")
    row("socket backlog: sent, not yet read",
        f"{lag['socket_backlog_p50']:,.0f} / {lag['socket_backlog_p95']:,.0f} / "
        f"{lag['socket_backlog_max']:,.0f}",
        f"messages; feed behind schedule at most {lag['feed_behind_max_s']:.2f} s")
    row("drain after the feed stopped", f"{ing['drain_s']:.1f} s",
        f"{'all read and committed' if ing['drained'] else 'NOT drained'}; store queue max "
        f"{lag['store_queue_max']:.0f} batches; SIGTERM to exit {ing['shutdown_s']:.1f} s")
    row("[memory] (service RSS incl. children)", "", "")
    row("at start / at warm-up / at end",
        f"{rss['start_mb']:.0f} / {rss['warmup_mb']:.0f} / {rss['end_mb']:.0f} MB",
        f"warm-up {cfg['warmup_s']:g} s")
    row("peak / peak after warm-up", f"{rss['peak_mb']:.0f} / {rss['peak_after_warmup_mb']:.0f} MB")
    growth = rss["growth_after_warmup_mb"]
    limit = max(10.0, 0.05 * rss["warmup_mb"]) if not math.isnan(rss["warmup_mb"]) else float("nan")
    row("growth after warm-up (last tenth - first tenth)", f"{growth:+.1f} MB",
        f"slope over the second half {rss['slope_second_half_mb_per_min']:+.2f} MB/min; "
        f"{'PASS' if growth <= limit else 'FAIL'} at <= {limit:.0f} MB")
    row("[CPU] (cores, averaged over the run)", "", "")
    row("service / its event-loop thread",
        f"{cpu['service_cores']:.2f} / {cpu['service_main_thread_cores']:.2f}",
        f"bench driver (feed + load + sampling) {cpu['bench_cores']:.2f}")
    health_p95 = api["healthz"]["p95_ms"]
    ratio = api["data_routes"]["p95_ms"] / health_p95 if health_p95 else float("nan")
    width = max(len(label) for label, _, _ in rows)
    vwidth = max(len(value) for _, value, _ in rows)
    for label, value, note in rows:
        if label.startswith("["):
            print(f"{label:<{width}}  {value}".rstrip())
        else:
            print(f"  {label:<{width - 2}}  {value:>{vwidth}}  {note}".rstrip())
    print(f"[API] open loop, {cfg['api_rate']:g} req/s over the dashboard's routes, /healthz "
          f"{cfg['health_rate']:g} req/s beside them as the baseline; latency in ms")
    print(f"  {'route':<22} {'n':>6} {'errors':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    for name, fig in [*api["routes"].items(), ("all data routes", api["data_routes"]),
                      ("/healthz (baseline)", api["healthz"])]:
        print(f"  {name:<22} {fig['n']:>6} {fig['errors']:>6} {fig['p50_ms']:>8.1f} {fig['p95_ms']:>8.1f} "
              f"{fig['p99_ms']:>8.1f} {fig['max_ms']:>8.1f}")
    print("  data routes p95 per quarter of the run: "
          + " / ".join(f"{q:.0f}" for q in api["data_p95_by_quarter_ms"])
          + f" ms; data p95 / healthz p95 = {ratio:.1f}x; requests skipped at the in-flight cap: "
          f"{api['not_sent_in_flight_cap']}")
    if api["errors"]:
        print("  errors: " + ", ".join(f"{k} x{v}" for k, v in sorted(api["errors"].items())))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5000.0, help="messages per second the feed offers")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds the feed and the load run")
    parser.add_argument("--ships", type=int, default=20_000, help="distinct MMSIs in the feed")
    parser.add_argument("--api-rate", type=float, default=20.0, help="API requests/s (open loop)")
    parser.add_argument("--health-rate", type=float, default=5.0, help="/healthz requests/s (baseline)")
    parser.add_argument("--db", default="", help="sqlite:///NEW_FILE or postgresql://... (default: a "
                        "temporary SQLite file); PostgreSQL: a database ais_watch_soak*, emptied first")
    parser.add_argument("--no-detectors", action="store_true", help="the service only ingests and stores")
    parser.add_argument("--compression", choices=("none", "deflate"), default="none",
                        help="websocket permessage-deflate offered by the feed (default none)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before RSS must stop growing (default min(120, duration / 4))")
    parser.add_argument("--sample-interval", type=float, default=None,
                        help="seconds between /metrics samples (default min(5, duration / 20), >= 0.5)")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="seconds to wait, after the feed stops, for everything sent to be stored")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds per API request")
    parser.add_argument("--http-port", type=int, default=0,
                        help="the service's API port (default: a free one)")
    parser.add_argument("--json", type=Path, help="also write every figure (and the samples) here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (service log, SQLite db)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.ships <= 0:
        raise SystemExit("--rate, --duration and --ships must be positive")
    if args.warmup is None:
        args.warmup = min(120.0, args.duration / 4)
    if args.sample_interval is None:
        args.sample_interval = max(0.5, min(5.0, args.duration / 20))
    args.compression = args.compression if args.compression == "deflate" else "none"
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="ais-watch-soak-"))
    run: Run | None = None
    try:
        if args.db.startswith("postgres"):
            db = asyncio.run(prepare_postgres(args.db))
        elif args.db:
            if not args.db.startswith("sqlite:///"):
                raise SystemExit("--db: sqlite:///NEW_FILE or postgresql://...")
            if Path(args.db.split("///", 1)[1]).exists():
                raise SystemExit(f"--db: {args.db} exists; the soak needs a new file")
            db = args.db
        else:
            db = f"sqlite:///{workdir / 'soak.db'}"
        run = Run(args=args, db=db, workdir=workdir,
                  feed=Feed(args.rate, args.duration, args.ships, args.compression == "deflate"),
                  log_path=workdir / "serve.log")
        run.token = make_token(db, workdir)
        asyncio.run(soak(run))
        stored = asyncio.run(count_stored(db))
        assert run.load is not None
        result = summarise(run, stored, run.load)
    except BaseException:
        print(f"soak failed; work directory (service log, database) kept: {workdir}", file=sys.stderr)
        raise
    finally:
        if run is not None and run.proc is not None and run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(30)
    print_report(result)
    warnings = [line for line in log_tail(run.log_path, 100_000).splitlines()
                if any(mark in line for mark in (" WARNING ", " ERROR ", " CRITICAL ", "Traceback",
                                                 "Warning: "))]
    print(f"service log: {len(warnings)} warning/error lines"
          + ("".join(f"\n    {line[:200]}" for line in warnings[:10])))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str))
        print(f"figures written to {args.json}")
    if args.keep:
        print(f"work directory kept: {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    print(f"soak took {time.perf_counter() - started:.0f} s; peak RSS of this driver "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    ing = result["ingest"]
    return 1 if ing["lost"] or ing["not_taken"] or ing["skipped_disconnected"] else 0


if __name__ == "__main__":
    sys.exit(main())
