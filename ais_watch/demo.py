"""The demo `ais-watch serve` runs when no AIS feed is configured (and demo.replay is on).

Time. The pipeline runs on a DemoClock (below): demo time = start + (wall - start) x demo.speed.
Every demo message is timed on that clock and every rule reads it, so the rules are the real ones: a port
call still needs 30 minutes stopped and a ship goes dark after 6 hours, which at 60x pass in 30 seconds and
6 minutes. The time-driven rules run every ticks.interval of demo time (the demo ticks them itself: the
scheduler's ticks come every ticks.interval of wall time, which is an hour of demo time at 60x).

Traffic, all of it on one source, "demo" (one feed, as aisstream.io is one feed for the whole world):

- Recorded real traffic: each bundled recording (data/demo/, licences in data/demo/SOURCES.md), decoded
  once and put in event-time order, replayed in a loop at demo speed. Each loop is shifted so that the
  recording's earliest message lands at the demo clock's time when the loop starts, and never before the
  end of the previous loop, so no vessel's time goes backwards. At N x one report in N is replayed (a
  different one each loop): recorded traffic costs the store what it costs at 1x (under 100 reports a
  second), not N times that.
- One simulated ship (simulate.DEMO_SHIP, "SIMULATED DEMO SHIP", every line tagged s:SIMULATED): its
  voyage's NMEA is generated from the demo clock's time, each line sent when the clock reaches it; the
  next loop starts where and when the last one ended. Rajin port call, 8.75 hours dark, Vostochny port
  call, back.

Why one source: time a source was silent is not counted as a ship's silence (an outage is not a ship going
dark). A source carrying only the simulated ship would fall silent with it, its dark leg would count as an
outage and went_dark would never come. With the recorded traffic the feed stays up, as a real one would.

The simulated ship is watchlisted in the running service only (WatchlistEnricher.also_watch: kept when
the scheduler reloads the list), never written to the watchlist table, so a later live run on the same
database does not watch it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ais_watch.config import Settings
from ais_watch.decode import NmeaDecoder, decoder_options
from ais_watch.errors import AisWatchError
from ais_watch.model import IngestStats, Report
from ais_watch.runtime import DemoMode, Runtime
from ais_watch.scheduler import run_ticks
from ais_watch.simulate import DEMO_SHIP, demo_voyage
from ais_watch.sources.replay import replay_paths
from ais_watch.watchlist.entries import WatchEntry

log = logging.getLogger("ais_watch")
DEMO_DIR = Path(__file__).resolve().parent / "data" / "demo"
SOURCE = "demo"
LOOP_GAP = timedelta(minutes=2)  # the simulated voyage: from the last report of a loop to the next loop
DEMO_ENTRY = WatchEntry(
    name=DEMO_SHIP.name, imo=DEMO_SHIP.imo, mmsi=DEMO_SHIP.mmsi, flag="Russia",
    reason="simulated demo vessel, not a real ship", source="ais-watch demo (ais_watch/simulate.py)",
    tags=("demo",))


class DemoClock:
    """The demo's clock: the wall clock sped up, demo time = start + (wall - wall at start) x speed. Every
    demo message is timed on it and every rule reads it, so a 30-minute port dwell and a 6-hour dark
    threshold keep their real lengths in demo time and pass `speed` times faster."""

    def __init__(self, speed: float, start: datetime | None = None,
                 wall: Callable[[], datetime] | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"demo clock speed must be positive, got {speed!r}")
        self.speed = speed
        self._wall = wall or (lambda: datetime.now(UTC))
        self._wall_start = self._wall()
        self.start = start or self._wall_start

    def now(self) -> datetime:
        return self.start + (self._wall() - self._wall_start) * self.speed

    def observe(self, event_time: datetime) -> None:
        pass

    def advance_to(self, when: datetime) -> None:
        """Jump ahead to `when` if it is later (a store a previous demo left ahead of the wall clock)."""
        if when > self.now():
            self.start, self._wall_start = when, self._wall()

    def wall_seconds_until(self, when: datetime) -> float:
        """Wall-clock seconds until demo time reaches `when` (negative once it has)."""
        return (when - self.now()).total_seconds() / self.speed


def live_feed_configured(settings: Settings) -> bool:
    return bool(settings["aisstream.api_key"] or settings["nmea.tcp"] or settings["nmea.udp"])


def demo_clock(settings: Settings) -> DemoClock | None:
    """The demo's clock when `serve` runs the demo (no live feed configured, demo.replay on), else None."""
    if live_feed_configured(settings) or not settings["demo.replay"]:
        return None
    return DemoClock(settings["demo.speed"])


DEMO_DB = "sqlite:///./ais-watch-demo.db"


def demo_settings(settings: Settings) -> Settings:
    """The demo keeps to a database of its own unless one is configured: its positions and alerts carry
    demo times, ahead of the wall clock, and must not meet a later live run's in ./ais-watch.db."""
    if settings.origins["db"] != "default":
        return settings
    return settings.with_overrides(db=DEMO_DB)


async def sign_in_token(runtime: Runtime) -> str:
    """A fresh operator token for the demo's dashboard, so a newcomer signs in without another command."""
    from ais_watch.api.tokens import create_token

    return await create_token(runtime.engine, "operator", "demo", replace=True)


def banner(speed: float) -> str:
    return f"DEMO — recorded traffic replayed and one simulated ship; demo time runs {speed:g}x"


def demo_mode(clock: DemoClock) -> DemoMode:
    """What the API and the dashboard show while the demo runs."""
    return DemoMode(speed=clock.speed, banner=banner(clock.speed))


# ------------------------------------------------------------------------------------- watchlist
def watch_simulated_ship(runtime: Runtime) -> bool:
    """Watch the simulated ship in this running service (never in the table); False without detectors."""
    if runtime.detectors is None:
        return False
    runtime.detectors.watchlist.also_watch([DEMO_ENTRY])
    return True


# ------------------------------------------------------------------------------------ recordings
@dataclass(slots=True)
class Recording:
    """One bundled recording, decoded once, in event-time order."""

    name: str
    reports: list[Report]

    @property
    def span(self) -> timedelta:
        """How long a loop lasts: the recording's own span (a minute at least)."""
        return max(self.reports[-1].time - self.reports[0].time, timedelta(minutes=1))

    def loop(self, number: int, anchor: datetime, every: int = 1) -> list[Report]:
        """Loop `number` (from 0): one report in `every`, a different one each loop, shifted so that the
        recording's earliest report lands at `anchor`; new report objects, on the demo source."""
        shift = anchor - self.reports[0].time
        return [replace(r, time=r.time + shift, source=SOURCE)
                for r in self.reports[number % every::every]]


async def load_recording(path: Path, options: dict[str, Any], stats: IngestStats) -> Recording:
    reports: list[Report] = []

    async def keep(report: Report) -> None:
        reports.append(report)

    await replay_paths([path], "nmea", keep, stats, decoder_options=options)
    reports.sort(key=lambda r: r.time)  # stable: a vessel's reports keep their order within a second
    return Recording(path.name, reports)


async def wait_until(clock: DemoClock, when: datetime) -> None:
    delay = clock.wall_seconds_until(when)
    if delay > 0:
        await asyncio.sleep(delay)


async def replay_recording(recording: Recording, clock: DemoClock, emit: Any, every: int,
                           loops: int | None = None) -> None:
    """The recording in a loop (`loops` times, or forever), each loop at demo speed from the demo clock's
    time when it starts, and never before the previous loop ended."""
    end = None
    number = 0
    while loops is None or number < loops:
        anchor = clock.now()
        if end is not None and anchor <= end:
            anchor = end + timedelta(milliseconds=1)
        log.log(logging.INFO if number == 0 else logging.DEBUG,
                "demo: replaying recorded traffic %s (loop %d, %gx, one report in %d)",
                recording.name, number + 1, clock.speed, every)
        for report in recording.loop(number, anchor, every):
            await wait_until(clock, report.time)
            report.received_at = clock.now()
            await emit(report)
        end = anchor + recording.span
        await wait_until(clock, end)  # a loop lasts as long as the recording, however few reports it sent
        number += 1


# ------------------------------------------------------------------------------ simulated voyage
async def sail_simulated_ship(clock: DemoClock, emit: Any, stats: IngestStats, options: dict[str, Any],
                              loops: int | None = None) -> None:
    """The simulated ship's voyage in a loop (`loops` times, or forever), each line sent when the demo
    clock reaches its time, through the real decoder."""
    decoder = NmeaDecoder(SOURCE, stats, **options, require_event_time=True)
    start = clock.now()
    number = 0
    while loops is None or number < loops:
        pairs = demo_voyage(start)
        for when, line in pairs:
            await wait_until(clock, when)
            for report in decoder.feed(line, clock.now()):
                await emit(report)
        start = max(clock.now(), pairs[-1][0] + LOOP_GAP)
        number += 1


# ---------------------------------------------------------------------------------------- the demo
async def tick(runtime: Runtime, clock: DemoClock, interval: float) -> None:
    """The time-driven rules (went dark, feed outage) every `interval` seconds of demo time, as the
    scheduler's job runs them (only the leader's ticks run the fleet-wide rules)."""
    while True:
        await asyncio.sleep(max(0.01, interval / clock.speed))
        await run_ticks(runtime)


async def run_demo(settings: Settings, runtime: Runtime, clock: DemoClock) -> None:
    """Everything the demo sends, and its ticks, until cancelled."""
    files = sorted(DEMO_DIR.glob("*.nmea*"))
    if not files:
        raise AisWatchError(f"no demo recordings in {DEMO_DIR}")
    if not watch_simulated_ship(runtime):
        log.warning("demo: detectors are off (detectors.enabled): the simulated ship raises no alerts")
    latest = max((v["last_seen"] for v in runtime.pipeline.vessels.values() if v["last_seen"]), default=None)
    if latest is not None and latest >= clock.now():
        # A previous demo left the store ahead of the wall clock: carry on from there, so that no
        # vessel's reports go back in time.
        clock.advance_to(latest + timedelta(seconds=1))
        log.info("demo: the store is ahead of the wall clock (an earlier demo); demo time resumes at %s",
                 clock.now().isoformat(timespec="seconds"))
    elif latest is not None:
        # As live (the feed-health step does it for the wall clock): from the last stored event until
        # now nothing was watching, so that time is no watched ship's silence.
        runtime.feed_health.health.service_was_down(latest, clock.now())
    log.info("no AIS feed configured: running the demo (set AISSTREAM_API_KEY or AIS_WATCH_NMEA_TCP for a "
             "live feed)")
    log.info("demo: simulated voyage of %s (not a real ship) around Rajin, demo clock at %gx",
             DEMO_SHIP.name, clock.speed)
    log.info("demo: sign in to the dashboard with this operator token (demo database only): %s",
             await sign_in_token(runtime))
    emit = runtime.pipeline.submit
    options = decoder_options(settings)
    every = max(1, round(clock.speed))
    tasks = [asyncio.create_task(tick(runtime, clock, settings["ticks.interval"]), name="demo: ticks"),
             asyncio.create_task(sail_simulated_ship(clock, emit, runtime.stats, options),
                                 name="demo: simulated voyage")]
    try:
        for path in files:  # one at a time: each decodes in a worker process, on the other core
            recording = await load_recording(path, options, runtime.stats)
            if not recording.reports:
                log.warning("demo: %s has no reports with an event time; skipped", path.name)
                continue
            tasks.append(asyncio.create_task(replay_recording(recording, clock, emit, every),
                                             name=f"demo: {path.name}"))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
