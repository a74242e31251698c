"""Retention on real recordings, as a new user meets it: old traffic replayed, then `serve` on the same
database, then `ais-watch maintain` (issue 16).

- With the default settings nothing is thinned or dropped; with retention configured the service's
  scheduled job thins and drops the service's own old days but leaves replayed days alone, and only an
  explicit `maintain` thins or drops those.
- `maintain --dry-run` says per day what would happen and changes nothing; the real run then does exactly
  that.
- A thinned real track keeps every evidence fix (port calls, went_dark's gap, an encounter, marked fixes)
  and stays within the tolerance of the full one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.cli import main
from ais_watch.simulate import Leg, Ship, merged, voyage
from ais_watch.store.partitions import partition_days
from ais_watch.store.schema import alerts, encounters, maintenance_marks, port_calls, positions
from ais_watch.store.thinning import deviations_m
from tests.helpers.db import engine_on, insert_positions
from tests.helpers.recordings import every_position, replay
from tests.helpers.serve import Serve, child_env, nmea_feed

pytestmark = pytest.mark.integration

TOLERANCE_M = 10.0  # retention.thin_tolerance_m's default


def job_runs(log: str) -> int:
    """Runs of the maintenance job that went well, by APScheduler's line for each."""
    return sum('Job "maintain_positions_if_leader' in line and line.endswith("executed successfully")
               for line in log.splitlines())


def old_day(days_ago: int, ships: tuple[int, ...] = (211000001, 211000002)) -> list[dict[str, Any]]:
    """A day of the service's own traffic `days_ago` days back: two ships, a fix a minute, lying still."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return [{"mmsi": m, "time": start + timedelta(minutes=i), "lat": 55.7, "lon": 12.6, "source": "live"}
            for i in range(1440) for m in ships]


def replayed_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    source = [c.name for c in positions.columns].index("source")
    return [r for r in rows if str(r[source]).startswith("replay:")]


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


# ---------------------------------------------------------------------------- replay, then serve
async def test_replayed_history_survives_serve_and_only_maintain_thins_or_drops_it(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(240), Serve({}, tmp_path / "serve.log") as serve, nmea_feed() as feed:
        await asyncio.to_thread(replay, db_url)
        recent, ancient = old_day(100), old_day(500, (211000003,))  # the service's own traffic
        async with engine_on(db_url) as engine:
            await insert_positions(engine, recent + ancient)
            before = await every_position(engine)
        assert len(replayed_rows(before)) > 40_000
        env = child_env(AIS_WATCH_DB=db_url, AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}",
                        AIS_WATCH_HTTP_PORT="0", AIS_WATCH_DEMO_REPLAY="false",
                        # DEBUG: APScheduler's line for each run of the job is below it (a quiet log)
                        AIS_WATCH_LOG_LEVEL="DEBUG",
                        AIS_WATCH_RETENTION_INTERVAL="1")  # the job runs at election, then every second

        # A new user's serve: the default settings. The job runs and says it does nothing.
        serve.env = env
        await serve.start()
        await serve.wait_for(lambda: "position maintenance:" in serve.text(), 60, "the maintenance job")
        await serve.wait_for(lambda: job_runs(serve.text()) >= 3, 30, "two more runs of the job")
        assert (await serve.stop())[0] == 0
        assert ("position maintenance: nothing thinned or dropped" in serve.text()
                and "thinning off (retention.full_detail_days 0); dropping off (retention.keep_days 0)"
                in serve.text())
        async with engine_on(db_url) as engine:
            assert await every_position(engine) == before  # every position still there, unchanged

        # Retention configured: the job thins and drops the service's own old days, not replayed ones.
        serve.env = {**env, "AIS_WATCH_RETENTION_FULL_DETAIL_DAYS": "90",
                     "AIS_WATCH_RETENTION_KEEP_DAYS": "400"}
        await serve.start()
        await serve.wait_for(lambda: "position maintenance:" in serve.text(), 60, "the maintenance job")
        await serve.wait_for(lambda: job_runs(serve.text()) >= 3, 30, "two more runs of the job")
        assert (await serve.stop())[0] == 0
        log = serve.text()
        assert log.count("position maintenance:") == 1  # the first run says what it did; the rest do nothing
        assert "thinned 1 days (2,880 -> 50 positions), dropped 1 days (1,440 positions)" in log, log
        assert ("left 3 replayed days alone (2012-01-27 .. 2013-11-12: only `ais-watch maintain` thins or "
                "drops replayed history)") in log
        async with engine_on(db_url) as engine:
            after = await every_position(engine)
        assert replayed_rows(after) == replayed_rows(before)
        assert len(after) == len(replayed_rows(before)) + 50  # each ship's day: 00:00 .. 23:00 and 23:59

    # An explicit `maintain` with the same settings does drop them, and says they were replayed.
    monkeypatch.setenv("AIS_WATCH_RETENTION_FULL_DETAIL_DAYS", "90")
    monkeypatch.setenv("AIS_WATCH_RETENTION_KEEP_DAYS", "400")
    capsys.readouterr()
    assert await run_cli("--db", db_url, "maintain") == 0
    out = capsys.readouterr().out
    assert f"dropped 3 days ({len(replayed_rows(before)):,} positions), 3 of them replayed" in out, out
    assert "replayed days are thinned and dropped only by `ais-watch maintain`" in out
    async with engine_on(db_url) as engine:
        assert len(await every_position(engine)) == 50
        async with engine.connect() as conn:
            marks = (await conn.execute(select(maintenance_marks.c.key))).scalars().all()
    assert not [k for k in marks if k.startswith("replayed.")]  # the dropped days' marks went with them


# ------------------------------------------------------------------- dry run, then thinning for real
T0 = datetime(2023, 9, 1, tzinfo=UTC)
ANGARA = Ship(mmsi=273111111, name="ANGARA", imo=9179842, call_sign="UBXX")  # on the default watchlist
FERRY = Ship(mmsi=273222222, name="SEA FERRY")
VOSTOCHNY, OFF_RAJIN, RAJIN = (42.75, 133.08), (42.25, 131.20), (42.24, 130.31)


def scenario(path: Path) -> None:
    """ANGARA moored at Vostochny (a port call), out to sea, dark for ~1.5 days (went_dark, reappeared);
    a ferry keeps the feed alive. Replayed with the bundled recordings, so its alerts and port calls are
    the detectors' own."""
    legs = [Leg(*VOSTOCHNY, speed_kn=0.1, stay=timedelta(hours=3)), Leg(*OFF_RAJIN, speed_kn=12),
            Leg(*RAJIN, speed_kn=10, dark=True, stay=timedelta(hours=20)),
            Leg(*OFF_RAJIN, speed_kn=10, dark=True), Leg(42.5, 132.3, speed_kn=12)]
    ship = list(voyage(ANGARA, T0, *VOSTOCHNY, legs))
    ferry = voyage(FERRY, T0, 43.10, 131.89, [Leg(43.10, 131.89, 1.0, stay=ship[-1][0] - T0)],
                   moored_interval=timedelta(minutes=10))
    path.write_text("\n".join(merged(ship, ferry)) + "\n")


async def busiest(engine: AsyncEngine, day: date, skip: int = 0) -> tuple[int, list[datetime]]:
    """A real vessel with many believed fixes that day, and their times."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(positions.c.mmsi, positions.c.time).where(
            positions.c.time >= datetime(day.year, day.month, day.day, tzinfo=UTC),
            positions.c.time < datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1),
            positions.c.anomaly.is_(None)))).all()
    by_vessel: dict[int, list[datetime]] = defaultdict(list)
    for mmsi, when in rows:
        by_vessel[mmsi].append(when)
    mmsi = sorted(by_vessel, key=lambda m: (-len(by_vessel[m]), m))[skip]
    return mmsi, sorted(by_vessel[mmsi])


async def add_evidence_on_real_tracks(engine: AsyncEngine) -> None:
    """A port call for the busiest Australian vessel, an encounter of the two busiest Danish ones."""
    mmsi, times = await busiest(engine, date(2012, 1, 27))
    a, b = (await busiest(engine, date(2013, 11, 12)))[0], (await busiest(engine, date(2013, 11, 12), 1))[0]
    _, times_a = await busiest(engine, date(2013, 11, 12))
    async with engine.begin() as conn:
        await conn.execute(insert(port_calls).values(
            mmsi=mmsi, port_id="test-port", port_name="Test port", country="AU", kind="port",
            arrival=times[30], established_at=times[40], departure=times[90],
            duration_seconds=(times[90] - times[30]).total_seconds(), evidence="entry+stop+exit"))
        await conn.execute(insert(encounters).values(
            mmsi_a=min(a, b), mmsi_b=max(a, b), start=times_a[5], end=times_a[25], last_together=times_a[25],
            duration_seconds=(times_a[25] - times_a[5]).total_seconds(), min_distance_m=100.0,
            median_distance_m=200.0, median_speed_kn=1.0, lat=55.7, lon=12.6, watched=False))


Key = tuple[int, datetime]


async def evidence_fixes(engine: AsyncEngine, full: dict[int, list[tuple[datetime, float, float, bool]]]
                         ) -> dict[str, set[Key]]:
    """What must survive thinning, worked out from the full tracks and the tables (not by the code under
    test): each port call's first and last fix, the fixes either side of each went_dark silence, every fix
    of both ships during an encounter, every marked fix, each vessel's first and last fix of a day."""
    need: dict[str, set[Key]] = defaultdict(set)
    async with engine.connect() as conn:
        calls = (await conn.execute(select(port_calls))).mappings().all()
        met = (await conn.execute(select(encounters))).mappings().all()
        dark = (await conn.execute(select(alerts).where(alerts.c.kind.in_(("went_dark", "reappeared"))))
                ).mappings().all()
    for call in calls:
        inside = [t for t, *_ in full[call["mmsi"]] if call["arrival"] <= t <= (call["departure"] or t)]
        need["port call"] |= {(call["mmsi"], inside[0]), (call["mmsi"], inside[-1])}
    for row in met:
        for mmsi in (row["mmsi_a"], row["mmsi_b"]):
            need["encounter"] |= {(mmsi, t) for t, *_ in full[mmsi] if row["start"] <= t <= row["end"]}
    for alert in dark:  # went_dark: the last fix before; reappeared: the first after
        when = (datetime.fromisoformat(alert["details"]["last_seen"]) if alert["kind"] == "went_dark"
                else alert["occurred_at"])
        assert (alert["mmsi"], when) in {(alert["mmsi"], t) for t, *_ in full[alert["mmsi"]]}
        need["went_dark gap"].add((alert["mmsi"], when))
    for mmsi, fixes in full.items():
        need["marked"] |= {(mmsi, t) for t, _, _, believed in fixes if not believed}
        for day in {t.date() for t, *_ in fixes}:
            times = [t for t, *_ in fixes if t.date() == day]
            need["first and last of the day"] |= {(mmsi, times[0]), (mmsi, times[-1])}
    return need


def tracks(rows: list[tuple[Any, ...]]) -> dict[int, list[tuple[datetime, float, float, bool]]]:
    columns = [c.name for c in positions.columns]
    at = {name: columns.index(name) for name in ("mmsi", "time", "lat", "lon", "anomaly")}
    out: dict[int, list[tuple[datetime, float, float, bool]]] = defaultdict(list)
    for r in rows:
        out[r[at["mmsi"]]].append((r[at["time"]], r[at["lat"]], r[at["lon"]], r[at["anomaly"]] is None))
    for fixes in out.values():
        fixes.sort()
    return out


async def database_state(engine: AsyncEngine) -> tuple[Any, ...]:
    """Everything a maintenance run could change: positions, marks and, on PostgreSQL, the partitions."""
    async with engine.connect() as conn:
        marks = sorted((await conn.execute(select(maintenance_marks.c.key, maintenance_marks.c.value))).all())
        days = await conn.run_sync(partition_days) if engine.dialect.name == "postgresql" else set()
        tables = (sorted((await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = "
                                                  "'public'"))).scalars().all())
                  if engine.dialect.name == "postgresql" else [])
    return await every_position(engine), marks, sorted(days), tables


async def test_dry_run_changes_nothing_then_thinning_keeps_the_track_and_every_evidence_fix(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(240):
        scenario(tmp_path / "angara.nmea")
        await asyncio.to_thread(replay, db_url, tmp_path / "angara.nmea")
        async with engine_on(db_url) as engine:
            await add_evidence_on_real_tracks(engine)
            before = await database_state(engine)
        days = ["2012-01-27", "2012-01-31", "2013-11-12", "2023-09-01", "2023-09-02"]
        assert [(k, v) for k, v in before[1] if k.startswith("replayed.")] == [
            (f"replayed.{d}", "full") for d in days]  # the replay marked the days it wrote to
        monkeypatch.setenv("AIS_WATCH_RETENTION_FULL_DETAIL_DAYS", "90")  # every replayed day is older
        capsys.readouterr()

        assert await run_cli("--db", db_url, "maintain", "--dry-run") == 0
        dry = capsys.readouterr().out
        async with engine_on(db_url) as engine:
            assert await database_state(engine) == before  # nothing changed
        assert dry.startswith("position maintenance (dry run: nothing changed): thinning days before")
        day_lines = [line for line in dry.splitlines() if line[:4].isdigit()]
        assert [line[:10] for line in day_lines] == days
        assert all(" thin " in line and line.endswith("replayed") for line in day_lines)

        assert await run_cli("--db", db_url, "maintain") == 0
        real = capsys.readouterr().out
        assert [line for line in real.splitlines() if line[:4].isdigit()] == day_lines  # as the dry run said
        async with engine_on(db_url) as engine:
            marks = (await database_state(engine))[1]
        assert [(k, v) for k, v in marks if k.startswith("replayed.")] == [
            (f"replayed.{d}", "thinned") for d in days]

    full = tracks(before[0])
    async with engine_on(db_url) as engine:
        kept_rows = await every_position(engine)
    kept = tracks(kept_rows)
    kept_keys = {(m, t) for m, fixes in kept.items() for t, *_ in fixes}
    total = sum(int(line.split()[2].replace(",", "")) for line in day_lines)
    after = sum(int(line.split()[4].replace(",", "")) for line in day_lines)
    assert total == len(before[0]) and after == len(kept_rows)
    assert after < 0.25 * total, (after, total)

    # Every evidence fix is still there.
    need = await evidence_fixes_of(db_url, full)
    assert {what: len(keys) for what, keys in need.items()}.keys() == {
        "port call", "encounter", "went_dark gap", "marked", "first and last of the day"}
    assert len(need["encounter"]) > 20 and len(need["went_dark gap"]) == 2 and len(need["port call"]) >= 4
    for what, keys in need.items():
        assert keys <= kept_keys, (what, sorted(keys - kept_keys)[:5])

    # The thinned tracks are within the tolerance of the full ones, every vessel, every day.
    worst = 0.0
    for mmsi, fixes in full.items():
        for day in {t.date() for t, *_ in fixes}:
            line = [(t, lat, lon) for t, lat, lon, believed in fixes if believed and t.date() == day]
            if len(line) > 2:
                mask = np.array([(mmsi, t) in kept_keys for t, _, _ in line])
                worst = max(worst, float(deviations_m(np.array([f[1] for f in line]),
                                                      np.array([f[2] for f in line]), mask).max(initial=0)))
    assert 0.5 * TOLERANCE_M < worst <= TOLERANCE_M


async def evidence_fixes_of(db_url: str, full: dict[int, list[tuple[datetime, float, float, bool]]]
                            ) -> dict[str, set[Key]]:
    async with engine_on(db_url) as engine:
        return await evidence_fixes(engine, full)



def test_the_days_of_a_batch_are_every_utc_day_its_rows_fall_on() -> None:
    """A replay marks each day its batch writes to (days_of: the earliest and latest row when they fall on
    one day, every row otherwise)."""
    from datetime import timezone

    from ais_watch.store.partitions import days_of

    late = datetime(2024, 5, 10, 23, 59, 59, 999999, tzinfo=UTC)
    rows = [(1, late - timedelta(hours=h)) for h in range(3)]
    assert days_of(rows) == {date(2024, 5, 10)}
    # a row in the middle of the next day, one in Vladivostok's time that is the 9th in UTC
    vladivostok = timezone(timedelta(hours=10))
    rows += [(2, late + timedelta(hours=12)), (3, datetime(2024, 5, 10, 5, tzinfo=vladivostok))]
    assert days_of(rows) == {date(2024, 5, 9), date(2024, 5, 10), date(2024, 5, 11)}
    assert days_of([(4, late), (5, late + timedelta(days=2))]) == {date(2024, 5, 10), date(2024, 5, 12)}, \
        "not the days between"
    assert days_of([]) == set()
