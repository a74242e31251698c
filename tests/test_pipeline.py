"""The pipeline: deduplication and clocks (pure), then vessel state and identity against a real store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ais_watch.clock import ReplayClock, WallClock
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport
from ais_watch.pipeline.dedup import Deduplicator
from ais_watch.pipeline.runner import Pipeline, PipelineOptions
from ais_watch.steps import build_pipeline
from ais_watch.store import queries
from ais_watch.store.schema import identity_history, positions
from ais_watch.store.writer import StoreWriter
from tests.helpers.db import engine_on
from tests.helpers.reports import make_position, make_static

T0 = datetime(2024, 5, 10, 11, 0, 0, tzinfo=UTC)
RU_SHIP = 273355410  # MID 273: Russian Federation
KP_SHIP = 445123000  # MID 445: Democratic People's Republic of Korea
PAYLOAD = b"13u?etPv2;0n:dDPwUM1U1Cb069D"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pos(seconds: float, mmsi: int = RU_SHIP, *, lat: float = 43.1, lon: float = 131.9,
        payload: bytes | None = None, msg_type: int = 1, source: str = "test") -> PositionReport:
    return make_position(mmsi, at(seconds), lat, lon, sog=10.5, heading=91, msg_type=msg_type, source=source,
                         payload=payload)


def static(seconds: float, mmsi: int = RU_SHIP, *, msg_type: int = 5, part: str | None = None,
           **fields: Any) -> StaticReport:
    return make_static(mmsi, at(seconds), msg_type=msg_type, part=part, **fields)


# ------------------------------------------------------------------------------------- dedup, pure
@pytest.mark.unit
def test_same_payload_within_the_window_is_one_transmission() -> None:
    dedup = Deduplicator(window=60)
    assert not dedup.is_duplicate(pos(0, payload=PAYLOAD))
    assert dedup.is_duplicate(pos(0, payload=PAYLOAD, source="second receiver"))
    assert dedup.is_duplicate(pos(30, payload=PAYLOAD))
    assert dedup.is_duplicate(pos(59, payload=PAYLOAD))
    # An earlier copy (heard late by a slower receiver) is the same transmission too.
    assert dedup.is_duplicate(pos(-20, payload=PAYLOAD))
    # Another payload, or another vessel, is not.
    assert not dedup.is_duplicate(pos(31, payload=PAYLOAD + b"0"))
    assert not dedup.is_duplicate(pos(31, mmsi=RU_SHIP + 1, payload=PAYLOAD))


@pytest.mark.unit
def test_same_payload_after_the_window_is_a_new_transmission() -> None:
    dedup = Deduplicator(window=60)
    assert not dedup.is_duplicate(pos(0, payload=PAYLOAD))
    assert not dedup.is_duplicate(pos(61, payload=PAYLOAD))  # e.g. a moored ship repeating itself
    assert dedup.is_duplicate(pos(100, payload=PAYLOAD))  # within 60 s of the one at 61 s
    assert not dedup.is_duplicate(pos(200, payload=PAYLOAD))


@pytest.mark.unit
def test_json_reports_are_compared_by_time_and_position() -> None:
    dedup = Deduplicator(window=60)
    assert not dedup.is_duplicate(pos(0))
    assert dedup.is_duplicate(pos(0, source="another feed"))
    assert not dedup.is_duplicate(pos(0, lat=43.2)), "same time, another place: not the same report"
    assert not dedup.is_duplicate(pos(1)), "same place, another time: a new report"
    assert not dedup.is_duplicate(pos(0, msg_type=3)), "another message type"
    assert not dedup.is_duplicate(pos(0, mmsi=KP_SHIP))
    # Statics without payload: by MMSI, type, part and time.
    assert not dedup.is_duplicate(static(5, name="A"))
    assert dedup.is_duplicate(static(5, name="A"))
    assert not dedup.is_duplicate(static(5, msg_type=24, part="A", name="A"))
    assert not dedup.is_duplicate(static(5, msg_type=24, part="B", call_sign="UBCD"))
    assert dedup.is_duplicate(static(5, msg_type=24, part="B", call_sign="UBCD"))


@pytest.mark.unit
def test_window_zero_turns_dedup_off() -> None:
    dedup = Deduplicator(window=0)
    assert not dedup.is_duplicate(pos(0, payload=PAYLOAD))
    assert not dedup.is_duplicate(pos(0, payload=PAYLOAD))


@pytest.mark.unit
def test_dedup_memory_is_bounded_by_the_window() -> None:
    dedup = Deduplicator(window=60)
    peak = 0
    for i in range(5000):  # 5000 distinct transmissions, one a second, over 83 minutes
        assert not dedup.is_duplicate(pos(i, payload=b"P%d" % i))
        peak = max(peak, len(dedup), len(dedup._order))  # the keys and the eviction queue behind them
    # At any time only what arrived in the last 60 s (inclusive) can still match something.
    assert peak <= 62, peak
    assert len(dedup) <= 62


@pytest.mark.unit
def test_dedup_memory_is_capped_by_max_entries() -> None:
    dedup = Deduplicator(window=3600, max_entries=100)
    for i in range(2000):  # all within the window, time always advancing
        dedup.is_duplicate(pos(i / 100, payload=b"P%d" % i))
    assert len(dedup) <= 101


# -------------------------------------------------------------------------------------- clocks
@pytest.mark.unit
def test_replay_clock_follows_the_watermark_and_never_runs_backwards() -> None:
    clock = ReplayClock()
    with pytest.raises(RuntimeError):
        clock.now()
    seen = []
    for seconds in (10, 5, 30, 29, -100, 31, 31):
        clock.observe(at(seconds))
        seen.append(clock.now())
    assert seen == [at(10), at(10), at(30), at(30), at(30), at(31), at(31)]
    assert ReplayClock(start=at(0)).now() == at(0)


@pytest.mark.unit
def test_wall_clock_ignores_event_times() -> None:
    ticks = iter([at(1000), at(1001)])
    clock = WallClock(lambda: next(ticks))
    clock.observe(at(5000))
    assert clock.now() == at(1000)
    assert clock.now() == at(1001)
    assert WallClock().now().tzinfo is not None


# ---------------------------------------------------------------------------- with a real store
async def run(db_url: str, reports: Iterable[Report], **options: Any) -> Pipeline:
    """Reports through a started pipeline on the database, then close() (everything written)."""
    async with engine_on(db_url) as engine:
        stats = IngestStats()
        writer = StoreWriter(engine, stats, retry_initial=0.01, retry_max_delay=0.1)
        pipeline = build_pipeline(engine, writer, stats, ReplayClock(), PipelineOptions(**options))
        await pipeline.start(periodic_flush=False)
        for report in reports:
            await pipeline.submit(report)
        await pipeline.close()
    return pipeline


async def stored(db_url: str, mmsi: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """(vessels row, identity history, positions count) of one vessel, read back from the database."""
    async with engine_on(db_url, migrate_schema=False) as engine:
        row = await queries.vessel(engine, mmsi)
        history = await queries.identity_changes(engine, mmsi)
        async with engine.connect() as conn:
            count = (await conn.execute(
                select(func.count()).select_from(positions).where(positions.c.mmsi == mmsi))).scalar_one()
    return row, history, count


def changes(history: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None, datetime]]:
    return [(h["field"], h["old_value"], h["new_value"], h["time"]) for h in history]


@pytest.mark.integration
async def test_duplicates_are_stored_once(db_url: str) -> None:
    async with asyncio.timeout(30):
        pipeline = await run(db_url, [
            pos(0, payload=PAYLOAD, source="receiver 1"), pos(0, payload=PAYLOAD, source="receiver 2"),
            pos(2, payload=PAYLOAD, source="receiver 3"), pos(61, payload=PAYLOAD)])
        _, _, count = await stored(db_url, RU_SHIP)
    assert pipeline.stats.duplicates == 2
    assert count == 2
    assert pipeline.stats.positions_stored == 2


@pytest.mark.integration
async def test_an_older_position_is_history_but_does_not_move_the_vessel_back(db_url: str) -> None:
    async with asyncio.timeout(30):
        pipeline = await run(db_url, [
            pos(0, lat=43.00), pos(60, lat=43.10), pos(30, lat=43.05), pos(45, lat=43.07)], batch_size=2)
        assert pipeline.clock.now() == at(60)
        row, _, count = await stored(db_url, RU_SHIP)
    assert count == 4, "every fix is history, in whatever order it arrived"
    assert pipeline.stats.out_of_order == 2  # the ones at 30 s and 45 s
    assert row is not None
    assert row["last_seen"] == at(60)
    assert (row["last_lat"], row["last_lon"]) == (43.10, 131.9)
    assert row["first_seen"] == at(0)
    assert row["last_sog"] == 10.5 and row["last_heading"] == 91 and row["last_source"] == "test"


@pytest.mark.integration
async def test_first_seen_is_the_oldest_stored_fix(db_url: str) -> None:
    async with asyncio.timeout(30):
        await run(db_url, [pos(100), pos(200), pos(50)])
        row, _, count = await stored(db_url, RU_SHIP)
    assert count == 3
    assert row is not None
    assert row["first_seen"] == at(50)


@pytest.mark.integration
async def test_identity_history_records_the_first_name_and_each_change(db_url: str) -> None:
    async with asyncio.timeout(30):
        pipeline = await run(db_url, [
            static(0, name="VOSTOK 7", imo=9179842),
            static(360, name="VOSTOK 7", imo=9179842),  # unchanged: no history
            static(720, name="SEA STAR", imo=9179842),
        ])
        row, history, _ = await stored(db_url, RU_SHIP)
    assert changes(history) == [
        ("name", None, "VOSTOK 7", at(0)),
        ("imo", None, "9179842", at(0)),
        ("name", "VOSTOK 7", "SEA STAR", at(720)),
    ]  # same time: in the order the report's fields were compared (queries order by time, id)
    assert all(h["source"] == "test" for h in history)
    assert row is not None
    assert (row["name"], row["imo"], row["static_updated"]) == ("SEA STAR", 9179842, at(720))
    assert row["last_seen"] is None, "static messages carry no position"
    assert pipeline.stats.statics_stored == 3


@pytest.mark.integration
async def test_an_older_static_report_does_not_undo_a_newer_one(db_url: str) -> None:
    async with asyncio.timeout(30):
        pipeline = await run(db_url, [
            static(0, name="OLD NAME", imo=9179842, destination="NAMPO"),
            static(600, name="NEW NAME", imo=9179842, destination="VANINO"),
            static(300, name="OLD NAME", imo=9179842, destination="NAMPO"),  # delayed copy
        ])
        row, history, _ = await stored(db_url, RU_SHIP)
    assert row is not None
    assert (row["name"], row["destination"], row["static_updated"]) == ("NEW NAME", "VANINO", at(600))
    assert [c for c in changes(history) if c[3] > at(0)] == [
        ("name", "OLD NAME", "NEW NAME", at(600)), ("destination", "NAMPO", "VANINO", at(600))]
    assert pipeline.stats.out_of_order == 1


@pytest.mark.integration
async def test_an_invalid_imo_is_not_taken_as_identity(db_url: str) -> None:
    async with asyncio.timeout(30):
        await run(db_url, [static(0, name="X", imo=9179843, imo_valid=False)])  # bad check digit
        row, history, _ = await stored(db_url, RU_SHIP)
    assert row is not None and row["imo"] is None
    assert [h["field"] for h in history] == ["name"]


@pytest.mark.integration
async def test_type_24_parts_merge_into_one_vessel(db_url: str) -> None:
    mmsi = 440123450
    async with asyncio.timeout(30):
        await run(db_url, [
            pos(0, mmsi=mmsi, msg_type=18),
            static(10, mmsi=mmsi, msg_type=24, part="A", name="MIRAE 2"),
            static(11, mmsi=mmsi, msg_type=24, part="B", call_sign="DSQR7", ship_type=30,
                   to_bow=9, to_stern=6, to_port=2, to_starboard=3),
            # A later part A must not wipe what part B set, nor part B the name.
            static(400, mmsi=mmsi, msg_type=24, part="A", name="MIRAE 2"),
        ])
        row, history, _ = await stored(db_url, mmsi)
    assert row is not None
    assert (row["name"], row["call_sign"], row["ship_type"]) == ("MIRAE 2", "DSQR7", 30)
    assert (row["to_bow"], row["to_stern"], row["to_port"], row["to_starboard"]) == (9, 6, 2, 3)
    assert row["last_seen"] == at(0) and row["flag"] == "KR"
    assert sorted((h["field"], h["new_value"]) for h in history) == [("call_sign", "DSQR7"),
                                                                     ("name", "MIRAE 2"),
                                                                     ("ship_type", "30")]


@pytest.mark.integration
async def test_type_24_part_b_heard_late_still_merges(db_url: str) -> None:
    mmsi = 440123450
    async with asyncio.timeout(30):
        await run(db_url, [
            static(11, mmsi=mmsi, msg_type=24, part="A", name="MIRAE 2"),
            static(10, mmsi=mmsi, msg_type=24, part="B", call_sign="DSQR7", ship_type=30),
        ])
        row, _, _ = await stored(db_url, mmsi)
    assert row is not None
    assert (row["name"], row["call_sign"], row["ship_type"]) == ("MIRAE 2", "DSQR7", 30)


@pytest.mark.integration
async def test_flag_comes_from_the_mid(db_url: str) -> None:
    sart = 970123456  # AIS-SART: no MID, no flag
    async with asyncio.timeout(30):
        await run(db_url, [pos(0), pos(0, mmsi=KP_SHIP), pos(0, mmsi=sart),
                           static(1, mmsi=219000734, name="X")])
        rows = {m: (await stored(db_url, m))[0] for m in (RU_SHIP, KP_SHIP, sart, 219000734)}
    assert {m: r["flag"] for m, r in rows.items() if r} == {RU_SHIP: "RU", KP_SHIP: "KP", sart: None,
                                                          219000734: "DK"}


@pytest.mark.integration
async def test_a_restarted_pipeline_continues_from_the_stored_vessels(db_url: str) -> None:
    async with asyncio.timeout(60):
        first = await run(db_url, [pos(100, lat=43.1), pos(200, lat=43.2), static(150, name="VOSTOK 7")])
        assert first.stats.out_of_order == 0
        second = await run(db_url, [
            pos(150, lat=44.0),  # older than the stored last_seen
            static(120, name="STALE"),  # older than the stored identity
            static(300, name="SEA STAR"),
            pos(300, mmsi=KP_SHIP),
        ])
        row, history, count = await stored(db_url, RU_SHIP)
    assert RU_SHIP in second.vessels and second.vessels[RU_SHIP]["name"] == "SEA STAR"
    assert second.stats.out_of_order == 2
    assert count == 3
    assert row is not None
    assert (row["last_seen"], row["last_lat"], row["first_seen"]) == (at(200), 43.2, at(100))
    assert row["name"] == "SEA STAR"
    assert changes(history) == [("name", None, "VOSTOK 7", at(150)),
                                ("name", "VOSTOK 7", "SEA STAR", at(300))]


@pytest.mark.integration
async def test_identity_rows_are_in_the_table_not_just_in_memory(db_url: str) -> None:
    async with asyncio.timeout(30):
        await run(db_url, [static(0, name="A", call_sign="UBCD", draught=9.8, destination="NAMPO")])
        async with engine_on(db_url, migrate_schema=False) as engine, engine.connect() as conn:
            fields = sorted(r[0] for r in await conn.execute(select(identity_history.c.field)))
    assert fields == ["call_sign", "destination", "draught", "name"]
