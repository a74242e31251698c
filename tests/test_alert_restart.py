"""The outbox across real process deaths: alerts committed by a process that is then SIGKILLed are delivered
exactly once by the next `ais-watch serve`; a receiver that is down across a serve restart gets each alert
exactly once when it comes back, and the attempt history survives the restart.

Real processes (python -c, python -m ais_watch serve), a real loopback webhook receiver, a tiny local TCP
server as serve's NMEA source (it only accepts), on a SQLite file and on PostgreSQL (db_url).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.notifiers import notifiers_from_settings
from ais_watch.alerts.store import AlertStore
from ais_watch.config import load_settings
from ais_watch.store.db import open_database
from tests.helpers.alerts import attempts_by_delivery, delivery_rows
from tests.helpers.delivery import check_exactly_once, webhook_env
from tests.helpers.paths import REPO
from tests.helpers.receiver import Receiver, receiver_server
from tests.helpers.serve import STOP_WITHIN, Serve, free_port, nmea_feed

pytestmark = pytest.mark.integration

LIMIT = 90  # seconds any one test may take

# Raises N alerts (one pending delivery each, for the "webhook" notifier from AIS_WATCH_WEBHOOK_URL) and
# runs a dispatcher against the receiver, which is down: every delivery gets tried and fails. It then
# stops the dispatcher (a delivery claimed at the moment of a SIGKILL would wait out the claim lease, see
# test_a_send_cut_short_by_sigkill_goes_out_after_the_claim_lease), says READY with the alert ids and
# waits to be killed.
CHILD = r'''
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from sqlalchemy import func, select
from ais_watch.alerts.dispatcher import Dispatcher, RetryPolicy
from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.notifiers import notifiers_from_settings
from ais_watch.alerts.store import AlertStore
from ais_watch.config import load_settings
from ais_watch.store.db import open_database
from ais_watch.store.schema import deliveries

async def main(n):
    settings = load_settings()
    engine = await open_database(settings["db"])
    notifiers = notifiers_from_settings(settings)
    store = AlertStore(engine, notifiers)
    dispatcher = Dispatcher(engine, notifiers, store.stats, RetryPolicy(initial=0.1, maximum=0.3))
    store.subscribe(dispatcher.wake)
    dispatcher.start()
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ids = []
    for i in range(n):
        rows = await store.raise_alerts([AlertDraft(
            kind="went_dark", occurred_at=t0 + timedelta(hours=i), event_key=f"gap-{i}", mmsi=273000000 + i,
            vessel_name=f"VESSEL {i}", details={"gap_seconds": 7200})])
        ids += [r["id"] for r in rows]
    while True:
        async with engine.connect() as conn:
            tried = await conn.scalar(select(func.count()).select_from(deliveries)
                                      .where(deliveries.c.attempts >= 1))
        if tried == n:
            break
        await asyncio.sleep(0.05)
    await dispatcher.close()
    print("READY " + json.dumps(ids), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(int(sys.argv[1])))
'''


def accepted_alert_ids(rec: Receiver) -> Counter[int]:
    return Counter(r.json()["id"] for r in rec.accepted("/hook"))


# ---------------------------------------------------------------------------------------- (a)
async def test_alerts_of_a_killed_process_are_delivered_exactly_once_by_the_next_serve(
        db_url: str, tmp_path: Path) -> None:
    n = 5
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"  # nothing listens there yet: the receiver is down
    env = webhook_env(db_url, url)
    child_log = (tmp_path / "child.log").open("wb")
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, str(n), cwd=str(REPO), env=env,
                                                 stdin=asyncio.subprocess.DEVNULL,
                                                 stdout=asyncio.subprocess.PIPE, stderr=child_log)
    serve = Serve(env, tmp_path / "serve.log")
    engine: AsyncEngine | None = None
    try:
        async with asyncio.timeout(LIMIT):
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 45)
            assert line.startswith(b"READY "), (line, (tmp_path / "child.log").read_text(errors="replace"))
            alert_ids = json.loads(line[6:])
            child.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL

            engine = await open_database(db_url)
            before = await delivery_rows(engine)
            history = await attempts_by_delivery(engine)
            assert len(alert_ids) == n and [r["alert_id"] for r in before] == alert_ids
            assert all(r["state"] == "pending" and r["attempts"] >= 1 for r in before)
            assert all(status is None and not ok for d in history.values() for _, status, ok, _ in d)

            async with receiver_server(port) as rec, nmea_feed() as feed:
                serve.env = webhook_env(db_url, url, AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}")
                await serve.start()

                async def all_delivered() -> bool:
                    rows = await delivery_rows(engine)  # type: ignore[arg-type]
                    ours = [r for r in rows if r["alert_id"] in alert_ids]
                    return (set(accepted_alert_ids(rec)) >= set(alert_ids)
                            and all(r["state"] == "delivered" for r in ours))

                await serve.wait_for(all_delivered, 30, "every alert delivered")
                code, took = await serve.stop()
                assert code == 0, serve.tail()
                assert took < STOP_WITHIN and "stopped cleanly" in serve.text()

                # A clean restart sends nothing again.
                sent = len(rec.requests)
                await serve.start()
                await serve.started()
                await asyncio.sleep(1.5)
                code, _ = await serve.stop()
                assert code == 0, serve.tail()
                assert len(rec.requests) == sent

            after = await delivery_rows(engine)
            final_history = await attempts_by_delivery(engine)
        check_exactly_once(rec, after, alert_ids)
        for row in (r for r in after if r["alert_id"] in alert_ids):
            assert row["state"] == "delivered" and row["last_status"] == 200
            attempts = final_history[row["id"]]
            assert [a[0] for a in attempts] == list(range(1, row["attempts"] + 1))  # numbered 1..n, none lost
            assert attempts[:-1] == history[row["id"]]  # the killed process's attempts are kept as they were
            assert attempts[-1][1:3] == (200, True)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        child_log.close()
        await serve.kill()
        if engine is not None:
            await engine.dispose()


# ---------------------------------------------------------------------------------------- (b)
async def test_a_receiver_down_across_a_serve_restart_gets_each_alert_exactly_once(
        db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    n = 3
    rec = Receiver(default="503-retry-after:0.6")
    async with Serve({}, tmp_path / "serve.log") as serve:
        async with asyncio.timeout(LIMIT), receiver_server(rec=rec), nmea_feed() as feed:
            env = webhook_env(db_url, rec.url("/hook"), AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}")
            serve.env = env
            # The alerts, committed with their deliveries before serve runs (the notifier config serve uses).
            store = AlertStore(engine, notifiers_from_settings(load_settings(environ=env)))
            t0 = datetime(2024, 3, 1, tzinfo=UTC)
            stored = await store.raise_alerts([
                AlertDraft(kind="port_call", occurred_at=t0 + timedelta(hours=i), event_key=f"call-{i}",
                           mmsi=445000000 + i, vessel_name=f"CALLER {i}", place="Rajin") for i in range(n)])
            alert_ids = [r["id"] for r in stored]

            await serve.start()

            async def each_tried_twice_and_quiet() -> bool:
                """Two failed attempts each, every request so far recorded, and the last one just answered:
                with Retry-After 0.6 nothing is sent for a while, so the SIGKILL cannot land mid-send (a
                delivery claimed then would wait out the claim lease; that case has its own test)."""
                rows = await delivery_rows(engine)
                return (len(rows) == n and all(r["attempts"] >= 2 for r in rows)
                        and sum(r["attempts"] for r in rows) == len(rec.requests)
                        and time.monotonic() - rec.requests[-1].at < 0.3)

            await serve.wait_for(each_tried_twice_and_quiet, 30, "two failed attempts per delivery", 0.01)
            code, _ = await serve.stop(signal.SIGKILL)
            assert code == -signal.SIGKILL
            before = await delivery_rows(engine)
            history = await attempts_by_delivery(engine)
            assert all(r["state"] == "pending" for r in before)
            assert rec.accepted() == []

            rec.default = 200  # the receiver is back
            await serve.start()

            async def all_delivered() -> bool:
                rows = await delivery_rows(engine)
                return all(r["state"] == "delivered" for r in rows if r["alert_id"] in alert_ids)

            await serve.wait_for(all_delivered, 30, "every alert delivered")
            code, took = await serve.stop()
            assert code == 0, serve.tail()
            assert took < STOP_WITHIN
            after = await delivery_rows(engine)
            final_history = await attempts_by_delivery(engine)

        check_exactly_once(rec, after, alert_ids)
        assert sorted(r["alert_id"] for r in after) == alert_ids
        for row in after:
            attempts = final_history[row["id"]]
            old = history[row["id"]]
            assert len(old) >= 2 and all(status == 503 and not ok for _, status, ok, _ in old)
            assert attempts[:len(old)] == old  # history from before the kill, unchanged
            assert [a[0] for a in attempts] == list(range(1, len(attempts) + 1))
            assert attempts[-1][1:3] == (200, True)
            assert row["attempts"] == len(attempts) and row["last_status"] == 200
            # Whatever was attempted after the restart and before the receiver's 200 was a 503 too.
            assert all(status == 503 for _, status, _, _ in attempts[:-1])
        # The receiver saw each recorded attempt under the delivery's one key (and at most one more: a request
        # in flight when serve was killed is not recorded).
        seen = Counter(r.key for r in rec.requests)
        for row in after:
            recorded = len(final_history[row["id"]])
            assert recorded <= seen[row["idempotency_key"]] <= recorded + 1
        assert set(seen) == {row["idempotency_key"] for row in after}


# ---------------------------------------------------------------------------------------- (c)
async def test_sigterm_during_a_slow_delivery_exits_promptly_and_the_next_serve_sends_it_again(
        db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    """Documented at-least-once: a send in flight at shutdown is cancelled, stays pending with no attempt
    recorded, and goes out again (same idempotency key) after the restart."""
    rec = Receiver()
    rec.scripts["/hook"] = ["sleep:30"]  # the first request hangs (the notifier's timeout is 10 s here)
    async with Serve({}, tmp_path / "serve.log") as serve:
        async with asyncio.timeout(LIMIT), receiver_server(rec=rec), nmea_feed() as feed:
            env = webhook_env(db_url, rec.url("/hook"), AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}",
                              AIS_WATCH_ALERTS_HTTP_TIMEOUT="10")
            serve.env = env
            store = AlertStore(engine, notifiers_from_settings(load_settings(environ=env)))
            (row,) = await store.raise_alerts([AlertDraft(
                kind="possible_dark_port_call", occurred_at=datetime(2024, 5, 1, tzinfo=UTC), event_key="x",
                mmsi=273111000, vessel_name="SLOW", place="Nampo")])
            await serve.start()
            await serve.wait_for(lambda: len(rec.requests) == 1, 30, "the first request")
            code, took = await serve.stop()
            assert code == 0, serve.tail()
            assert took < 5, f"serve took {took:.1f}s to stop with a delivery in flight"
            (pending,) = await delivery_rows(engine)
            assert pending["state"] == "pending" and pending["attempts"] == 0
            assert await attempts_by_delivery(engine) == {}

            await serve.start()
            await serve.wait_for(lambda: len(rec.accepted("/hook")) == 1, 30, "the delivery after restarting")

            async def delivered() -> bool:
                return (await delivery_rows(engine))[0]["state"] == "delivered"

            await serve.wait_for(delivered, 10, "the delivery to be recorded")
            code, _ = await serve.stop()
            assert code == 0, serve.tail()
            (done,) = await delivery_rows(engine)
            history = await attempts_by_delivery(engine)
        assert [r.key for r in rec.requests] == [pending["idempotency_key"]] * 2  # sent twice, one key
        assert [r.json()["id"] for r in rec.requests] == [row["id"]] * 2
        assert done["attempts"] == 1
        assert [(a[0], a[1], a[2]) for a in history[done["id"]]] == [(1, 200, True)]


# ---------------------------------------------------------------------------------------- (d)
LEASE = 3.0  # the claim lease for serve in (d), instead of 120 s, so the test need not wait two minutes

SERVE_WITH_SHORT_LEASE = f"""
import sys
import ais_watch.alerts.dispatcher as dispatcher
dispatcher.CLAIM_LEASE = {LEASE}
from ais_watch.cli import main
sys.exit(main(["serve"]))
"""


async def test_a_send_cut_short_by_sigkill_goes_out_after_the_claim_lease(
        db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    """A delivery is claimed (its next attempt moved a lease ahead) before it is sent. A serve SIGKILLed
    mid-send leaves it claimed: the next serve leaves it alone until the lease runs out, then sends it,
    once, under the same key."""
    rec = Receiver()
    rec.scripts["/hook"] = ["sleep:60"]  # the first request hangs until serve dies
    async with Serve({}, tmp_path / "serve.log") as serve:
        async with asyncio.timeout(LIMIT), receiver_server(rec=rec), nmea_feed() as feed:
            env = webhook_env(db_url, rec.url("/hook"), AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}",
                              AIS_WATCH_ALERTS_HTTP_TIMEOUT="30")
            serve.env = env
            store = AlertStore(engine, notifiers_from_settings(load_settings(environ=env)))
            (row,) = await store.raise_alerts([AlertDraft(
                kind="went_dark", occurred_at=datetime(2024, 6, 1, tzinfo=UTC), event_key="lease",
                mmsi=273222000, vessel_name="LEASED")])
            await serve.start(["-c", SERVE_WITH_SHORT_LEASE])
            await serve.wait_for(lambda: len(rec.requests) == 1, 30, "the first request")
            claimed_at = time.monotonic()
            code, _ = await serve.stop(signal.SIGKILL)
            assert code == -signal.SIGKILL
            (claimed,) = await delivery_rows(engine)
            assert claimed["state"] == "pending" and claimed["attempts"] == 0
            assert claimed["next_attempt_at"] > datetime.now(UTC)  # claimed: not due until the lease ends

            await serve.start(["-c", SERVE_WITH_SHORT_LEASE])
            await serve.started()
            await serve.wait_for(lambda: len(rec.accepted("/hook")) == 1, 30, "the delivery after the lease")
            resent_after = rec.requests[-1].at - claimed_at
            assert resent_after >= LEASE - 0.5, f"sent again {resent_after:.1f}s after the claim"

            async def delivered() -> bool:
                return (await delivery_rows(engine))[0]["state"] == "delivered"

            await serve.wait_for(delivered, 10, "the delivery to be recorded")
            code, _ = await serve.stop()
            assert code == 0, serve.tail()
            (done,) = await delivery_rows(engine)
            history = await attempts_by_delivery(engine)
        assert [r.key for r in rec.requests] == [claimed["idempotency_key"]] * 2
        assert [r.status for r in rec.requests] == [0, 200]  # the first was never answered
        assert [r.json()["id"] for r in rec.accepted()] == [row["id"]]
        assert done["attempts"] == 1
        assert [(a[0], a[1], a[2]) for a in history[done["id"]]] == [(1, 200, True)]
