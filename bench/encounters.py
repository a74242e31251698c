"""The encounter pair search per tick with 200,000 vessels heard recently (2,000 watched), beside a naive
all-pairs search on a subset in the same run.

Vessels are spread over the Sea of Japan / East Sea box (33-46 N, 127-142 E), fixed seed: 70% under way
(8-14 kn), 30% slow (a fifth of those in pairs 100-400 m apart, the rest alone), 5% in ports. Each tick
every vessel reports once (moving its row: the positions path's cost is timed too) and then the stage's
`tick` runs: the candidate mask, the k-d tree pair search, the meetings and loitering. Printed: per-tick
p50/p99 of the tick, the positions path per position, and the naive search (every pair's distance, in
numpy) on --naive-subset vessels, extrapolated by n^2 to the whole fleet. Compare the ratios; the machine
is shared and noisy.

    python bench/encounters.py [--vessels 200000] [--watched 2000] [--ticks 30] [--naive-subset 20000]
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ais_watch.alerts.model import AlertAmendment, AlertDraft
from ais_watch.detectors.encounter_rules import EncounterRules
from ais_watch.detectors.encounters import EncounterStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.model import PositionReport
from ais_watch.pipeline.stage import Context, VesselRow
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import WatchlistIndex

T0 = datetime(2024, 6, 1, tzinfo=UTC)
FIRST_MMSI = 211_000_000


class Sink:
    """The services a tick raises into: counted, not stored."""

    def __init__(self) -> None:
        self.alerts = 0
        self.encounters = 0

    def raise_alert(self, draft: AlertDraft) -> None:
        self.alerts += 1

    def amend_alert(self, amendment: AlertAmendment) -> None:
        pass

    def record_encounter(self, row: dict[str, Any]) -> None:
        self.encounters += 1

    def save_state(self, detector: str, key: str, state: dict[str, Any] | None) -> None:
        pass

    def vessel(self, mmsi: int) -> VesselRow | None:
        return {"mmsi": mmsi, "mmsi_valid": True, "imo": None, "name": None, "flag": None, "ship_type": None}


def fleet(n: int, seed: int = 20240601) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    lat = rng.uniform(33, 46, n)
    lon = rng.uniform(127, 142, n)
    slow = rng.random(n) < 0.30
    paired = slow & (rng.random(n) < 0.2)
    # Every other paired vessel sits 100-400 m east of the one before it.
    idx = np.flatnonzero(paired)
    for a, b in zip(idx[0::2], idx[1::2], strict=False):
        lat[b] = lat[a]
        lon[b] = lon[a] + rng.uniform(100, 400) / (111_320 * math.cos(math.radians(lat[a])))
    knots = np.where(slow, rng.uniform(0.1, 1.5, n), rng.uniform(8, 14, n))
    return {"lat": lat, "lon": lon, "knots": knots, "in_port": rng.random(n) < 0.05}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vessels", type=int, default=200_000)
    parser.add_argument("--watched", type=int, default=2_000)
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--naive-subset", type=int, default=20_000)
    args = parser.parse_args()
    n = args.vessels
    ships = fleet(n)
    entries = [WatchEntry(name=None, imo=None, mmsi=FIRST_MMSI + i, flag=None, reason="bench", source="bench")
               for i in range(0, n, max(1, n // args.watched))][: args.watched]
    enricher = WatchlistEnricher(WatchlistIndex(entries))
    stage = EncounterStage(enricher, EncounterRules(), recent_seconds=600)
    sink = Sink()
    watched = {e.mmsi for e in entries}
    port_zone = type("Port", (), {"is_port": True})()

    tick_ms: list[float] = []
    position_us: list[float] = []
    for k in range(args.ticks):
        now = T0 + timedelta(minutes=k)
        step = ships["knots"] / 60 / 60  # degrees north per minute (a knot is a minute of latitude an hour)
        lat = ships["lat"] + step * k
        started = time.perf_counter()
        for i in range(n):
            ctx = Context(sink)  # type: ignore[arg-type]
            mmsi = FIRST_MMSI + i
            if mmsi in watched:
                ctx.watch = enricher.match({"mmsi": mmsi, "mmsi_valid": True, "imo": None, "name": None})
            if ships["in_port"][i]:
                ctx.zones = (port_zone,)  # type: ignore[assignment]
            stage.handle(PositionReport(mmsi=mmsi, time=now, lat=float(lat[i]), lon=float(ships["lon"][i]),
                                        sog=None, cog=None, heading=None, nav_status=0, msg_type=1,
                                        source="bench", received_at=now), ctx)
        position_us.append((time.perf_counter() - started) / n * 1e6)
        started = time.perf_counter()
        stage.tick(now, sink)  # type: ignore[arg-type]
        tick_ms.append((time.perf_counter() - started) * 1000)

    steady = tick_ms[2:] or tick_ms  # the first ticks have no speeds yet
    p50 = statistics.median(steady)
    p99 = float(np.percentile(steady, 99))
    print(f"{n:,} vessels heard every minute, {len(entries):,} watched, {args.ticks} ticks")
    print(f"positions path: {statistics.median(position_us):.2f} us per position (median over ticks)")
    last = T0 + timedelta(minutes=args.ticks - 1)
    print(f"tick (candidates, pair search, meetings, loitering): p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(target p99 < 50 ms); candidates {len(stage.candidates(last)):,}, "
          f"meetings {len(stage.meetings):,}")
    print(f"the tick where every meeting is new (the fleet's first speeds): {max(tick_ms[:2]):.1f} ms")

    m = min(args.naive_subset, n)
    rows = np.arange(m)
    started = time.perf_counter()
    la, lo = np.radians(stage.column(stage.lat)[rows]), np.radians(stage.column(stage.lon)[rows])
    close = 0
    for i in range(m):  # every pair once, a row at a time (an m x m matrix would not fit at 200k)
        dlat = la[i + 1:] - la[i]
        dlon = (lo[i + 1:] - lo[i]) * math.cos(la[i])
        close += int(np.count_nonzero(np.hypot(dlat, dlon) * 6_371_008.8 <= 500))
    naive = time.perf_counter() - started
    print(f"naive all-pairs on {m:,} vessels: {naive * 1000:.0f} ms ({close} pairs within 500 m); "
          f"extrapolated to {n:,}: {naive * (n / m) ** 2:.1f} s a tick")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
