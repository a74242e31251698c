"""The segments step's cost per position and its memory per tracked vessel, on real traffic.

The bundled recordings (Danish tag-block/$PGHP, AMSA terrestrial and satellite) are decoded once by the
project's decoder; their positions, in event-time order, then go through three loops in the same run:

  (a) baseline: the vessel-state step alone (per-vessel order, the row batched for the store);
  (b) the segments step alone, with the land mask (Natural Earth, loaded before the timing; its cells are
      built as the positions need them, within the timing);
  (c) both, as the pipeline runs them.

It prints microseconds per position of each and (b) as a share of (a), the fixes each reason marked, and
the memory the segmenter keeps per tracked vessel (tracemalloc, after the run). The machine is shared
and noisy: compare the ratios, not the absolute figures. The whole-replay figure (segments on / off with
every detector on) is in bench/replay_throughput.py.

    python bench/segments.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ais_watch.land import LandMask
from ais_watch.model import IngestStats, PositionReport
from ais_watch.pipeline.segments import Segmenter
from ais_watch.pipeline.stage import Context
from ais_watch.pipeline.vessel_state import VesselState
from ais_watch.sources.replay import detect_format, file_reports

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "ais_watch" / "data" / "demo"
RECORDINGS = ("dma-tagblock-pghp-2013.nmea.gz", "amsa-terrestrial-2012.nmea.gz",
              "amsa-satellite-trailing-ms.nmea")


def positions() -> list[PositionReport]:
    out: list[PositionReport] = []
    for name in RECORDINGS:
        path = DEMO / name
        for _line, reports in file_reports(path, detect_format(path), name, {}, IngestStats()):
            out.extend(r for r in reports if isinstance(r, PositionReport))
    out.sort(key=lambda r: r.time)
    return out


def timed(reports: list[PositionReport], make: Callable[[], Callable[[PositionReport, Context], None]],
          rounds: int) -> float:
    """Median seconds per position over `rounds` fresh runs."""
    runs = []
    for _ in range(rounds):
        handle = make()
        started = time.perf_counter()
        for report in reports:
            handle(report, Context(None))  # type: ignore[arg-type]
        runs.append((time.perf_counter() - started) / len(reports))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reports = positions()
    vessels = len({r.mmsi for r in reports})
    print(f"{len(reports):,} positions of {vessels:,} vessels from the bundled recordings")

    def vessel_state() -> Callable[[PositionReport, Context], None]:
        return VesselState(IngestStats()).handle

    started = time.perf_counter()
    LandMask().prepare()
    print(f"land loaded in {time.perf_counter() - started:.2f}s")

    def segments() -> Callable[[PositionReport, Context], None]:
        return Segmenter(land=LandMask()).handle

    def both() -> Callable[[PositionReport, Context], None]:
        seg, state = Segmenter(land=LandMask()), VesselState(IngestStats())

        def run(report: PositionReport, ctx: Context) -> None:
            seg.handle(report, ctx)
            state.handle(report, ctx)
        return run

    base = timed(reports, vessel_state, args.rounds)
    alone = timed(reports, segments, args.rounds)
    pair = timed(reports, both, args.rounds)
    print(f"(a) baseline, vessel-state step: {base * 1e6:.2f} us/position")
    for label, value in (("(b) segments step:", alone), ("(c) both:", pair)):
        print(f"{label:33}{value * 1e6:.2f} us/position ({value / base:.2f}x the baseline)")

    marks: Counter[str] = Counter()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    segmenter = Segmenter(land=LandMask())
    for report in reports:
        ctx = Context(None)  # type: ignore[arg-type]
        segmenter.handle(report, ctx)
        marks[ctx.anomaly or "believed"] += 1
    after = tracemalloc.take_snapshot()
    kept = sum(s.size_diff for s in after.compare_to(before, "filename"))
    tracemalloc.stop()
    tracked = len(segmenter.tracks)
    print(f"marks: {dict(marks.most_common())}")
    print(f"memory: {kept / 1e6:.1f} MB for {tracked:,} tracked vessels = "
          f"{kept / tracked:,.0f} bytes per vessel")


if __name__ == "__main__":
    main()
