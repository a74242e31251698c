"""Two instances on one PostgreSQL: one leader at a time (advisory lock), takeover within seconds when the
leader dies, and across it no alert lost or sent twice. In-process elections first, then two real
`ais-watch serve` processes with a real webhook receiver, the leader SIGKILLed."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.notifiers import notifiers_from_settings
from ais_watch.alerts.store import AlertStore
from ais_watch.config import load_settings
from ais_watch.leader import Leadership
from ais_watch.store.db import open_database
from tests.helpers.alerts import delivery_rows
from tests.helpers.db import engine_on
from tests.helpers.delivery import check_exactly_once, webhook_env
from tests.helpers.receiver import receiver_server
from tests.helpers.serve import Serve, nmea_feed
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.integration

TAKEOVER_WITHIN = 10.0  # seconds from the leader's death to a new leader (leader.interval 0.5 s here)
# pg_locks is server-wide: count only this database's locks, not those of another suite on the same server.
GRANTED_ADVISORY = ("FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


class Hooks:
    def __init__(self) -> None:
        self.events: list[str] = []

    async def elected(self) -> None:
        self.events.append("elected")

    async def deposed(self) -> None:
        self.events.append("deposed")


def leadership(engine: AsyncEngine, hooks: Hooks) -> Leadership:
    return Leadership(engine, on_elected=hooks.elected, on_deposed=hooks.deposed, interval=0.1)


@dataclass
class Pair:
    """Two candidates on two engines (two instances), each with hooks recording what it was told."""

    engines: list[AsyncEngine]
    hooks: list[Hooks]
    candidates: list[Leadership]


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[Pair]:
    engines = [await open_database(pg_url) for _ in range(2)]
    hooks = [Hooks(), Hooks()]
    made = Pair(engines, hooks, [leadership(e, h) for e, h in zip(engines, hooks, strict=True)])
    try:
        yield made
    finally:
        for c in made.candidates:
            await c.close()
        for e in engines:
            await e.dispose()


# ----------------------------------------------------------------------------------------- in-process
async def test_one_leader_of_two_and_the_standby_takes_over_when_it_leaves(pair: Pair) -> None:
    hooks, candidates = pair.hooks, pair.candidates
    async with asyncio.timeout(30):
        candidates[0].start()
        await wait_for(lambda: candidates[0].is_leader, 5, "the first to lead")
        candidates[1].start()
        await asyncio.sleep(0.5)  # several tries of the standby
        assert [c.is_leader for c in candidates] == [True, False]
        assert hooks[1].events == []

        await candidates[0].close()
        assert hooks[0].events == ["elected", "deposed"]
        began = time.monotonic()
        await wait_for(lambda: candidates[1].is_leader, 5, "the standby to take over")
        assert time.monotonic() - began < 2.0
        assert hooks[1].events == ["elected"]


async def test_a_leader_that_loses_its_connection_steps_down_and_the_lock_is_free(pair: Pair) -> None:
    """The server ends the leader's session (as a restart or a cut network would): the leader must
    notice and stop leading, and whoever wins next holds the lock for real."""
    engines, hooks, candidates = pair.engines, pair.hooks, pair.candidates
    async with asyncio.timeout(30):
        candidates[0].start()
        await wait_for(lambda: candidates[0].is_leader, 5, "the first to lead")
        candidates[1].start()
        async with engines[1].connect() as conn:
            pids = (await conn.execute(text(
                "SELECT pid " + GRANTED_ADVISORY))).scalars().all()
            assert len(pids) == 1
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
        await wait_for(lambda: "deposed" in hooks[0].events, 5, "the old leader to step down")
        await wait_for(lambda: sum(c.is_leader for c in candidates) == 1, 5, "a new leader")
        async with engines[1].connect() as conn:
            holders = (await conn.execute(text(
                "SELECT count(*) " + GRANTED_ADVISORY))).scalar_one()
        assert holders == 1


async def test_on_sqlite_the_only_instance_leads(tmp_path: Path) -> None:
    async with engine_on(f"sqlite:///{tmp_path / 'one.db'}") as engine:
        hooks = Hooks()
        lead = leadership(engine, hooks)
        lead.start()
        await wait_for(lambda: lead.is_leader, 5, "leading")
        await lead.close()
        assert hooks.events == ["elected", "deposed"]


# ------------------------------------------------------------------------------------ real processes
async def readyz(serve: Serve) -> dict[str, Any]:
    base = await serve.api_base()
    async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as response:
        return dict(await response.json())


async def is_leader(serve: Serve) -> bool:
    return bool((await readyz(serve)).get("leadership", {}).get("leader"))


async def raise_batch(store: AlertStore, batch: int, n: int = 3) -> list[int]:
    t0 = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=batch)
    rows = await store.raise_alerts([
        AlertDraft(kind="port_call", occurred_at=t0 + timedelta(hours=i), event_key=f"b{batch}-{i}",
                   mmsi=445000000 + batch * 10 + i, vessel_name=f"CALLER {batch}-{i}", place="Rajin")
        for i in range(n)])
    return [r["id"] for r in rows]


@pytest.fixture
async def instances(pg_url: str, tmp_path: Path) -> AsyncIterator[list[Serve]]:
    serves = [Serve({}, tmp_path / "a.log"), Serve({}, tmp_path / "b.log")]
    try:
        yield serves
    finally:
        for serve in serves:
            await serve.kill()


async def test_two_serves_the_leader_killed_no_alert_lost_or_sent_twice(
        pg_url: str, instances: list[Serve]) -> None:
    a, b = instances
    engine = await open_database(pg_url)
    try:
        async with asyncio.timeout(150), receiver_server() as rec, nmea_feed() as feed:
            env = webhook_env(pg_url, rec.url("/hook"), AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}",
                              AIS_WATCH_LEADER_INTERVAL="0.5")
            a.env = b.env = env
            store = AlertStore(engine, notifiers_from_settings(load_settings(environ=env)))
            sent_ids: list[int] = []

            async def delivered(ids: list[int]) -> bool:
                rows = {r["alert_id"]: r for r in await delivery_rows(engine)}
                accepted = {r.json()["id"] for r in rec.accepted("/hook")}
                return set(ids) <= accepted and all(rows[i]["state"] == "delivered" for i in ids)

            await a.start()
            await a.wait_for(lambda: is_leader(a), 30, "A to start and lead")
            await b.start()
            await b.started()
            await asyncio.sleep(1.5)  # three tries of B's
            assert not await is_leader(b) and await is_leader(a)

            # 1: A leads and delivers.
            sent_ids += await raise_batch(store, 1)
            await a.wait_for(lambda: delivered(sent_ids), 30, "batch 1 delivered by A")

            # 2: A dies (no clean-up of any kind); alerts raised meanwhile wait for the next leader.
            assert a.proc is not None
            a.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.wait_for(a.proc.wait(), 10)
            sent_ids += await raise_batch(store, 2)
            await b.wait_for(lambda: is_leader(b), TAKEOVER_WITHIN, "B to take over")
            takeover = time.monotonic() - killed
            await b.wait_for(lambda: delivered(sent_ids), 30, "batch 2 delivered by B")
            sent_ids += await raise_batch(store, 3)
            await b.wait_for(lambda: delivered(sent_ids), 30, "batch 3 delivered by B")

            # 3: A comes back as the standby; B stops cleanly; A leads again and delivers.
            await a.start()
            await a.started()
            await asyncio.sleep(1.5)
            assert not await is_leader(a)
            code, _ = await b.stop()
            assert code == 0, b.tail()
            await a.wait_for(lambda: is_leader(a), TAKEOVER_WITHIN, "A to lead again")
            sent_ids += await raise_batch(store, 4)
            await a.wait_for(lambda: delivered(sent_ids), 30, "batch 4 delivered by A")
            await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
            code, _ = await a.stop()
            assert code == 0, a.tail()

            rows = await delivery_rows(engine)
        check_exactly_once(rec, rows, sent_ids)
        assert len(rec.requests) == len(sent_ids) == 12  # nothing else was sent, not even once more
        assert takeover < TAKEOVER_WITHIN
        print(f"takeover after SIGKILL of the leader: {takeover:.2f}s")
        assert "leader: this instance" in b.text()
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------- alerts across instances
async def test_an_alert_raised_or_acknowledged_on_one_instance_reaches_the_others_listeners(
        pg_url: str) -> None:
    """The same event on both instances is one row, inserted by whichever won: the other's dashboards
    still hear of it, and of its acknowledgement, through LISTEN/NOTIFY; nobody hears its own twice."""
    from ais_watch.alerts.events import AlertEventListener

    engines = [await open_database(pg_url) for _ in range(2)]
    stores = [AlertStore(e) for e in engines]
    heard: list[list[tuple[int, str]]] = [[], []]
    for store, log in zip(stores, heard, strict=True):
        store.subscribe(lambda row, log=log: log.append((row["id"], row["state"])))
    listeners = [AlertEventListener(s, check_every=0.5) for s in stores]
    try:
        async with asyncio.timeout(30):
            for listener in listeners:
                listener.start()
                await asyncio.wait_for(listener.listening.wait(), 5)
            draft = AlertDraft(kind="port_call", occurred_at=datetime(2024, 3, 1, tzinfo=UTC), event_key="x",
                               mmsi=445000001, vessel_name='<b>"KANG & SON"</b>', place="Rajin")
            rows = await stores[0].raise_alerts([draft])
            assert await stores[1].raise_alerts([draft]) == []  # the same event: one alert
            alert_id = rows[0]["id"]
            await wait_for(lambda: heard[1] == [(alert_id, "open")], 5, "instance 2 to hear of it")
            await stores[1].acknowledge(alert_id, "watch officer 2")
            await wait_for(lambda: heard[0] == [(alert_id, "open"), (alert_id, "acknowledged")], 5,
                           "instance 1 to hear of the acknowledgement")
            await asyncio.sleep(0.5)
            assert heard[1] == [(alert_id, "open"), (alert_id, "acknowledged")]  # its own, once
            assert [listener.forwarded for listener in listeners] == [1, 1]
    finally:
        for listener in listeners:
            await listener.close()
        for engine in engines:
            await engine.dispose()


async def test_two_instances_starting_together_on_an_empty_database_both_come_up(pg_url: str) -> None:
    """Each migrates at start; the advisory lock has the second wait and find the schema at head."""
    engines = await asyncio.wait_for(asyncio.gather(*(open_database(pg_url) for _ in range(3))), 60)
    try:
        async with engines[0].connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert len(versions) == 1
    finally:
        for engine in engines:
            await engine.dispose()
