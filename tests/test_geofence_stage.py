"""The zone enricher (entry / exit hysteresis) and the port-call and zone-alert stages (port calls of
every vessel, port and zone alerts for watchlisted ones) on the bundled geofences, with a real pipeline
and store where needed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.alerts.model import iso
from ais_watch.detectors.port_calls import PortCallStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.detectors.zones import ZoneAlerts, ZoneEnricher
from ais_watch.model import PositionReport, Report, StaticReport
from ais_watch.pipeline.runner import Pipeline, PipelineOptions
from ais_watch.store.queries import port_call_rows
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import WatchlistIndex
from ais_watch.zones import ZoneRegistry
from tests.helpers.alerts import alerts_in, empty_alert_details
from tests.helpers.db import engine_on
from tests.helpers.pipeline import running_stages
from tests.helpers.reports import make_position, make_static

LIMIT = 60
T0 = datetime(2024, 6, 1, tzinfo=UTC)
SOURCE = "test-feed"
ANGARA_IMO = 9179842
ANGARA = 273111111  # watchlisted through the IMO in its type 5
OTHER = 440123456  # not watchlisted
ENTRIES = (WatchEntry(name="ANGARA", imo=ANGARA_IMO, mmsi=None, flag="Russia", reason="OFAC", source="test",
                      tags=("dprk-russia-munitions",)),)

REGISTRY = ZoneRegistry()
INDEX = REGISTRY.index
RAJIN = INDEX.find("Rajin")
TERRITORIAL = INDEX.by_id("kp-territorial-sea")
BERTH = (42.2333, 130.30)  # Rajin's reference point: in the port and in the territorial sea
EAST_LAT = 42.228  # a parallel crossing Rajin's eastern boundary, where no other zone is
SEAWARD = (42.15, 130.45)  # off Rajin, in the territorial sea
TS_IN = (42.10, 130.60)  # inside the territorial sea, well away from any port
TS_OUT = (42.00, 130.90)  # outside it, ~14 km


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def east_of_rajin(km: float) -> tuple[float, float]:
    """The point on EAST_LAT `km` outside Rajin's polygon (by ZoneIndex.distance_km), found by bisection."""
    lo, hi = 130.30, 130.40
    assert INDEX.distance_km(RAJIN, EAST_LAT, lo) == 0.0 < km < INDEX.distance_km(RAJIN, EAST_LAT, hi)
    for _ in range(60):
        mid = (lo + hi) / 2
        if INDEX.distance_km(RAJIN, EAST_LAT, mid) < km:
            lo = mid
        else:
            hi = mid
    return EAST_LAT, hi


def ids(zones: Iterable[Any]) -> set[str]:
    return {z.id for z in zones}


# ------------------------------------------------------------------------------------ hysteresis (pure)
@pytest.mark.unit
def test_points_used_here_are_where_they_claim() -> None:
    assert RAJIN is not None and RAJIN.id == "kp-rajin" and TERRITORIAL is not None
    assert ids(INDEX.zones_at(*BERTH)) == {"kp-rajin", "kp-territorial-sea"}
    assert ids(INDEX.zones_at(EAST_LAT, 130.316)) == {"kp-rajin"}
    for km in (0.3, 0.5, 0.9, 1.5):
        assert INDEX.zones_at(*east_of_rajin(km)) == ()
    assert ids(INDEX.zones_at(*TS_IN)) == {"kp-territorial-sea"}
    assert INDEX.zones_at(*TS_OUT) == () and INDEX.distance_km(TERRITORIAL, *TS_OUT) > 5


@pytest.mark.unit
def test_inside_stays_in_within_the_exit_margin_and_leaves_beyond_it() -> None:
    enricher = ZoneEnricher(REGISTRY, exit_margin_km=1.0)
    assert "kp-rajin" in ids(enricher.zones_for(ANGARA, *BERTH))
    assert "kp-rajin" in ids(enricher.zones_for(ANGARA, *east_of_rajin(0.5)))
    assert "kp-rajin" in ids(enricher.zones_for(ANGARA, *east_of_rajin(0.95)))
    assert enricher.zones_for(ANGARA, *east_of_rajin(1.2)) == ()
    assert ANGARA not in enricher.inside
    # Coming back within the margin is no entry: entry is at the polygon.
    assert enricher.zones_for(ANGARA, *east_of_rajin(0.5)) == ()
    assert "kp-rajin" in ids(enricher.zones_for(ANGARA, EAST_LAT, 130.316))


@pytest.mark.unit
def test_the_exit_margin_is_the_setting() -> None:
    wide = ZoneEnricher(REGISTRY, exit_margin_km=2.0)
    wide.zones_for(ANGARA, EAST_LAT, 130.316)
    assert "kp-rajin" in ids(wide.zones_for(ANGARA, *east_of_rajin(1.5)))
    assert wide.zones_for(ANGARA, *east_of_rajin(2.3)) == ()
    never_in = ZoneEnricher(REGISTRY, exit_margin_km=1.0)
    assert never_in.zones_for(OTHER, *east_of_rajin(0.3)) == (), "near is not in"


@pytest.mark.unit
def test_drifting_across_the_boundary_never_flaps() -> None:
    enricher = ZoneEnricher(REGISTRY, exit_margin_km=1.0)
    outside = east_of_rajin(0.3)
    for i in range(31):
        point = (EAST_LAT, 130.316) if i % 2 == 0 else outside
        assert ids(enricher.zones_for(ANGARA, *point)) == {"kp-rajin"}, i


# ------------------------------------------------------------------------------------- the stage
def pos(mmsi: int, minute: float, lat: float, lon: float, sog: float = 0.0,
        status: int = 0) -> PositionReport:
    return make_position(mmsi, at(minute), lat, lon, sog=sog, cog=270.0, heading=None, nav_status=status,
                         source=SOURCE)


def static(mmsi: int, minute: float, name: str, imo: int | None) -> StaticReport:
    return make_static(mmsi, at(minute), name, imo, source=SOURCE, destination="RAJIN")


def line(mmsi: int, start: float, end: float, a: tuple[float, float], b: tuple[float, float],
         sog: float = 10.0, every: float = 2.0) -> list[PositionReport]:
    """Fixes every `every` minutes from minute `start` to `end` along a straight line from a to b."""
    n = max(1, round((end - start) / every))
    return [pos(mmsi, start + (end - start) * i / n, a[0] + (b[0] - a[0]) * i / n,
                a[1] + (b[1] - a[1]) * i / n, sog) for i in range(n + 1)]


def stay(mmsi: int, start: float, end: float, point: tuple[float, float], every: float = 10.0
         ) -> list[PositionReport]:
    """Moored (status 5, 0 kn) at `point`, a fix every `every` minutes, `start` to `end` inclusive."""
    out, m = [], start
    while m <= end:
        out.append(pos(mmsi, m, *point, sog=0.0, status=5))
        m += every
    return out


def call_at_rajin(mmsi: int, start: float = 0.0, moored_hours: float = 2.0) -> list[Report]:
    """In from sea at 10 kn to the berth, moored, then out to sea again; with a type 5 first."""
    ship: list[Report] = [static(mmsi, start, "ANGARA" if mmsi == ANGARA else "OTHER SHIP",
                                 ANGARA_IMO if mmsi == ANGARA else None)]
    ship += line(mmsi, start, start + 40, SEAWARD, BERTH)
    end = start + 42 + moored_hours * 60
    ship += stay(mmsi, start + 42, end, BERTH)
    ship += line(mmsi, end + 2, end + 42, BERTH, SEAWARD)
    return ship


@asynccontextmanager
async def running(db_url: str) -> AsyncIterator[tuple[Pipeline, ZoneEnricher, PortCallStage]]:
    zones = ZoneEnricher(REGISTRY, exit_margin_km=1.0)
    watch = WatchlistEnricher(WatchlistIndex(ENTRIES))
    port_calls = PortCallStage()
    options = PipelineOptions(event_time_ticks=True, tick_interval=60, feed_outage_after=30 * 86400)
    async with running_stages(db_url, [zones, watch, port_calls, ZoneAlerts()], options) as pipeline:
        yield pipeline, zones, port_calls


async def run(db_url: str, reports: Iterable[Report]) -> PortCallStage:
    async with running(db_url) as (pipeline, _, stage):
        for report in sorted(reports, key=lambda r: r.time):
            await pipeline.submit(report)
    return stage


async def stored(db_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(alerts, port_calls rows) in the store."""
    async with engine_on(db_url) as engine:
        return await alerts_in(engine), await port_call_rows(engine)


def kinds(alerts: list[dict[str, Any]], mmsi: int = ANGARA) -> list[str]:
    return [a["kind"] for a in alerts if a["mmsi"] == mmsi]


@pytest.mark.integration
async def test_a_watchlisted_call_is_recorded_and_alerted(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        reports = call_at_rajin(ANGARA)
        await run(db_url, reports)
        alerts, calls = await stored(db_url)
        port = [a for a in alerts if a["kind"].startswith("port_")]
        assert [a["kind"] for a in port] == ["port_call", "port_departure"], alerts
        (row,) = calls
        first_in = next(r for r in reports if isinstance(r, PositionReport) and "kp-rajin" in
                        ids(INDEX.zones_at(r.lat, r.lon)))
        assert row["mmsi"] == ANGARA and row["imo"] == ANGARA_IMO and row["port_id"] == "kp-rajin"
        assert row["arrival"] == first_in.time
        assert row["evidence"] == "entry+stop+exit"
        assert row["departure"] is not None
        assert row["duration_seconds"] == (row["departure"] - row["arrival"]).total_seconds()
        call, departure = port
        assert call["occurred_at"] == iso(row["arrival"]) and call["place"] == "Rajin"
        assert call["details"]["watchlist"]["key"] == f"imo:{ANGARA_IMO}"
        assert departure["occurred_at"] == iso(row["departure"])
        assert departure["details"]["duration_seconds"] == row["duration_seconds"]


@pytest.mark.integration
async def test_drifting_on_the_boundary_for_an_hour_is_one_visit(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        inside, outside = (EAST_LAT, 130.316), east_of_rajin(0.3)
        reports: list[Report] = [static(ANGARA, 0, "ANGARA", ANGARA_IMO)]
        reports += [pos(ANGARA, m, *(inside if (m // 2) % 2 == 0 else outside), sog=0.2)
                    for m in range(0, 62, 2)]
        reports += line(ANGARA, 64, 80, outside, east_of_rajin(3.0), sog=8.0)
        await run(db_url, reports)
        alerts, calls = await stored(db_url)
        assert len(calls) == 1, calls
        (row,) = calls
        assert row["arrival"] == at(0) and row["departure"] is not None
        assert row["evidence"] == "entry+stop+exit"
        assert kinds(alerts) == ["port_call", "port_departure"], alerts


@pytest.mark.integration
async def test_a_single_stray_fix_in_a_zone_is_no_entry(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        reports: list[Report] = [static(ANGARA, 0, "ANGARA", ANGARA_IMO)]
        reports += [pos(ANGARA, 2, *TS_OUT, sog=10), pos(ANGARA, 4, *TS_IN, sog=10),
                    pos(ANGARA, 6, TS_OUT[0], TS_OUT[1] - 0.005, sog=10),
                    pos(ANGARA, 8, TS_OUT[0], TS_OUT[1] - 0.01, sog=10)]
        await run(db_url, reports)
        alerts, calls = await stored(db_url)
        assert alerts == [] and calls == []


@pytest.mark.integration
async def test_two_fixes_in_a_zone_are_an_entry_and_leaving_is_an_exit(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        reports: list[Report] = [static(ANGARA, 0, "ANGARA", ANGARA_IMO)]
        reports += line(ANGARA, 2, 12, TS_OUT, (42.05, 130.75), sog=10)  # crossing into the zone
        reports += [pos(ANGARA, 20, *TS_IN, sog=10), pos(ANGARA, 30, 42.10, 130.62, sog=10)]
        reports += [pos(ANGARA, 90, *TS_OUT, sog=10), pos(ANGARA, 92, TS_OUT[0], TS_OUT[1] + 0.01, sog=10)]
        inside_times = [r.time for r in reports if isinstance(r, PositionReport)
                        and "kp-territorial-sea" in ids(INDEX.zones_at(r.lat, r.lon))]
        assert len(inside_times) >= 2
        await run(db_url, reports)
        alerts, calls = await stored(db_url)
        assert kinds(alerts) == ["zone_entry", "zone_exit"], alerts
        entry, leaving = alerts
        assert entry["occurred_at"] == iso(inside_times[1]), "the second fix inside makes the entry"
        assert entry["place"] == TERRITORIAL.name and entry["details"]["zone_id"] == "kp-territorial-sea"
        assert entry["details"]["entered_at"] == iso(inside_times[1])
        assert leaving["occurred_at"] == iso(at(90))
        assert leaving["details"]["duration_seconds"] == (at(90) - inside_times[1]).total_seconds()
        assert calls == []


@pytest.mark.integration
async def test_a_vessel_not_on_the_watchlist_has_its_call_recorded_and_no_alert(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        await run(db_url, call_at_rajin(OTHER))
        alerts, calls = await stored(db_url)
        assert alerts == []
        (row,) = calls
        assert row["mmsi"] == OTHER and row["port_id"] == "kp-rajin" and row["departure"] is not None
        assert row["evidence"] == "entry+stop+exit" and row["vessel_name"] == "OTHER SHIP"


@pytest.mark.integration
async def test_a_call_carries_on_across_a_restart(db_url: str) -> None:
    """Run 1: in, moored 2 h (call established, no departure). Run 2 on the same store: still moored, then
    leaves: the same row gets its departure, and the departure is alerted."""
    async with asyncio.timeout(LIMIT):
        reports = call_at_rajin(ANGARA, moored_hours=3.0)
        split = at(42 + 120)
        await run(db_url, [r for r in reports if r.time <= split])
        alerts, calls = await stored(db_url)
        (row,) = calls
        assert row["departure"] is None and row["evidence"] == "entry+stop"
        assert [a["kind"] for a in alerts if a["kind"].startswith("port_")] == ["port_call"]
        arrival = row["arrival"]

        stage = await run(db_url, [r for r in reports if r.time > split])
        alerts, calls = await stored(db_url)
        assert len(calls) == 1, calls
        (row,) = calls
        assert row["arrival"] == arrival and row["departure"] is not None
        assert row["evidence"] == "entry+stop+exit"
        assert row["duration_seconds"] == (row["departure"] - arrival).total_seconds()
        port = [a for a in alerts if a["kind"].startswith("port_")]
        assert [a["kind"] for a in port] == ["port_call", "port_departure"], alerts
        assert port[1]["details"]["arrival"] == iso(arrival)
        assert stage.visits == {}


@pytest.mark.integration
async def test_a_restart_inside_a_zone_is_no_new_entry(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        reports: list[Report] = [static(ANGARA, 0, "ANGARA", ANGARA_IMO)]
        reports += [pos(ANGARA, m, TS_IN[0], TS_IN[1] + m * 1e-4, sog=5) for m in range(2, 62, 2)]
        reports += [pos(ANGARA, 70, *TS_OUT, sog=10), pos(ANGARA, 72, TS_OUT[0], TS_OUT[1] + 0.01, sog=10)]
        await run(db_url, [r for r in reports if r.time <= at(30)])
        await run(db_url, [r for r in reports if r.time > at(30)])
        alerts, _ = await stored(db_url)
        assert kinds(alerts) == ["zone_entry", "zone_exit"], alerts
        entry, leaving = alerts
        assert leaving["details"]["entered_at"] == entry["details"]["entered_at"] == iso(at(4))
        assert leaving["details"]["duration_seconds"] == (at(70) - at(4)).total_seconds()


@pytest.mark.integration
async def test_a_restart_inside_a_zone_keeps_the_entry_whatever_the_alerts_say(db_url: str) -> None:
    """The open entry is the detector's own state, not read back from the alert: rewording (here
    emptying) every alert's details between runs changes nothing that is detected."""
    async with asyncio.timeout(LIMIT):
        reports: list[Report] = [static(ANGARA, 0, "ANGARA", ANGARA_IMO)]
        reports += [pos(ANGARA, m, TS_IN[0], TS_IN[1] + m * 1e-4, sog=5) for m in range(2, 62, 2)]
        reports += [pos(ANGARA, 70, *TS_OUT, sog=10), pos(ANGARA, 72, TS_OUT[0], TS_OUT[1] + 0.01, sog=10)]
        await run(db_url, [r for r in reports if r.time <= at(30)])
        await empty_alert_details(db_url)
        await run(db_url, [r for r in reports if r.time > at(30)])
        alerts, _ = await stored(db_url)
        assert kinds(alerts) == ["zone_entry", "zone_exit"], alerts
        assert alerts[1]["details"]["entered_at"] == iso(at(4))
        assert alerts[1]["details"]["duration_seconds"] == (at(70) - at(4)).total_seconds()


@pytest.mark.integration
async def test_an_old_fix_heard_late_is_no_departure(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        reports: list[Report] = [static(ANGARA, 0, "ANGARA", ANGARA_IMO)]
        reports += line(ANGARA, 0, 40, SEAWARD, BERTH)
        reports += stay(ANGARA, 42, 162, BERTH)
        async with running(db_url) as (pipeline, _, stage):
            for report in reports:
                await pipeline.submit(report)
            before, _ = await stored(db_url)  # alerts are stored as they are raised
            late = pos(ANGARA, 155, *BERTH, sog=0.0, status=5)  # heard after the fix of minute 162
            late.source = "another-feed"
            await pipeline.submit(late)
            assert "kp-rajin" in stage.visits.get(ANGARA, {}), "still in port"
        alerts, calls = await stored(db_url)
        (row,) = calls
        assert row["departure"] is None, row
        assert [a["kind"] for a in alerts if a["kind"].startswith("port_")] == ["port_call"], alerts
        assert alerts == before, "the late fix raised nothing (no departure, no zone exit)"
