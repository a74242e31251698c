"""The watchlist enricher and the dark stage on a real pipeline and store (SQLite and PostgreSQL): reports
go in through `Pipeline.submit`, the pipeline ticks on event time, and the alerts are read back from the
alerts table. A background ship reports every 5 minutes so the feed itself never looks down."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.alerts.model import iso
from ais_watch.detectors.dark import DarkStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.model import PositionReport, Report, StaticReport
from ais_watch.pipeline.runner import Pipeline, PipelineOptions
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import WatchlistIndex
from tests.helpers.alerts import empty_alert_details, stored_alerts
from tests.helpers.pipeline import running_stages
from tests.helpers.ports import RAJIN, VOSTOCHNY
from tests.helpers.reports import make_position, make_static

pytestmark = pytest.mark.integration

LIMIT = 60  # seconds any one test may take
T0 = datetime(2024, 3, 1, tzinfo=UTC)
SOURCE = "test-feed"

ANGARA_IMO = 9179842
ANGARA_A = 273111111  # the MMSI ANGARA uses first
ANGARA_B = 273444444  # and the one it uses after the silence
MARIA_MMSI = 273555555  # a ship named MARIA, no IMO: only a name-only candidate
LISTED_MMSI = 273382620  # an MMSI-only entry
LISTED_MMSI_2 = 273382621  # another, heard with a valid MMSI (the control)
FERRY = 273222222  # not watched: keeps the feed alive

ENTRIES = (
    WatchEntry(name="ANGARA", imo=ANGARA_IMO, mmsi=None, flag="Russia", reason="OFAC", source="test",
               tags=("dprk-russia-munitions",)),
    WatchEntry(name=None, imo=None, mmsi=LISTED_MMSI, flag=None, reason="tip-off", source="test"),
    WatchEntry(name=None, imo=None, mmsi=LISTED_MMSI_2, flag=None, reason="tip-off", source="test"),
    WatchEntry(name="MARIA", imo=None, mmsi=None, flag=None, reason="named in a report", source="test"),
)


PORTS = (RAJIN, VOSTOCHNY)


def at(hours: float = 0.0, minutes: float = 0.0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)


def pos(mmsi: int, when: datetime, lat: float = 42.5, lon: float = 132.3, *, sog: float = 10.0,
        cog: float = 270.0, valid: bool = True) -> PositionReport:
    return make_position(mmsi, when, lat, lon, sog=sog, cog=cog, heading=None, source=SOURCE,
                         mmsi_valid=valid)


def static(mmsi: int, when: datetime, name: str, imo: int | None = None, *,
           destination: str | None = None, valid: bool = True) -> StaticReport:
    return make_static(mmsi, when, name, imo, source=SOURCE, destination=destination, mmsi_valid=valid)


def track(mmsi: int, start: float, end: float, *, every: float = 10, lat: float = 42.6,
          lon: float = 132.6, valid: bool = True) -> list[PositionReport]:
    """Positions every `every` minutes from `start` to `end` hours, heading west at ~10 kn."""
    out = []
    minutes = start * 60
    while minutes <= end * 60:
        out.append(pos(mmsi, at(minutes=minutes), lat, lon - (minutes - start * 60) / 60 * 0.22, valid=valid))
        minutes += every
    return out


def feed(start: float, end: float, *reports: Report | Iterable[Report]) -> list[Report]:
    """The watched ships' reports with the background ship's, every 5 minutes, in time order (at the same
    time the watched ships' reports come first, in the order given)."""
    watched: list[Report] = []
    for item in reports:
        watched.extend([item] if isinstance(item, PositionReport | StaticReport) else item)
    background = [pos(FERRY, at(minutes=m), 43.10, 131.89 + (m % 2) * 0.0001, sog=0.0, cog=0.0)
                  for m in range(int(start * 60), int(end * 60) + 1, 5)]
    return sorted([*watched, *background], key=lambda r: r.time)  # stable: watched first on ties


@asynccontextmanager
async def running(db_url: str, index: WatchlistIndex | None = None, event_time_ticks: bool = True,
                  **dark: Any) -> AsyncIterator[tuple[Pipeline, WatchlistEnricher, DarkStage]]:
    """A started pipeline with [WatchlistEnricher, DarkStage] on the database; closed on exit. Without
    event_time_ticks the test ticks it (pipeline.run_ticks), as serve's scheduler does."""
    enricher = WatchlistEnricher(index if index is not None else WatchlistIndex(ENTRIES))
    stage = DarkStage(enricher, PORTS, **dark)
    options = PipelineOptions(event_time_ticks=event_time_ticks, tick_interval=60, feed_outage_after=600)
    async with running_stages(db_url, [enricher, stage], options) as pipeline:
        yield pipeline, enricher, stage


async def run(db_url: str, reports: Iterable[Report], **dark: Any) -> DarkStage:
    async with running(db_url, **dark) as (pipeline, _, stage):
        for report in reports:
            await pipeline.submit(report)
    return stage


def of(alerts: list[dict[str, Any]], *mmsis: int) -> list[tuple[str, int]]:
    return [(a["kind"], a["mmsi"]) for a in alerts if a["mmsi"] in mmsis]


# ------------------------------------------------------------------------------------------- identity
async def test_a_new_mmsi_with_the_same_imo_is_the_same_ship(db_url: str) -> None:
    """ANGARA goes silent under MMSI A, goes dark, and speaks again under MMSI B (its type 5 first, with
    the same IMO): one ship. The silence ends when B speaks; A raises nothing more afterwards."""
    async with asyncio.timeout(LIMIT):
        reports = feed(0, 24,
                       static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 2),
                       static(ANGARA_B, at(10), "ANGARA", ANGARA_IMO), track(ANGARA_B, 10, 24, lat=42.4,
                                                                              lon=131.6))
        stage = await run(db_url, reports)
        alerts = await stored_alerts(db_url)
        angara = of(alerts, ANGARA_A, ANGARA_B)
        assert angara[:2] == [("went_dark", ANGARA_A), ("reappeared", ANGARA_B)], alerts
        assert {kind for kind, _ in angara[2:]} <= {"possible_dark_port_call"}, angara
        assert [a for a in alerts if a["mmsi"] == FERRY] == []
        assert not [a for a in alerts if a["kind"].startswith("feed_")]

        dark, back = [a for a in alerts if a["mmsi"] in (ANGARA_A, ANGARA_B)][:2]
        last_a = track(ANGARA_A, 0, 2)[-1]
        assert dark["imo"] == ANGARA_IMO and dark["severity"] == "high"
        assert dark["details"]["last_seen"] == iso(at(2))
        assert dark["occurred_at"] == iso(at(8))
        assert dark["details"]["watchlist"]["match"] == "imo"
        assert dark["details"]["watchlist"]["key"] == f"imo:{ANGARA_IMO}"
        assert back["details"]["previous_mmsi"] == ANGARA_A
        assert back["details"]["last_seen"] == iso(at(2))
        assert back["details"]["gap_seconds"] == 8 * 3600
        assert (back["details"]["last_lat"], back["details"]["last_lon"]) == (last_a.lat, last_a.lon)
        assert back["occurred_at"] == iso(at(10))
        assert back["imo"] == ANGARA_IMO and back["severity"] == "medium"
        assert list(stage.silences) == [f"imo:{ANGARA_IMO}"], "one ship, one silence"
        assert stage.silences[f"imo:{ANGARA_IMO}"].mmsi == ANGARA_B


async def test_a_new_mmsi_before_the_threshold_ends_the_silence(db_url: str) -> None:
    """A falls silent at 2 h for good; B (same IMO) speaks from 5 h: nothing is dark, ever."""
    async with asyncio.timeout(LIMIT):
        reports = feed(0, 24,
                       static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 2),
                       static(ANGARA_B, at(5), "ANGARA", ANGARA_IMO), track(ANGARA_B, 5, 24, lat=42.4,
                                                                             lon=132.0))
        await run(db_url, reports)
        assert await stored_alerts(db_url) == []


# --------------------------------------------------------------------------------------- weak matches
async def test_a_name_only_match_goes_dark_with_low_severity(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        reports = feed(0, 9, static(MARIA_MMSI, at(0), "MARIA"), track(MARIA_MMSI, 0, 1))
        stage = await run(db_url, reports)
        alerts = await stored_alerts(db_url)
        assert of(alerts, MARIA_MMSI) == [("went_dark", MARIA_MMSI)], alerts
        (dark,) = alerts
        assert dark["severity"] == "low"
        assert dark["imo"] is None and dark["vessel_name"] == "MARIA"
        assert dark["details"]["watchlist"]["match"] == "name"
        assert dark["details"]["watchlist"]["key"] == "name:MARIA"
        assert dark["occurred_at"] == iso(at(7))
        assert list(stage.silences) == [f"mmsi:{MARIA_MMSI}"], "a name is not an identity: keyed by MMSI"


async def test_an_invalid_mmsi_never_matches_an_mmsi_only_entry(db_url: str) -> None:
    """The same 9 digits as a listed MMSI, but flagged invalid by the decoder: not the listed ship. The
    control, another listed MMSI heard valid, goes dark in the same feed."""
    async with asyncio.timeout(LIMIT):
        reports = feed(0, 9, track(LISTED_MMSI, 0, 1, valid=False), track(LISTED_MMSI_2, 0, 1, lat=42.2))
        stage = await run(db_url, reports)
        alerts = await stored_alerts(db_url)
        assert of(alerts, LISTED_MMSI, LISTED_MMSI_2) == [("went_dark", LISTED_MMSI_2)], alerts
        assert alerts[0]["details"]["watchlist"]["match"] == "mmsi"
        assert alerts[0]["severity"] == "high"
        assert list(stage.silences) == [f"mmsi:{LISTED_MMSI_2:09d}"]


# -------------------------------------------------------------------------------------------- restart
async def test_a_restart_neither_repeats_went_dark_nor_misses_the_reappearance(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        first = feed(0, 8, static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 1))
        await run(db_url, first)
        assert of(await stored_alerts(db_url), ANGARA_A) == [("went_dark", ANGARA_A)]

        # A new process: new stages, the state rebuilt from the vessels and alerts tables.
        async with running(db_url) as (pipeline, _, stage):
            silence = stage.silences[f"imo:{ANGARA_IMO}"]
            assert silence.last_time == at(1) and silence.alerted_for == at(1), "known to be dark"
            assert silence.last_source == SOURCE and silence.imo == ANGARA_IMO
            for report in feed(8, 14):
                await pipeline.submit(report)
            assert of(await stored_alerts(db_url), ANGARA_A) == [("went_dark", ANGARA_A)], "not again"
            # ANGARA speaks again (no new static: its IMO is known from the stored vessel row).
            for report in feed(14, 15, track(ANGARA_A, 14, 15, lat=42.3, lon=131.0)):
                await pipeline.submit(report)
        alerts = await stored_alerts(db_url)
        angara = of(alerts, ANGARA_A)
        assert angara[:2] == [("went_dark", ANGARA_A), ("reappeared", ANGARA_A)], alerts
        assert {kind for kind, _ in angara[2:]} <= {"possible_dark_port_call"}, angara
        back = next(a for a in alerts if a["kind"] == "reappeared")
        assert back["details"]["last_seen"] == iso(at(1)) and back["details"]["gap_seconds"] == 13 * 3600
        assert back["details"]["previous_mmsi"] is None


async def test_whether_a_ship_is_dark_survives_a_restart_whatever_the_alerts_say(db_url: str) -> None:
    """went_dark's state is the detector's own (detector_state), not the alert's payload: with every
    alert's details emptied between runs, the restart still neither repeats it nor misses reappeared."""
    async with asyncio.timeout(LIMIT):
        await run(db_url, feed(0, 8, static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 1)))
        await empty_alert_details(db_url)
        await run(db_url, feed(8, 15, track(ANGARA_A, 14, 15, lat=42.3, lon=131.0)))
        angara = of(await stored_alerts(db_url), ANGARA_A)
        assert angara[:2] == [("went_dark", ANGARA_A), ("reappeared", ANGARA_A)], angara
        assert {kind for kind, _ in angara[2:]} <= {"possible_dark_port_call"}, angara


async def test_a_restart_during_the_silence_still_raises_went_dark_after_it(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        await run(db_url, feed(0, 4, static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 1)))
        assert await stored_alerts(db_url) == []
        stage = await run(db_url, feed(4, 10))
        alerts = await stored_alerts(db_url)
        assert of(alerts, ANGARA_A) == [("went_dark", ANGARA_A)], alerts
        assert alerts[0]["occurred_at"] == iso(at(7))
        assert alerts[0]["details"]["last_seen"] == iso(at(1))
        assert stage.silences[f"imo:{ANGARA_IMO}"].alerted_for == at(1)


async def test_a_restart_of_a_name_only_match_does_not_repeat_went_dark(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        await run(db_url, feed(0, 8, static(MARIA_MMSI, at(0), "MARIA"), track(MARIA_MMSI, 0, 1)))
        stage = await run(db_url, feed(8, 20))
        assert stage.silences[f"mmsi:{MARIA_MMSI}"].alerted_for == at(1)
        assert of(await stored_alerts(db_url), MARIA_MMSI) == [("went_dark", MARIA_MMSI)]


async def test_a_per_entry_dark_threshold_is_honoured(db_url: str) -> None:
    entries = (dataclasses.replace(ENTRIES[0], dark_threshold=2 * 3600.0), *ENTRIES[1:])
    async with asyncio.timeout(LIMIT):
        async with running(db_url, WatchlistIndex(entries)) as (pipeline, _, _stage):
            for report in feed(0, 4, static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 1)):
                await pipeline.submit(report)
        (dark,) = await stored_alerts(db_url)
        assert dark["kind"] == "went_dark" and dark["occurred_at"] == iso(at(3))
        assert dark["details"]["threshold_seconds"] == 7200


# ------------------------------------------------------------------- watchlist reloads, identity, downtime
async def test_a_weak_match_upgraded_by_its_imo_does_not_leave_a_stale_silence(db_url: str) -> None:
    mmsi = 273666666
    async with asyncio.timeout(LIMIT):
        reports = feed(0, 10, static(mmsi, at(0), "ANGARA"), track(mmsi, 0, 1),  # name only: weak
                       static(mmsi, at(1, 5), "ANGARA", ANGARA_IMO), track(mmsi, 1 + 10 / 60, 10))
        stage = await run(db_url, reports)
        assert await stored_alerts(db_url) == [], "the ship never stopped transmitting"
        assert sorted(stage.silences) == [f"imo:{ANGARA_IMO}"]


async def test_a_ship_taken_off_the_watchlist_does_not_go_dark(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        async with running(db_url) as (pipeline, enricher, _stage):
            reports = feed(0, 10, static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 10))
            for report in reports:
                if report.time == at(1):
                    enricher.replace_index(WatchlistIndex(ENTRIES[1:]))  # re-imported without ANGARA
                await pipeline.submit(report)
        assert await stored_alerts(db_url) == [], "ANGARA transmitted every 10 minutes throughout"


async def test_downtime_of_the_service_is_not_a_ships_silence(db_url: str) -> None:
    async with asyncio.timeout(LIMIT):
        await run(db_url, feed(0, 3, static(ANGARA_A, at(0), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 2)))
        # Down from 3 h to 11 h (a maintenance night). ANGARA is heard again 15 minutes after the restart.
        await run(db_url, feed(11, 12, track(ANGARA_A, 11.25, 12, lat=42.55, lon=132.1)))
        assert await stored_alerts(db_url) == []


async def test_a_standby_instance_ticks_its_own_feed_but_leaves_the_fleet_rules_to_the_leader(
        db_url: str) -> None:
    """Of two instances only the leader runs went_dark; each judges its own feed (pipeline.tick fleet)."""
    async with asyncio.timeout(LIMIT):
        async with running(db_url, event_time_ticks=False) as (pipeline, _, _stage):
            for report in feed(0, 10, static(ANGARA_A, at(), "ANGARA", ANGARA_IMO), track(ANGARA_A, 0, 1)):
                await pipeline.submit(report)  # ANGARA silent from hour 1; the feed goes on to hour 10
            await pipeline.run_ticks(at(hours=10), fleet=False)
            silent_standby = await stored_alerts(db_url)
            await pipeline.run_ticks(at(hours=12), fleet=False)  # the feed silent for 2 hours
            standby = [a["kind"] for a in await stored_alerts(db_url)]
            await pipeline.run_ticks(at(hours=12, minutes=1), fleet=True)
        leader = of(await stored_alerts(db_url), ANGARA_A)
    assert silent_standby == []  # ANGARA has been silent 9 hours, but that is the leader's to say
    assert standby == ["feed_outage"]
    assert leader == [("went_dark", ANGARA_A)]
