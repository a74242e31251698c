"""The demo `serve` runs with nothing configured (ais_watch/demo.py): the demo clock, the simulated ship's
voyage through the real pipeline and rules (Rajin port call, went dark, Russian port call, in that order),
its watchlist entry kept in memory only, recorded loops that never send a vessel back in time, and a real
`python -m ais_watch serve` subprocess that shows the simulated ship through the API within seconds.

Sleep-free where it can be: the ordered-alerts tests replay the demo's own traffic (the simulated voyage
and the recordings' loops, built by the demo's functions) on a ReplayClock. The others run the demo for
real on a fast demo clock.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from ais_watch.clock import ReplayClock
from ais_watch.config import load_settings
from ais_watch.decode import NmeaDecoder
from ais_watch.demo import (
    DEMO_DIR,
    DEMO_ENTRY,
    SOURCE,
    DemoClock,
    Recording,
    banner,
    demo_clock,
    load_recording,
    replay_recording,
    run_demo,
    watch_simulated_ship,
)
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.model import IngestStats, PositionReport, Report
from ais_watch.runtime import running_pipeline
from ais_watch.simulate import DEMO_SHIP, demo_voyage
from ais_watch.store.schema import alerts, port_calls, positions, watchlist
from ais_watch.watchlist.index import WatchlistIndex
from tests.helpers.db import fetch
from tests.helpers.paths import REPO
from tests.helpers.reports import make_position
from tests.helpers.serve import Serve, child_env, cli_token, get_json

T0 = datetime(2031, 3, 1, 6, 0, tzinfo=UTC)
SHIP = DEMO_SHIP.mmsi


class FakeWall:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# ------------------------------------------------------------------------------------------ the clock
@pytest.mark.unit
def test_demo_clock_runs_speed_times_the_wall_clock() -> None:
    wall = FakeWall(T0)
    clock = DemoClock(60, wall=wall)
    assert clock.now() == T0 and clock.start == T0
    wall.now = T0 + timedelta(seconds=30)
    assert clock.now() == T0 + timedelta(minutes=30), "a 30-minute port dwell passes in 30 s at 60x"
    wall.now = T0 + timedelta(minutes=6)
    assert clock.now() == T0 + timedelta(hours=6), "a 6-hour dark threshold passes in 6 min"
    assert clock.wall_seconds_until(T0 + timedelta(hours=7)) == pytest.approx(60.0)
    assert clock.wall_seconds_until(T0 + timedelta(hours=5)) == pytest.approx(-60.0)
    clock.observe(T0 + timedelta(days=9))  # event times never move it
    assert clock.now() == T0 + timedelta(hours=6)

    # An explicit start: demo time = start + (wall - wall at start) x speed.
    later = DemoClock(2.5, start=T0 + timedelta(days=1), wall=wall)
    wall.now += timedelta(seconds=4)
    assert later.now() == T0 + timedelta(days=1, seconds=10)

    # advance_to only ever moves it ahead, and it runs on at its speed from there.
    clock.advance_to(T0)
    assert clock.now() == T0 + timedelta(hours=6, minutes=4)
    clock.advance_to(T0 + timedelta(days=3))
    assert clock.now() == T0 + timedelta(days=3)
    wall.now += timedelta(seconds=1)
    assert clock.now() == T0 + timedelta(days=3, minutes=1)

    with pytest.raises(ValueError):
        DemoClock(0)


@pytest.mark.unit
def test_the_demo_runs_only_with_no_live_feed_and_demo_replay_on() -> None:
    assert load_settings(environ={})["demo.speed"] == 60.0
    clock = demo_clock(load_settings(environ={}))
    assert isinstance(clock, DemoClock) and clock.speed == 60.0
    assert demo_clock(load_settings(environ={"AIS_WATCH_DEMO_SPEED": "5"})).speed == 5.0  # type: ignore[union-attr]
    for env in ({"AISSTREAM_API_KEY": "key"}, {"AIS_WATCH_NMEA_TCP": "127.0.0.1:1"},
                {"AIS_WATCH_NMEA_UDP": "127.0.0.1:1"}, {"AIS_WATCH_DEMO_REPLAY": "false"}):
        assert demo_clock(load_settings(environ=env)) is None, env
    assert banner(60.0) == "DEMO — recorded traffic replayed and one simulated ship; demo time runs 60x"


# ------------------------------------------------------------------------------------- the traffic
@pytest.fixture(scope="module")
def recordings() -> list[Recording]:
    """The bundled recordings, decoded once for the module (each in a worker process)."""
    async def load() -> list[Recording]:
        return [await load_recording(path, {}, IngestStats()) for path in sorted(DEMO_DIR.glob("*.nmea*"))]

    loaded = asyncio.run(load())
    assert len(loaded) == 3 and all(r.reports for r in loaded)
    return loaded


def voyage_reports(start: datetime) -> list[Report]:
    """One loop of the simulated voyage through the real decoder, on the demo's source."""
    decoder = NmeaDecoder(SOURCE, IngestStats(), require_event_time=True)
    reports: list[Report] = []
    for when, line in demo_voyage(start):
        reports += decoder.feed(line, when)
    return reports


def demo_traffic(recordings: list[Recording], start: datetime, every: int) -> tuple[list[Report], datetime]:
    """What the demo sends in one loop of the voyage from `start`, as it times it: the voyage and each
    recording's back-to-back loops (one report in `every`), merged in event-time order."""
    reports = voyage_reports(start)
    end = max(r.time for r in reports)
    for recording in recordings:
        anchor, number = start, 0
        while anchor < end:
            reports += [r for r in recording.loop(number, anchor, every) if r.time <= end]
            anchor += recording.span + timedelta(milliseconds=1)
            number += 1
    reports.sort(key=lambda r: r.time)
    for report in reports:
        report.received_at = report.time
    return reports, end


async def replay_demo(db_url: str, reports: list[Report], *, watch_demo_ship: bool) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": db_url})
    async with running_pipeline(settings, ReplayClock(), event_time_ticks=True, deliver=False) as runtime:
        if watch_demo_ship:
            assert watch_simulated_ship(runtime)
        for report in reports:
            await runtime.pipeline.submit(report)


def first(rows: list[Any], kind: str, place: Callable[[str | None], bool] = lambda _: True) -> int:
    found = [i for i, row in enumerate(rows) if row.kind == kind and place(row.place)]
    assert found, f"no {kind} alert among {[(r.kind, r.place) for r in rows]}"
    return found[0]


@pytest.mark.integration
async def test_the_simulated_voyage_calls_at_rajin_goes_dark_and_calls_at_a_russian_port(
        db_url: str, recordings: list[Recording]) -> None:
    reports, end = demo_traffic(recordings, T0, every=600)
    await replay_demo(db_url, reports, watch_demo_ship=True)

    rows = await fetch(db_url, select(alerts.c.kind, alerts.c.place, alerts.c.occurred_at, alerts.c.mmsi,
                                      alerts.c.details).order_by(alerts.c.occurred_at, alerts.c.id))
    ship = [r for r in rows if r.mmsi == SHIP]
    rajin = first(ship, "port_call", lambda p: p == "Rajin")
    dark = first(ship, "went_dark")
    back = first(ship, "reappeared")
    russian = first(ship, "port_call", lambda p: p in ("Vostochny", "Vladivostok"))
    assert rajin < dark < back < russian, [(r.kind, r.place) for r in ship]
    assert first(ship, "port_departure", lambda p: p == "Rajin") < dark
    # The real rules: 30 minutes stopped for a call, 6 hours of silence for went_dark.
    details = ship[dark].details
    assert details["threshold_seconds"] == 6 * 3600 and details["feed_outage_seconds"] == 0
    assert details["watchlist"]["key"] == DEMO_ENTRY.key
    assert details["watchlist"]["reason"] == "simulated demo vessel, not a real ship"
    assert details["watchlist"]["tags"] == ["demo"]
    # The recorded traffic keeps the demo feed up: no outage while the voyage lasts, so the ship's
    # silence is its own (an outage would have been subtracted from it).
    outages = [r for r in rows if r.kind == "feed_outage" and r.occurred_at.replace(tzinfo=UTC) <= end]
    assert outages == []

    # Labelled in the store: tag block station SIMULATED, on the demo source.
    stored = await fetch(db_url, select(positions.c.source, positions.c.station, func.count())
                         .where(positions.c.mmsi == SHIP).group_by(positions.c.source, positions.c.station))
    assert [(s, st) for s, st, _ in stored] == [(SOURCE, "SIMULATED")]


@pytest.mark.integration
async def test_without_its_in_memory_entry_the_simulated_ship_raises_nothing(
        tmp_path: Path, recordings: list[Recording]) -> None:
    db_url = f"sqlite:///{tmp_path / 'plain.db'}"
    reports, _ = demo_traffic(recordings, T0, every=3600)
    await replay_demo(db_url, reports, watch_demo_ship=False)
    assert await fetch(db_url, select(alerts.c.kind).where(alerts.c.mmsi == SHIP)) == []
    # It is an ordinary vessel then: its port calls are recorded, like any vessel's.
    calls = {row.port_name for row in await fetch(db_url, select(port_calls.c.port_name)
                                                    .where(port_calls.c.mmsi == SHIP))}
    assert {"Rajin", "Vostochny"} <= calls


@pytest.mark.unit
def test_the_demo_entry_is_added_to_an_index_and_kept_through_a_reload() -> None:
    enricher = WatchlistEnricher(WatchlistIndex())
    assert enricher.index.match(SHIP, True, DEMO_SHIP.imo, DEMO_SHIP.name) is None
    enricher.also_watch([DEMO_ENTRY])
    assert enricher.index.match(SHIP, True, DEMO_SHIP.imo, DEMO_SHIP.name) is not None
    enricher.replace_index(WatchlistIndex())  # what the scheduler's reload does
    match = enricher.index.match(SHIP, True, None, None)
    assert match is not None and match.entry == DEMO_ENTRY
    enricher.replace_index(WatchlistIndex([DEMO_ENTRY]))  # never twice, whatever the table holds
    assert len(enricher.index) == 1


# --------------------------------------------------------------------------------- the demo for real
@pytest.mark.integration
async def test_recorded_loops_never_send_a_vessel_back_in_time(recordings: list[Recording]) -> None:
    """Each loop re-anchors at the demo clock's time, never before the previous loop's end."""
    dma = next(r for r in recordings if r.name.startswith("dma"))
    clock = DemoClock(36_000)  # the 5-minute recording loops every 1/120 s
    sent: list[Report] = []

    async def emit(report: Report) -> None:
        sent.append(report)

    await asyncio.wait_for(replay_recording(dma, clock, emit, every=500, loops=6), 30)
    per_loop = len(dma.reports[::500])
    assert len(sent) >= 5 * per_loop
    last: dict[int, datetime] = {}
    for report in sent:
        assert report.time >= last.get(report.mmsi, report.time), report.mmsi
        last[report.mmsi] = report.time
        assert report.source == SOURCE and report.received_at >= report.time - timedelta(seconds=1)
    assert max(r.time for r in sent) - min(r.time for r in sent) >= 5 * dma.span
    assert max(r.time for r in sent) <= clock.now()


@pytest.mark.integration
async def test_the_demo_runs_the_ship_on_the_demo_clock_and_writes_no_watchlist_row(db_url: str) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": db_url, "AIS_WATCH_DEMO_SPEED": "3600"})
    clock = demo_clock(settings)
    assert clock is not None
    sent: list[Report] = []
    async with running_pipeline(settings, clock, deliver=False) as runtime:
        submit = runtime.pipeline.submit

        async def record(report: Report) -> None:
            sent.append(report)
            await submit(report)

        runtime.pipeline.submit = record  # type: ignore[method-assign]
        demo = asyncio.create_task(run_demo(settings, runtime, clock))
        try:
            # 1 s is an hour of demo time: in from sea, moored at Rajin, a port call after 30 minutes.
            async def called() -> bool:
                rows = await fetch(db_url, select(alerts.c.kind).where(alerts.c.mmsi == SHIP))
                return ("port_call",) in rows

            for _ in range(300):
                if await called():
                    break
                assert not demo.done(), demo
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("no port call of the simulated ship within 30 s")
            index = runtime.detectors.watchlist.index
            assert index.match(SHIP, True, DEMO_SHIP.imo, DEMO_SHIP.name).entry == DEMO_ENTRY
        finally:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
        latest = max(v["last_seen"] for v in runtime.pipeline.vessels.values() if v["last_seen"])

    keys = [row.key for row in await fetch(db_url, select(watchlist.c.key))]
    assert keys and DEMO_ENTRY.key not in keys, "the simulated ship is never written to the watchlist table"
    assert not any(row.mmsi == SHIP for row in await fetch(db_url, select(watchlist.c.mmsi)))
    ours = [r for r in sent if r.mmsi == SHIP]
    assert ours and all(r.station == "SIMULATED" and r.source == SOURCE for r in ours)
    assert all(a.time <= b.time for a, b in itertools.pairwise(ours))
    wall = datetime.now(UTC)
    assert latest > wall + timedelta(minutes=30), "demo time ran ahead of the wall clock"

    # A second run on the same store carries on from where the first left off: no vessel goes back.
    again = demo_clock(settings)
    assert again is not None and again.now() < latest
    sent.clear()
    async with running_pipeline(settings, again, deliver=False) as runtime:
        submit = runtime.pipeline.submit
        runtime.pipeline.submit = record  # type: ignore[method-assign]
        demo = asyncio.create_task(run_demo(settings, runtime, again))
        try:
            for _ in range(100):  # its first position (a static report may come first: it moves nothing)
                if any(r.mmsi == SHIP and isinstance(r, PositionReport) for r in sent):
                    break
                await asyncio.sleep(0.05)
        finally:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
        assert again.now() > latest
        assert runtime.pipeline.vessels[SHIP]["last_seen"] <= again.now()
    # Every report of the second run is later than the store's latest. (Whether the ship's first fix of
    # the second run moves it depends on how far along its voyage the first run stopped: the voyage
    # starts again from its first point, and a fix that far from the last is stored but not believed.)
    assert sent and min(r.time for r in sent) > latest
    assert any(r.mmsi == SHIP and isinstance(r, PositionReport) and r.time > latest for r in sent)


@pytest.mark.integration
async def test_a_demo_after_a_live_run_counts_the_time_between_as_nobodys_silence(tmp_path: Path) -> None:
    """A watched ship last heard live two days ago has not been dark for two days when the demo starts:
    nothing was watching. As a live restart does, the demo records that time as the service's downtime."""
    db_url = f"sqlite:///{tmp_path / 'after-live.db'}"
    settings = load_settings(environ={"AIS_WATCH_DB": db_url, "AIS_WATCH_DEMO_SPEED": "3600"})
    heard = datetime.now(UTC) - timedelta(days=2)
    async with running_pipeline(settings, ReplayClock(), deliver=False) as runtime:
        await runtime.pipeline.submit(make_position(273111111, heard, 42.0, 131.0, source="aisstream"))
    clock = demo_clock(settings)
    assert clock is not None
    async with running_pipeline(settings, clock, deliver=False) as runtime:
        demo = asyncio.create_task(run_demo(settings, runtime, clock))
        try:
            for _ in range(100):
                if runtime.feed_health.health.service_gaps:
                    break
                await asyncio.sleep(0.02)
        finally:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
        ((since, until),) = runtime.feed_health.health.service_gaps
        assert since == heard and until >= heard + timedelta(days=2)


# ----------------------------------------------------------------------------------- serve, for real
def demo_env(db_url: str, speed: str) -> dict[str, str]:
    return child_env(AIS_WATCH_DB=db_url, AIS_WATCH_HTTP_PORT="0", AIS_WATCH_DEMO_SPEED=speed,
                     AIS_WATCH_LOG_LEVEL="INFO")


@pytest.mark.timeout(120)
@pytest.mark.integration
async def test_serve_with_nothing_configured_shows_the_simulated_ship(db_url: str, tmp_path: Path) -> None:
    env = demo_env(db_url, "600")
    async with (Serve(env, tmp_path / "serve.log") as serve, asyncio.timeout(90),
                aiohttp.ClientSession() as http):
        token = await asyncio.to_thread(cli_token, env, db_url)
        await serve.start()
        base = await serve.api_base()
        said = ("demo: simulated voyage of SIMULATED DEMO SHIP (not a real ship) around Rajin, "
                "demo clock at 600x")
        await serve.wait_for(lambda: said in serve.text(), 10, "the demo's log line")

        async def on_the_map() -> bool:
            vessels = (await get_json(http, base, token, "/api/map"))["vessels"]
            return any(v["mmsi"] == SHIP and v["watched"] for v in vessels)

        started = asyncio.get_running_loop().time()
        await serve.wait_for(on_the_map, 15, "the simulated ship, watched, in /api/map", interval=0.2)
        assert asyncio.get_running_loop().time() - started < 15

        config = await get_json(http, base, token, "/api/config")
        assert config["demo"] == {"speed": 600.0, "banner": banner(600.0)}
        assert datetime.fromisoformat(config["now"]) > datetime.now(UTC) + timedelta(seconds=30)

        detail = await get_json(http, base, token, f"/api/vessels/{SHIP}")
        assert detail["vessel"]["name"] == "SIMULATED DEMO SHIP"
        assert [e["reason"] for e in detail["watchlist"]] == ["simulated demo vessel, not a real ship"]
        listed = (await get_json(http, base, token, "/api/watchlist"))["entries"]
        assert listed and all(e["mmsi"] != SHIP for e in listed), "not in the watchlist table"

        async def called_at_rajin() -> bool:
            rows = (await get_json(http, base, token, f"/api/alerts?vessel={SHIP}"))["alerts"]
            return any(a["kind"] == "port_call" and a["place"] == "Rajin" for a in rows)

        await serve.wait_for(called_at_rajin, 40, "the port call at Rajin", interval=0.5)
        track = await get_json(http, base, token, f"/api/vessels/{SHIP}/track?limit=5")
        assert {p["source"] for p in track["points"]} == {SOURCE}
        code, _ = await serve.stop(signal.SIGTERM, timeout=15)
        assert code == 0, serve.tail()
        assert "stopped cleanly" in serve.text()


@pytest.mark.timeout(90)
@pytest.mark.integration
async def test_nothing_configured_the_demo_keeps_to_its_own_database_and_says_how_to_sign_in(
        tmp_path: Path) -> None:
    """`make run` on a fresh checkout: no database set, so the demo's (demo-timed) data goes to
    ./ais-watch-demo.db, never ./ais-watch.db, and the log gives a token the dashboard accepts."""
    env = demo_env("", "600")
    del env["AIS_WATCH_DB"]
    async with Serve(env, tmp_path / "serve.log", cwd=tmp_path) as serve:
        async with asyncio.timeout(75), aiohttp.ClientSession() as http:
            await serve.start()
            said = re.compile(r"sign in to the dashboard with this operator token "
                              r"\(demo database only\): (\S+)")
            base = await serve.api_base()
            await serve.wait_for(lambda: said.search(serve.text()) is not None, 30, "the sign-in token")
            token = said.search(serve.text()).group(1)  # type: ignore[union-attr]
            assert (await get_json(http, base, token, "/api/config"))["demo"]["speed"] == 600.0
            async with http.get(f"{base}/api/config", headers={"Authorization": "Bearer not-a-token"}) as bad:
                assert bad.status == 401
            code, _ = await serve.stop(signal.SIGTERM, timeout=15)
            assert code == 0, serve.tail()
        assert "demo: database sqlite:///./ais-watch-demo.db" in serve.text()
        assert (tmp_path / "ais-watch-demo.db").exists() and not (tmp_path / "ais-watch.db").exists()


@pytest.mark.unit
def test_the_demo_uses_its_own_database_only_when_none_is_configured() -> None:
    from ais_watch.demo import DEMO_DB, demo_settings

    assert demo_settings(load_settings(environ={}))["db"] == DEMO_DB
    configured = load_settings(environ={"AIS_WATCH_DB": "sqlite:///./mine.db"})
    assert demo_settings(configured)["db"] == "sqlite:///./mine.db"


@pytest.mark.unit
def test_the_demo_data_is_where_the_demo_looks() -> None:
    assert DEMO_DIR == REPO / "ais_watch" / "data" / "demo"
    assert sorted(p.name for p in DEMO_DIR.glob("*.nmea*")) == [
        "amsa-satellite-trailing-ms.nmea", "amsa-terrestrial-2012.nmea.gz", "dma-tagblock-pghp-2013.nmea.gz"]
