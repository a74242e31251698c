"""The outbox dispatcher against real aiohttp servers on 127.0.0.1 standing in for Slack and a webhook
receiver (tests/helpers/receiver.py): what arrives (raw bytes, headers, signature), retries and what each
attempt records, Retry-After, timeouts, giving up, permanent errors, Slack's rate limit, and one notifier
failing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.dispatcher import Dispatcher, RetryPolicy
from ais_watch.alerts.model import AlertDraft, alert_json
from ais_watch.alerts.notifiers import (
    DeliveryResult,
    NotifierFilter,
    SlackNotifier,
    WebhookNotifier,
    verify_signature,
)
from ais_watch.alerts.notifiers.webhook import serialise
from ais_watch.alerts.store import AlertStore
from ais_watch.cli import main
from tests.helpers.alerts import attempt_rows, delivery_rows
from tests.helpers.receiver import Receiver
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "s3cret-webhook-key"
MAP_URL = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=10/{lat}/{lon}"
HOSTILE = "<!channel> & <@U1>"
T0 = datetime(2023, 9, 12, 14, 5, 31, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=6, max_age=3600, initial=0.05, maximum=0.3)
HTTP_TIMEOUT = 2.0
LIMIT = 20  # seconds any one test may take


# --- the system under test ------------------------------------------------------------------------------
@asynccontextmanager
async def dispatching(engine: AsyncEngine, notifiers: list[Any], policy: RetryPolicy = FAST, *,
                      handoff: bool = True) -> AsyncIterator[tuple[AlertStore, Dispatcher]]:
    """A store and a started dispatcher, wired the way runtime.running_pipeline wires them: new
    deliveries handed to the dispatcher from the alert's transaction. Without `handoff`, every delivery
    goes through the table, as those of another process (or from before a restart) do."""
    store = AlertStore(engine, notifiers)
    dispatcher = Dispatcher(engine, notifiers, store.stats, policy, alerts=store if handoff else None)
    store.subscribe(dispatcher.wake)
    dispatcher.start()
    # Let the workers finish their first look and wait for a wake-up: an alert committed while a worker
    # looks is otherwise left until the next sweep (5 s); see test_an_alert_raised_while_the_worker_looks_*.
    await asyncio.sleep(0.2)
    try:
        yield store, dispatcher
    finally:
        await dispatcher.close()


def webhook(receiver: Receiver, path: str, name: str = "hook",
            timeout: float = HTTP_TIMEOUT) -> WebhookNotifier:
    return WebhookNotifier(name, receiver.url(path), SECRET, NotifierFilter(), timeout=timeout)


def slack(receiver: Receiver, path: str, name: str = "slack",
          min_interval: float | None = None) -> SlackNotifier:
    notifier = SlackNotifier(name, receiver.url(path), NotifierFilter(), timeout=HTTP_TIMEOUT,
                             map_url=MAP_URL)
    if min_interval is not None:
        notifier.min_interval = min_interval  # an instance attribute, for speed; one test keeps the real 1.0
    return notifier


def draft(n: int = 0, **overrides: Any) -> AlertDraft:
    values: dict[str, Any] = {
        "kind": "went_dark", "occurred_at": T0 + timedelta(hours=n), "event_key": f"gap-{n}",
        "mmsi": 273350140 + n, "imo": 9045211, "vessel_name": f"ANGARA {n}", "place": None,
        "lat": 42.2412345, "lon": 130.298761, "details": {"gap_seconds": 7200 + n, "flag": "RU"},
    }
    values.update(overrides)
    return AlertDraft(**values)


def settled(engine: AsyncEngine, n: int, notifier: str | None = None) -> Callable[[], Awaitable[bool]]:
    """n deliveries, none of them pending any more."""
    async def check() -> bool:
        rows = await delivery_rows(engine, notifier)
        return len(rows) == n and all(r["state"] != "pending" for r in rows)
    return check


# --------------------------------------------------------------------------------------- delivery
async def test_webhook_gets_the_stored_alert_object_signed_with_the_delivery_key(
        engine: AsyncEngine, receiver: Receiver) -> None:
    notifiers = [webhook(receiver, "/hook")]
    async with asyncio.timeout(LIMIT), dispatching(engine, notifiers) as (store, dispatcher):
        (row,) = await store.raise_alerts([draft(vessel_name="ANGARA ø 北",
                                                 details={"note": "a\nb", "x": [1.5]})])
        assert await dispatcher.drain(10)
        assert await dispatcher.pending_count() == 0
        stored = await store.get(row["id"])
        (delivery,) = await delivery_rows(engine)
        attempts = await attempt_rows(engine, delivery["id"])
    (got,) = receiver.requests
    assert got.body == serialise(alert_json(stored))  # byte for byte: the stored row's alert object
    assert got.json() == alert_json(stored)
    assert got.headers["Content-Type"].startswith("application/json")
    assert verify_signature(SECRET, got.headers["X-AIS-Watch-Timestamp"], got.body,
                            got.headers["X-AIS-Watch-Signature"])
    assert not verify_signature("wrong", got.headers["X-AIS-Watch-Timestamp"], got.body,
                                got.headers["X-AIS-Watch-Signature"])
    assert not verify_signature(SECRET, got.headers["X-AIS-Watch-Timestamp"], got.body + b" ",
                                got.headers["X-AIS-Watch-Signature"])
    assert abs(int(got.headers["X-AIS-Watch-Timestamp"]) - time.time()) < 30
    assert got.headers["X-AIS-Watch-Delivery"] == delivery["idempotency_key"]
    assert got.headers["Idempotency-Key"] == delivery["idempotency_key"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1 and delivery["last_status"] == 200
    assert delivery["delivered_at"] is not None and delivery["last_error"] is None
    assert [(a["attempt"], a["ok"], a["status"], a["response"]) for a in attempts] == [(1, True, 200, "ok")]
    assert attempts[0]["duration_ms"] >= 0
    assert store.stats.deliveries == {"delivered": 1}


async def test_500_500_200_is_delivered_once_with_three_attempts_recorded(
        engine: AsyncEngine, receiver: Receiver) -> None:
    receiver.scripts["/flaky"] = [500, 500, 200]
    notifiers = [webhook(receiver, "/flaky")]
    async with asyncio.timeout(LIMIT), dispatching(engine, notifiers) as (store, dispatcher):
        (row,) = await store.raise_alerts([draft()])
        assert await dispatcher.drain(10)
        (delivery,) = await delivery_rows(engine)
        attempts = await attempt_rows(engine, delivery["id"])
        stored = await store.get(row["id"])
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert len(receiver.accepted()) == 1
    assert {r.key for r in receiver.requests} == {delivery["idempotency_key"]}  # the same key on each retry
    assert {r.body for r in receiver.requests} == {serialise(alert_json(stored))}
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert [a["ok"] for a in attempts] == [False, False, True]
    assert attempts[0]["response"] == "error 500"
    assert attempts[0]["at"] < attempts[1]["at"] < attempts[2]["at"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3 and delivery["last_status"] == 200
    assert delivery["last_error"] is None
    assert store.stats.deliveries == {"retried": 2, "delivered": 1}
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert all(gap >= 0.02 for gap in gaps), gaps  # backoff (half to full of 0.05, 0.1) between attempts


@pytest.mark.parametrize("maximum", [
    pytest.param(0.3),
    5.0,
], ids=["retry_max-below-retry-after", "retry_max-above-retry-after"])
async def test_429_retry_after_is_honoured(engine: AsyncEngine, receiver: Receiver, maximum: float) -> None:
    receiver.scripts["/limited"] = ["retry-after:1", 200]
    policy = RetryPolicy(max_attempts=6, max_age=3600, initial=0.05, maximum=maximum)
    async with asyncio.timeout(LIMIT), dispatching(engine, [webhook(receiver, "/limited")], policy) as (
            store, _):
        await store.raise_alerts([draft()])
        await wait_for(settled(engine, 1), 10, "the delivery")
        (delivery,) = await delivery_rows(engine)
        attempts = await attempt_rows(engine, delivery["id"])
    first, second = receiver.requests
    assert [a["status"] for a in attempts] == [429, 200]
    assert second.at - first.at >= 0.95, f"retried {second.at - first.at:.2f}s after a Retry-After: 1"
    assert second.at - first.at < 5
    assert delivery["state"] == "delivered"


async def test_a_receiver_that_times_out_is_recorded_and_retried(engine: AsyncEngine,
                                                                  receiver: Receiver) -> None:
    receiver.scripts["/slow"] = ["sleep:3", 200]
    notifier = webhook(receiver, "/slow", timeout=0.5)
    async with asyncio.timeout(LIMIT), dispatching(engine, [notifier]) as (store, _):
        await store.raise_alerts([draft()])
        await wait_for(settled(engine, 1), 10, "the delivery")
        (delivery,) = await delivery_rows(engine)
        attempts = await attempt_rows(engine, delivery["id"])
    assert [(a["attempt"], a["ok"], a["status"]) for a in attempts] == [(1, False, None), (2, True, 200)]
    assert "timeout" in attempts[0]["response"]
    assert 400 <= attempts[0]["duration_ms"] < 2500
    assert delivery["state"] == "delivered" and delivery["attempts"] == 2
    assert len(receiver.requests) == 2
    assert len({r.key for r in receiver.requests}) == 1  # the same key: the receiver can drop a repeat
    assert store.stats.deliveries == {"retried": 1, "delivered": 1}


async def test_max_attempts_reached_marks_the_delivery_failed(
        engine: AsyncEngine, receiver: Receiver, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    receiver.default = 500
    policy = RetryPolicy(max_attempts=3, max_age=3600, initial=0.05, maximum=0.1)
    async with asyncio.timeout(LIMIT), dispatching(engine, [webhook(receiver, "/down")], policy) as (
            store, dispatcher):
        (row,) = await store.raise_alerts([draft()])
        await wait_for(settled(engine, 1), 10, "the delivery to fail")
        await asyncio.sleep(0.3)  # nothing more is sent for a failed delivery
        assert await dispatcher.pending_count() == 0
        assert await dispatcher.drain(1)  # nothing pending: a failure does not hold up a replay's exit
        stats = store.stats
        code = await asyncio.to_thread(main, ["--db", db_url, "alerts", "deliveries", "--state", "failed"])
    assert code == 0
    assert len(receiver.requests) == 3
    assert stats.deliveries["failed"] == 1 and stats.deliveries == {"retried": 2, "failed": 1}
    (line,) = capsys.readouterr().out.splitlines()
    shown = json.loads(line)
    assert shown["alert_id"] == row["id"] and shown["notifier"] == "hook" and shown["state"] == "failed"
    assert shown["attempts"] == 3 and shown["last_status"] == 500 and shown["last_error"] == "error 500"
    assert shown["delivered_at"] is None
    assert [(a["attempt"], a["ok"], a["status"]) for a in shown["attempt_log"]] == [
        (1, False, 500), (2, False, 500), (3, False, 500)]
    for state, expected in (("pending", 0), ("delivered", 0), (None, 1)):
        args = ["--db", db_url, "alerts", "deliveries"] + (["--state", state] if state else [])
        assert await asyncio.to_thread(main, args) == 0
        assert len(capsys.readouterr().out.splitlines()) == expected
    args = ["--db", db_url, "alerts", "deliveries", "--alert", str(row["id"])]
    assert await asyncio.to_thread(main, args) == 0
    assert [json.loads(x)["state"] for x in capsys.readouterr().out.splitlines()] == ["failed"]


async def test_max_age_reached_marks_the_delivery_failed(engine: AsyncEngine, receiver: Receiver) -> None:
    receiver.default = 503
    policy = RetryPolicy(max_attempts=1000, max_age=0.5, initial=0.05, maximum=0.1)
    notifiers = [webhook(receiver, "/down")]
    async with asyncio.timeout(LIMIT), dispatching(engine, notifiers, policy) as (store, _):
        await store.raise_alerts([draft()])
        await wait_for(settled(engine, 1), 10, "the delivery to fail")
        (delivery,) = await delivery_rows(engine)
    assert delivery["state"] == "failed" and 2 <= delivery["attempts"] < 50
    assert store.stats.deliveries["failed"] == 1


@pytest.mark.parametrize("status", [404, 400, 410])
async def test_a_permanent_error_fails_after_one_attempt(engine: AsyncEngine, receiver: Receiver,
                                                         status: int) -> None:
    receiver.default = status
    notifiers = [webhook(receiver, "/gone")]
    async with asyncio.timeout(LIMIT), dispatching(engine, notifiers) as (store, _):
        await store.raise_alerts([draft()])
        await wait_for(settled(engine, 1), 10, "the delivery to fail")
        await asyncio.sleep(0.3)
        (delivery,) = await delivery_rows(engine)
        attempts = await attempt_rows(engine, delivery["id"])
    assert len(receiver.requests) == 1
    assert delivery["state"] == "failed" and delivery["attempts"] == 1 and delivery["last_status"] == status
    assert [(a["ok"], a["status"]) for a in attempts] == [(False, status)]
    assert store.stats.deliveries == {"failed": 1}


# ------------------------------------------------------------------------------------------- Slack
async def test_slack_gets_a_burst_spaced_by_min_interval_and_none_dropped(
        engine: AsyncEngine, receiver: Receiver) -> None:
    interval = 0.25
    notifier = slack(receiver, "/slack", min_interval=interval)
    async with asyncio.timeout(LIMIT), dispatching(engine, [notifier]) as (store, dispatcher):
        rows = await store.raise_alerts([draft(n) for n in range(5)])
        rows += await store.raise_alerts([draft(n) for n in range(5, 7)])  # a second burst while sending
        assert await dispatcher.drain(10)
    assert len(receiver.requests) == 7
    headers = [r.json()["text"] for r in receiver.requests]
    assert headers == [f"HIGH · Went dark: ANGARA {n} · 2023-09-12 {14 + n:02d}:05 UTC" for n in range(7)]
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert min(gaps) >= interval - 0.03, gaps
    assert store.stats.deliveries == {"delivered": 7}


async def test_slack_real_min_interval_spaces_three_messages_by_about_a_second(
        engine: AsyncEngine, receiver: Receiver) -> None:
    notifier = slack(receiver, "/slack")
    assert notifier.min_interval == 1.0
    async with asyncio.timeout(LIMIT), dispatching(engine, [notifier]) as (store, dispatcher):
        await store.raise_alerts([draft(n) for n in range(3)])
        assert await dispatcher.drain(10)
    assert len(receiver.requests) == 3
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert all(0.97 <= gap < 1.6 for gap in gaps), gaps


async def test_a_hostile_name_is_escaped_for_slack_and_unchanged_for_the_webhook(
        engine: AsyncEngine, receiver: Receiver) -> None:
    notifiers = [slack(receiver, "/slack", min_interval=0.0), webhook(receiver, "/hook")]
    async with asyncio.timeout(LIMIT), dispatching(engine, notifiers) as (store, dispatcher):
        await store.raise_alerts([draft(vessel_name=HOSTILE, place="<!here> & co",
                                        details={"destination": "<@U2>", "flag": "RU"})])
        assert await dispatcher.drain(10)
    (to_slack,) = receiver.on("/slack")
    (to_hook,) = receiver.on("/hook")
    raw = to_slack.body.decode()
    for mention in ("<!channel>", "<@U1>", "<!here>", "<@U2>"):
        assert mention not in raw
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in raw
    assert "&lt;!here&gt; &amp; co" in raw and "&lt;@U2&gt;" in raw
    message = to_slack.json()
    assert "&lt;!channel&gt;" in message["text"]
    assert "<!channel>" not in json.dumps(message, ensure_ascii=False)
    hook = to_hook.json()
    assert hook["vessel_name"] == HOSTILE and hook["place"] == "<!here> & co"
    assert hook["details"]["destination"] == "<@U2>"
    assert HOSTILE.encode() in to_hook.body  # literally, not escaped
    assert verify_signature(SECRET, to_hook.headers["X-AIS-Watch-Timestamp"], to_hook.body,
                            to_hook.headers["X-AIS-Watch-Signature"])


# ------------------------------------------------------------------------------------ isolation
@dataclass
class RaisingNotifier:
    name: str = "broken"
    type: str = "webhook"
    min_interval: float = 0.0
    filter: NotifierFilter = field(default_factory=NotifierFilter)
    calls: int = 0

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        self.calls += 1
        raise RuntimeError("notifier bug")

    async def close(self) -> None:
        return None


@dataclass
class HangingNotifier:
    name: str = "hanging"
    type: str = "webhook"
    min_interval: float = 0.0
    filter: NotifierFilter = field(default_factory=NotifierFilter)

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        await asyncio.sleep(3600)
        return DeliveryResult(ok=True)

    async def close(self) -> None:
        return None


async def test_a_notifier_that_raises_or_hangs_does_not_stop_the_others(
        engine: AsyncEngine, receiver: Receiver) -> None:
    broken, hanging = RaisingNotifier(), HangingNotifier()
    policy = RetryPolicy(max_attempts=2, max_age=3600, initial=0.05, maximum=0.1)
    notifiers = [broken, hanging, webhook(receiver, "/hook")]
    async with asyncio.timeout(LIMIT), dispatching(engine, notifiers, policy) as (store, dispatcher):
        await store.raise_alerts([draft(n) for n in range(3)])
        await wait_for(settled(engine, 3, "hook"), 10, "the webhook deliveries")
        await wait_for(settled(engine, 3, "broken"), 10, "the broken notifier's deliveries to fail")
        assert await dispatcher.pending_count() == 3  # the hanging notifier's, still pending
        hook_rows = await delivery_rows(engine, "hook")
        broken_rows = await delivery_rows(engine, "broken")
        broken_attempts = await attempt_rows(engine, broken_rows[0]["id"])
    assert len(receiver.accepted("/hook")) == 3
    assert all(r["state"] == "delivered" for r in hook_rows)
    assert all(r["state"] == "failed" and r["attempts"] == 2 for r in broken_rows)
    assert broken.calls == 6
    assert [(a["ok"], a["status"]) for a in broken_attempts] == [(False, None), (False, None)]
    assert "notifier bug" in broken_attempts[0]["response"]
    # Closing the dispatcher cancelled the hanging send: its deliveries stay pending for the next start.
    assert [r["state"] for r in await delivery_rows(engine, "hanging")] == ["pending"] * 3
    assert Counter(r.key for r in receiver.requests) == Counter({r["idempotency_key"]: 1 for r in hook_rows})


async def test_pending_deliveries_from_before_a_start_are_sent(engine: AsyncEngine,
                                                                receiver: Receiver) -> None:
    """The database is the queue: alerts stored while no dispatcher ran go out when one starts."""
    notifier = webhook(receiver, "/hook")
    async with asyncio.timeout(LIMIT):
        store = AlertStore(engine, [notifier])
        rows = await store.raise_alerts([draft(n) for n in range(3)])
        dispatcher = Dispatcher(engine, [notifier], store.stats, FAST, sweep_interval=0.2)
        dispatcher.start()
        try:
            assert await dispatcher.drain(10)
        finally:
            await dispatcher.close()
    assert sorted(r.json()["id"] for r in receiver.requests) == [r["id"] for r in rows]


async def test_an_alert_raised_while_the_worker_looks_is_sent_at_once(engine: AsyncEngine,
                                                                     receiver: Receiver) -> None:
    notifier = webhook(receiver, "/hook")
    store = AlertStore(engine, [notifier])
    dispatcher = Dispatcher(engine, [notifier], store.stats, FAST)  # the default sweep_interval, 5 s
    store.subscribe(dispatcher.wake)
    original = dispatcher._work_off
    armed = [True]

    async def look_then_an_alert_arrives(target: Any) -> float:
        """The worker's look, then (before it waits) the pipeline commits an alert and wakes it, as
        happens when a raise lands while _work_off releases its connection."""
        result = await original(target)
        if armed:
            armed.clear()
            await store.raise_alerts([draft()])
        return result

    dispatcher._work_off = look_then_an_alert_arrives  # type: ignore[method-assign]
    dispatcher.start()
    try:
        async with asyncio.timeout(LIMIT):
            await wait_for(lambda: not armed, 5, "the alert to be raised")
            await wait_for(lambda: len(receiver.requests) == 1, 2, "the delivery (well before the 5 s sweep)")
    finally:
        await dispatcher.close()


async def test_a_429_pauses_the_notifiers_other_deliveries(engine: AsyncEngine, receiver: Receiver) -> None:
    receiver.scripts["/slack"] = ["retry-after:1"]
    notifier = slack(receiver, "/slack", min_interval=0.1)
    async with asyncio.timeout(LIMIT):
        store = AlertStore(engine, [notifier])
        await store.raise_alerts([draft(n) for n in range(3)])
        policy = RetryPolicy(max_attempts=6, max_age=3600, initial=0.05, maximum=5)  # no Retry-After cap
        dispatcher = Dispatcher(engine, [notifier], store.stats, policy)
        dispatcher.start()
        try:
            assert await dispatcher.drain(10)
        finally:
            await dispatcher.close()
    assert len(receiver.accepted("/slack")) == 3  # none dropped either way
    first, *rest = receiver.requests
    assert first.status == 429
    early = [round(r.at - first.at, 2) for r in rest if r.at - first.at < 0.95]
    assert early == [], f"sent {early} s after a 429 with Retry-After: 1"


async def test_two_dispatchers_on_one_database_send_each_delivery_once(engine: AsyncEngine,
                                                                      receiver: Receiver) -> None:
    receiver.default = "sleep:0.3"  # each answer (a 200) takes a moment, as a real receiver's does
    async with asyncio.timeout(LIMIT):
        store = AlertStore(engine, [webhook(receiver, "/hook")])
        await store.raise_alerts([draft(n) for n in range(3)])
        first = Dispatcher(engine, [webhook(receiver, "/hook")], store.stats, FAST)
        second = Dispatcher(engine, [webhook(receiver, "/hook")], store.stats, FAST)
        first.start()
        second.start()
        try:
            await wait_for(settled(engine, 3), 10, "the deliveries")
            await asyncio.sleep(1)  # whatever the other one is still sending
        finally:
            await first.close()
            await second.close()
        rows = await delivery_rows(engine)
        attempts = [await attempt_rows(engine, r["id"]) for r in rows]
    assert Counter(r.key for r in receiver.requests) == Counter({r["idempotency_key"]: 1 for r in rows})
    assert [len(a) for a in attempts] == [1, 1, 1]


async def test_stopping_while_a_claim_commits_leaves_the_delivery_due(engine: AsyncEngine,
                                                                      receiver: Receiver) -> None:
    notifier = webhook(receiver, "/hook")
    async with asyncio.timeout(LIMIT):
        store = AlertStore(engine, [notifier])
        await store.raise_alerts([draft()])
        dispatcher = Dispatcher(engine, [notifier], store.stats, FAST)
        original = dispatcher._claim
        claimed = asyncio.Event()

        async def claim_acknowledged_slowly(row: dict[str, Any]) -> bool:
            """The claim is committed; the acknowledgement is still on its way when the stop comes (the
            await inside the engine.begin() exit, made wide enough to hit)."""
            taken = await original(row)
            claimed.set()
            await asyncio.sleep(5)
            return taken

        dispatcher._claim = claim_acknowledged_slowly  # type: ignore[method-assign]
        dispatcher.start()
        await asyncio.wait_for(claimed.wait(), 5)
        await dispatcher.close()  # a clean stop (SIGTERM)
        (row,) = await delivery_rows(engine)
        assert row["state"] == "pending" and row["attempts"] == 0 and receiver.requests == []
        assert row["next_attempt_at"] <= datetime.now(UTC) + timedelta(seconds=1), (
            f"claimed until {row['next_attempt_at']}: the next start waits out the lease")


# ------------------------------------------------------------------------ handoff (a new alert's path)
async def test_a_new_alert_goes_out_with_no_claim_and_no_second_dispatcher_sends_it(
        engine: AsyncEngine, receiver: Receiver) -> None:
    """The running dispatcher takes a new alert's delivery from the transaction that made it: made claimed
    there (another dispatcher sweeping the table all the while leaves it alone), sent without a query or
    a claim of its own (the claim is a write that waits for SQLite's lock behind position batches)."""
    claims: list[str] = []

    def count_claims(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if " ".join(statement.split()).upper().startswith("UPDATE DELIVERIES SET NEXT_ATTEMPT_AT="):
            claims.append(statement)  # a claim (or a release): the lease moved, nothing recorded

    async with asyncio.timeout(LIMIT):
        other = Dispatcher(engine, [webhook(receiver, "/hook")], AlertStore(engine).stats, FAST,
                           sweep_interval=0.01)  # another instance, polling the table flat out
        other.start()
        event.listen(engine.sync_engine, "before_cursor_execute", count_claims)
        try:
            async with dispatching(engine, [webhook(receiver, "/hook")]) as (store, _):
                rows = await store.raise_alerts([draft(n) for n in range(5)])
                await wait_for(settled(engine, 5), 10, "the deliveries")
                await asyncio.sleep(0.3)  # anything the other one would still send
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count_claims)
            await other.close()
        deliveries = await delivery_rows(engine)
    assert sorted(r.json()["id"] for r in receiver.requests) == sorted(r["id"] for r in rows)
    assert Counter(r.key for r in receiver.requests) == Counter({d["idempotency_key"]: 1 for d in deliveries})
    assert {d["state"] for d in deliveries} == {"delivered"}
    assert claims == [], claims


async def test_handed_over_deliveries_not_yet_sent_are_due_at_once_when_the_dispatcher_stops(
        engine: AsyncEngine, receiver: Receiver) -> None:
    """Claimed for the dispatcher that stops (leadership lost, SIGTERM): they must not wait out the lease."""
    receiver.scripts["/hook"] = ["sleep:30"]  # the first send hangs
    async with asyncio.timeout(LIMIT):
        async with dispatching(engine, [webhook(receiver, "/hook", timeout=30)]) as (store, _):
            await store.raise_alerts([draft(n) for n in range(3)])
            await wait_for(lambda: len(receiver.requests) >= 1, 5, "the first send")
        deliveries = await delivery_rows(engine)
    assert [d["state"] for d in deliveries] == ["pending"] * 3 and {d["attempts"] for d in deliveries} == {0}
    assert all(d["next_attempt_at"] <= datetime.now(UTC) for d in deliveries), deliveries


async def test_a_stop_that_comes_with_a_wake_up_stops_the_worker(engine: AsyncEngine,
                                                                  receiver: Receiver) -> None:
    """Python 3.11's asyncio.wait_for loses a cancellation that arrives as what it waits for completes: a
    dispatcher stopped just as an alert woke it went on for ever, and `serve` never finished stopping
    (198 of 200 such stops hung before the worker waited with asyncio.timeout)."""
    for _ in range(20):
        dispatcher = Dispatcher(engine, [webhook(receiver, "/hook")], AlertStore(engine).stats, FAST)
        dispatcher.start()
        await asyncio.sleep(0.02)  # the worker has looked and waits for a wake-up
        dispatcher.wake()
        async with asyncio.timeout(2):
            await dispatcher.close()
