"""The dark sweep per tick: 200,000 tracked vessels of which 2,000 are watchlisted.

Measures, in one run:
- baseline: a naive sweep that looks at every tracked vessel's last_seen each tick (what a detector
  without a watched-ship index would do);
- the sea routes to the bundled ports (`ais_watch/sea_routes.py`): built once, the time and memory it takes;
- DarkStage.tick: the sweep over the watched ships' silences only, with the outage discount, with
  nobody going dark (the common tick) and with 1% of them going dark in that tick (alerts drafted, each
  with its nearest port and likely ports by sea);
- the reception step's state for those vessels (half heard through named stations, half through a feed
  naming none: its areas) and its tick over every station and area: the dark sweep with coverage;
- DarkStage.start: rebuilding the silences from the 200,000 stored vessel rows after a restart.
Prints p50/p99/max per tick and peak memory.

    python bench/dark_sweep.py [--vessels 200000] [--watched 2000] [--ticks 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ais_watch.detectors.dark import DarkStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.model import PositionReport
from ais_watch.pipeline.feed_health import FeedHealth
from ais_watch.pipeline.reception import Reception, ReceptionOptions, not_heard
from ais_watch.pipeline.stage import Context
from ais_watch.sea_routes import SeaRoutes
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import WatchlistIndex
from ais_watch.zones import ZoneRegistry

NOW = datetime(2024, 1, 10, tzinfo=UTC)


def imo_with_check_digit(base: int) -> int:
    digits = [int(d) for d in f"{base:06d}"]
    return base * 10 + sum(d * w for d, w in zip(digits, range(7, 1, -1), strict=True)) % 10


class BenchServices:
    """The pipeline services DarkStage uses (StartServices): vessels, the feed's outages, alerts, state."""

    live = False
    resume_from = None

    def __init__(self, vessels: dict[int, dict[str, Any]], reception: Reception) -> None:
        self._vessels = vessels
        self.feed_health = reception.feed
        self.reception = reception
        self.drafts: list[Any] = []

    def raise_alert(self, draft: Any) -> None:
        self.drafts.append(draft)

    def save_state(self, detector: str, key: str, state: dict[str, Any] | None) -> None:
        pass

    def record_port_call(self, row: dict[str, Any]) -> None:
        pass

    def outage_overlap(self, source: str | None, start: datetime, end: datetime, *,
                       station: str | None = None, lat: float | None = None, lon: float | None = None
                       ) -> timedelta:
        return not_heard(self.feed_health, self.reception, source, start, end, station=station, lat=lat,
                         lon=lon)

    def area_reception(self, source: str | None, lat: float | None, lon: float | None
                       ) -> tuple[str, timedelta | None]:
        return self.reception.area_reception(source, lat, lon)

    def vessel(self, mmsi: int) -> dict[str, Any] | None:
        return self._vessels.get(mmsi)

    def vessels(self) -> Iterable[dict[str, Any]]:
        return self._vessels.values()

    def now(self) -> datetime:
        return NOW

    async def load_state(self, detector: str) -> dict[str, dict[str, Any]]:
        return {}  # a restart with nobody dark: what is measured is rebuilding the silences

    async def open_port_calls(self) -> list[dict[str, Any]]:
        return []


def build(
    n_vessels: int, n_watched: int, rng: random.Random
) -> tuple[dict[int, dict[str, Any]], WatchlistIndex]:
    vessels: dict[int, dict[str, Any]] = {}
    entries = []
    for i in range(n_vessels):
        mmsi = 200_000_000 + i * 7
        watched = i < n_watched
        imo = imo_with_check_digit(100_000 + i) if watched else None
        vessels[mmsi] = {
            "mmsi": mmsi,
            "mmsi_valid": True,
            "imo": imo,
            "name": f"SHIP {i}",
            "destination": None,
            "last_seen": NOW - timedelta(minutes=rng.uniform(0, 300)),
            "last_lat": rng.uniform(33, 50),
            "last_lon": rng.uniform(127, 142),
            "last_sog": 11.0,
            "last_cog": rng.uniform(0, 360),
            "last_source": "bench",
        }
        if watched:
            entries.append(
                WatchEntry(name=f"SHIP {i}", imo=imo, mmsi=None, flag=None, reason="bench", source="bench")
            )
    return vessels, WatchlistIndex(entries)


def build_reception(vessels: dict[int, dict[str, Any]], n_stations: int) -> tuple[Reception, int]:
    """Each vessel heard once: half through one of `n_stations` stations, half through a feed naming no
    station (its areas). Returns the step and the memory its state takes (tracemalloc)."""
    feed = FeedHealth(timedelta(minutes=10))
    reception = Reception(ReceptionOptions(), feed, event_time=True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, v in enumerate(vessels.values()):
        when = v["last_seen"]
        station = f"st{i % n_stations}" if i % 2 else None
        report = PositionReport(mmsi=v["mmsi"], time=when, lat=v["last_lat"], lon=v["last_lon"], sog=11.0,
                                cog=None, heading=None, nav_status=0, msg_type=1, source="bench",
                                received_at=when, station=station)
        reception.handle(report, Context(None))  # type: ignore[arg-type]  # nothing is raised while learning
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return reception, traced


def rss_mb() -> float:
    """Resident memory now (Linux), not the peak."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    return f"p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms, max {ordered[-1] * 1000:.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vessels", type=int, default=200_000)
    parser.add_argument("--watched", type=int, default=2_000)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--stations", type=int, default=1_000)
    args = parser.parse_args()
    rng = random.Random(7)
    ports = ZoneRegistry([]).index.ports()
    sea = SeaRoutes(ports)
    before = rss_mb()
    started = time.perf_counter()
    sea.prepare()  # the service builds them on first use; here before the clock starts on the ticks
    print(f"sea routes to {len(ports)} ports built: {time.perf_counter() - started:.2f} s, "
          f"+{rss_mb() - before:.0f} MB resident")
    vessels, index = build(args.vessels, args.watched, rng)
    reception, traced = build_reception(vessels, args.stations)
    pipeline = BenchServices(vessels, reception)
    stations = sum(c.kind == "station" for c in reception.coverages.values())
    print(f"reception state for {len(vessels):,} vessels heard through {stations:,} stations (half of them) "
          f"and {len(reception.coverages) - stations:,} areas: {traced / 2**20:.1f} MB (tracemalloc), "
          f"{traced / len(vessels):.0f} bytes a vessel")

    threshold = timedelta(hours=6)
    baseline = []
    for k in range(args.ticks):
        now = NOW + timedelta(minutes=k)
        started = time.perf_counter()
        silent = [
            v
            for v in vessels.values()
            if v["last_seen"] is not None and now - v["last_seen"] > threshold and v["imo"] is not None
        ]
        baseline.append(time.perf_counter() - started)
    print(
        f"baseline: naive sweep over {len(vessels):,} tracked vessels per tick: {percentiles(baseline)} "
        f"({len(silent)} silent at the end)"
    )

    enricher = WatchlistEnricher(index)
    stage = DarkStage(enricher, ports, threshold=threshold, sea=sea)
    started = time.perf_counter()
    await stage.start(pipeline)
    print(
        f"DarkStage.start over {len(vessels):,} stored vessels: {time.perf_counter() - started:.2f} s, "
        f"{len(stage.silences):,} watched silences"
    )

    quiet = []
    for k in range(args.ticks):
        now = NOW + timedelta(minutes=k % 60)  # nobody passes 6 h: the common tick
        started = time.perf_counter()
        stage.tick(now, pipeline)
        quiet.append(time.perf_counter() - started)
    print(f"DarkStage.tick, {len(stage.silences):,} watched, nobody going dark: {percentiles(quiet)}")

    # The sweep with coverage: every tick also judges every station and area (Reception.tick), as the
    # pipeline runs it before the dark rules; here nobody is silent past its threshold.
    coverage, swept = [], []
    for k in range(args.ticks):
        now = NOW + timedelta(minutes=k % 60)
        started = time.perf_counter()
        reception.tick(now, pipeline)  # type: ignore[arg-type]
        middle = time.perf_counter()
        stage.tick(now, pipeline)
        coverage.append(middle - started)
        swept.append(time.perf_counter() - started)
    print(f"Reception.tick over {len(reception.coverages):,} stations and areas: {percentiles(coverage)}")
    print(f"the dark sweep with coverage (Reception.tick + DarkStage.tick): {percentiles(swept)} "
          "(issue 12: under 50 ms p99)")

    # 1% of the watched ships cross the threshold in each tick: drafts with nearest port and likely ports.
    busy = []
    silences = list(stage.silences.values())
    for k in range(args.ticks):
        now = NOW + timedelta(hours=1, minutes=k)
        for state in silences[k * len(silences) // 100 % len(silences) :][: len(silences) // 100]:
            state.last_time = now - threshold - timedelta(minutes=1)
            state.alerted_for = None
        started = time.perf_counter()
        stage.tick(now, pipeline)
        busy.append(time.perf_counter() - started)
    print(
        f"DarkStage.tick with {len(silences) // 100} going dark per tick: {percentiles(busy)}; "
        f"{len(pipeline.drafts):,} went_dark drafted"
    )
    print(
        "ratio, watched-index tick p50 / naive sweep p50: "
        f"{statistics.median(quiet) / statistics.median(baseline):.3f}"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
