"""Alert latency: from the arrival of the position that triggers an alert to a webhook receiver getting
it (p50, p99), while the pipeline ingests background traffic at a steady rate (default 5,000 msg/s).

Everything runs on this machine: real NMEA lines (the bundled recordings, time-shifted so they are new
traffic) decoded on the live path, the real pipeline, alert store, outbox and dispatcher on SQLite (or
--pg URL), and an aiohttp webhook receiver on loopback. A bench-only stage raises an alert for each
trigger position (no detector decides here: this measures the alert path, not a detection rule).

    python bench/alert_latency.py [--rate 5000] [--seconds 30] [--triggers-per-second 4] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ais_watch.alerts.model import AlertDraft  # noqa: E402
from ais_watch.clock import WallClock  # noqa: E402
from ais_watch.config import load_settings  # noqa: E402
from ais_watch.decode import NmeaDecoder  # noqa: E402
from ais_watch.model import IngestStats, PositionReport, Report  # noqa: E402
from ais_watch.pipeline.stage import Context, StageBase  # noqa: E402
from ais_watch.runtime import running_pipeline, tune_garbage_collector  # noqa: E402

TRIGGER_MMSI = 273999999
DEMO = REPO / "ais_watch" / "data" / "demo" / "dma-tagblock-pghp-2013.nmea.gz"


class TriggerStage(StageBase):
    """Raises one alert per position of TRIGGER_MMSI; the position's `station` carries its sequence."""

    name = "bench-trigger"

    def handle(self, report: Report, ctx: Context) -> None:
        if isinstance(report, PositionReport) and report.mmsi == TRIGGER_MMSI:
            ctx.services.raise_alert(AlertDraft(
                kind="went_dark", occurred_at=report.time, event_key=str(report.station), mmsi=report.mmsi,
                vessel_name="BENCH", place="bench", lat=report.lat, lon=report.lon,
                details={"seq": int(report.station or 0)}))


def background_lines() -> list[bytes]:
    with gzip.open(DEMO, "rb") as fh:
        return fh.read().splitlines()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=5000.0, help="background AIS messages per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--triggers-per-second", type=float, default=4.0)
    parser.add_argument("--pg", default="", help="PostgreSQL: a database ais_watch_bench beside this one")
    args = parser.parse_args()

    arrivals: dict[int, float] = {}
    stored: dict[int, float] = {}  # when the alert's transaction had committed (the store's listeners run)
    others: list[str] = []  # alerts the real detectors raised on the background traffic, not triggers

    async def receive(request: web.Request) -> web.Response:
        alert = json.loads(await request.read())
        seq = alert["details"].get("seq")
        if seq is None:
            others.append(alert["kind"])
        else:
            arrivals[seq] = time.perf_counter()
        return web.Response(text="ok")

    def committed(row: dict[str, object]) -> None:
        details = row.get("details")
        if isinstance(details, dict) and "seq" in details and row.get("state") == "open":
            stored.setdefault(int(details["seq"]), time.perf_counter())

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        if args.pg:
            from bench.replay_throughput import bench_database

            db = await asyncio.to_thread(bench_database, args.pg)  # it runs its own event loop
        settings = load_settings(environ={}).with_overrides(
            db=db, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_secret="bench", alerts__cooldown=0.0)
        lines = background_lines()
        stats = IngestStats()
        sent: dict[int, float] = {}
        async with running_pipeline(settings, WallClock(), stats=stats, stages=[TriggerStage()]) as runtime:
            runtime.alerts.subscribe(committed)
            # As serve starts: land and sea routes prepared in a thread (the first fix off its track would
            # otherwise load the land on the event loop, a second's stall), the garbage collector tuned.
            if runtime.detectors is not None:
                await asyncio.to_thread(runtime.detectors.dark.prepare_routes)
            tune_garbage_collector()
            decoder = NmeaDecoder("bench", stats)
            start = time.perf_counter()
            messages = 0
            line_index = 0
            seq = 0
            next_trigger = start
            tick = 0.01  # send background traffic in 10 ms slices
            while (now := time.perf_counter()) - start < args.seconds:
                due = int((now - start) * args.rate) - messages
                while due > 0:
                    line = lines[line_index % len(lines)]
                    line_index += 1
                    for report in decoder.feed(line, datetime.now(UTC)):
                        report.time = datetime.now(UTC)  # live traffic: event time is now
                        # The 5-minute recording loops every few seconds: make each pass new traffic.
                        if report.payload is not None:
                            report.payload += b"%d" % line_index
                        await runtime.pipeline.submit(report)
                        messages += 1
                        due -= 1
                if now >= next_trigger:
                    seq += 1
                    trigger = PositionReport(TRIGGER_MMSI, datetime.now(UTC), 42.25, 130.3, 0.0, None, None,
                                             5, 1, "bench", datetime.now(UTC), str(seq))
                    sent[seq] = time.perf_counter()
                    await runtime.pipeline.submit(trigger)
                    next_trigger += 1 / args.triggers_per_second
                await asyncio.sleep(max(0.0, tick - (time.perf_counter() - now)))
            elapsed = time.perf_counter() - start
            assert runtime.dispatcher is not None
            await runtime.dispatcher.drain(30)
        await runner.cleanup()

    latencies = sorted((arrivals[s] - sent[s]) * 1000 for s in sent if s in arrivals)
    lost = len(sent) - len(latencies)
    to_store = sorted((stored[s] - sent[s]) * 1000 for s in sent if s in stored)
    to_hook = sorted((arrivals[s] - stored[s]) * 1000 for s in sent if s in stored and s in arrivals)

    def pct(p: float, values: list[float] | None = None) -> float:
        values = latencies if values is None else values
        return values[min(len(values) - 1, int(p / 100 * len(values)))]

    print(f"background: {messages:,} messages in {elapsed:.1f}s = {messages / elapsed:,.0f} msg/s "
          f"(asked {args.rate:,.0f}); {stats.positions_stored:,} positions stored; db {db.split(':')[0]}")
    print(f"alerts: {len(sent)} triggered, {len(latencies)} received by the webhook, {lost} missing")
    if latencies:
        print(f"trigger position -> webhook receiver: p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, "
              f"max {latencies[-1]:.1f} ms, mean {statistics.fmean(latencies):.1f} ms (target p99 < 100 ms)")
    if to_store and to_hook:  # where it goes: the alert's commit, then the dispatcher's claim and the send
        print(f"  of which: position -> alert committed p50 {pct(50, to_store):.1f} ms, p99 "
              f"{pct(99, to_store):.1f} ms; committed -> webhook p50 {pct(50, to_hook):.1f} ms, p99 "
              f"{pct(99, to_hook):.1f} ms")
    print(f"other alerts (the detectors on the background traffic): {len(others)}")


if __name__ == "__main__":
    asyncio.run(main())
