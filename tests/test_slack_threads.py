"""Slack thread mode (ais_watch/alerts/notifiers/slack_thread.py, alerts/threads.py): the dispatcher posts
through a loopback server speaking chat.postMessage (tests/helpers/slack_api.py). A thread per incident,
its later alerts as replies carrying the parent's ts; the bot token in the Authorization header; a 429's
Retry-After honoured; invalid_auth and channel_not_found failing the delivery at once, one line, no retry;
a reply waiting for a parent not yet delivered; the thread kept across a restart. The incoming-webhook
mode is unchanged, and the webhook body carries the incident id. Unit tests: the answers read, the
[[notifiers]] table and settings checked, the token never shown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.dispatcher import Dispatcher, RetryPolicy
from ais_watch.alerts.model import AlertDraft, Severity, alert_json
from ais_watch.alerts.notifiers import (
    NotifierFilter,
    SlackNotifier,
    SlackThreadNotifier,
    WebhookNotifier,
    notifiers_from_settings,
    verify_signature,
)
from ais_watch.alerts.notifiers.base import ThreadRef
from ais_watch.alerts.notifiers.slack import slack_message
from ais_watch.alerts.notifiers.slack_thread import read_answer
from ais_watch.alerts.store import AlertStore
from ais_watch.config import ConfigError, load_settings
from ais_watch.store.schema import incident_threads
from tests.helpers.alerts import attempt_rows, delivery_rows
from tests.helpers.receiver import Receiver
from tests.helpers.slack_api import CHANNEL_ID, CHANNEL_NAME, TOKEN, SlackApi, slack_api_server
from tests.helpers.waiting import wait_for

MAP_URL = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=10/{lat}/{lon}"
T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
ANGARA, MARIA = 273111111, 620999999
FAST = RetryPolicy(max_attempts=6, max_age=3600, initial=0.3, maximum=0.6)
LIMIT = 30


def draft(kind: str, hours: float, mmsi: int = ANGARA, **extra: Any) -> AlertDraft:
    return AlertDraft(kind=kind, occurred_at=T0 + timedelta(hours=hours), event_key=f"{kind}{hours}",
                      mmsi=mmsi, vessel_name={ANGARA: "ANGARA", MARIA: "MARIA"}[mmsi], place="Rajin",
                      lat=42.24, lon=130.3, **extra)


def threaded(api: SlackApi, token: str = TOKEN, channel: str = CHANNEL_NAME, name: str = "slack-thread",
             broadcast: Severity | None = Severity.CRITICAL) -> SlackThreadNotifier:
    notifier = SlackThreadNotifier(name, token, channel, NotifierFilter(), timeout=2.0, map_url=MAP_URL,
                                   api_url=api.api_url, broadcast=broadcast)
    notifier.min_interval = 0.05  # an instance attribute, for speed; the 429 test keeps Slack's pause
    return notifier


@asynccontextmanager
async def dispatching(engine: AsyncEngine, notifiers: list[Any], policy: RetryPolicy = FAST
                      ) -> AsyncIterator[tuple[AlertStore, Dispatcher]]:
    store = AlertStore(engine, notifiers, cooldown=0)
    dispatcher = Dispatcher(engine, notifiers, store.stats, policy)
    store.subscribe(dispatcher.wake)
    dispatcher.start()
    await asyncio.sleep(0.2)  # the workers' first look done: they wait for a wake-up
    try:
        yield store, dispatcher
    finally:
        await dispatcher.close()


async def settled(engine: AsyncEngine, count: int) -> None:
    async def check() -> bool:
        rows = await delivery_rows(engine)
        return len(rows) == count and all(r["state"] != "pending" for r in rows)
    await wait_for(check, 15, f"{count} deliveries settled")


# ------------------------------------------------------------------------------------- thread mode
@pytest.mark.integration
async def test_a_thread_per_incident_and_its_later_alerts_replies_to_it(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT), slack_api_server() as api, dispatching(engine, [threaded(api)]) as (
            store, _):
        rows = []
        for d in (draft("zone_entry", 0), draft("port_call", 1, MARIA), draft("port_call", 5),
                  draft("port_departure", 9, MARIA), draft("port_departure", 30)):
            rows += await store.raise_alerts([d])
        await settled(engine, 5)
        async with engine.connect() as conn:
            kept = {r.incident_id: r for r in (await conn.execute(select(incident_threads))).all()}
    angara, maria = rows[0]["incident_id"], rows[1]["incident_id"]
    assert angara != maria
    # The channel: one message per voyage, each naming its incident.
    parents = api.channel()
    assert len(parents) == 2 and all("thread_ts" not in m for m in parents)
    assert [m["blocks"][-1]["elements"][0]["text"] for m in parents] == [
        f"Incident #{angara} · its later alerts are replies in this thread",
        f"Incident #{maria} · its later alerts are replies in this thread"]
    assert [m["text"].split(":")[0] for m in parents] == ["MEDIUM · Zone entry", "HIGH · Port call"]
    # The replies carry the parent's ts, in the channel Slack named (its ID, not the configured name).
    angara_ts, maria_ts = parents[0]["ts"], parents[1]["ts"]
    assert [m["text"].split(":")[0] for m in api.thread(angara_ts)] == ["HIGH · Port call",
                                                                        "MEDIUM · Port departure"]
    assert [m["text"].split(":")[0] for m in api.thread(maria_ts)] == ["MEDIUM · Port departure"]
    replies = [p.body for p in api.posts if p.thread_ts]
    assert all(r is not None and r["channel"] == CHANNEL_ID and "reply_broadcast" not in r for r in replies)
    assert [p.body["channel"] for p in api.posts if not p.thread_ts] == [CHANNEL_NAME] * 2  # type: ignore[index]
    # What Slack checks: the token as a bearer, JSON, no unfurling of our map links.
    assert all(p.headers["Authorization"] == f"Bearer {TOKEN}" for p in api.posts)
    assert all(p.headers["Content-Type"] == "application/json; charset=utf-8" for p in api.posts)
    assert all(p.body and p.body["unfurl_links"] is False for p in api.posts)
    assert len(api.posts) == 5 and all(p.ok for p in api.posts)
    assert {i: (r.notifier, r.scope, r.channel, r.ts) for i, r in kept.items()} == {
        angara: ("slack-thread", CHANNEL_NAME, CHANNEL_ID, angara_ts),
        maria: ("slack-thread", CHANNEL_NAME, CHANNEL_ID, maria_ts)}
    assert {d["state"] for d in await delivery_rows(engine)} == {"delivered"}


@pytest.mark.integration
@pytest.mark.parametrize("broadcast", [Severity.CRITICAL, None], ids=["critical", "none"])
async def test_a_critical_reply_is_also_shown_in_the_channel(engine: AsyncEngine,
                                                             broadcast: Severity | None) -> None:
    async with asyncio.timeout(LIMIT), slack_api_server() as api, dispatching(
            engine, [threaded(api, broadcast=broadcast)]) as (store, _):
        await store.raise_alerts([draft("went_dark", 0)])
        await settled(engine, 1)
        await store.raise_alerts([draft("reappeared", 80), draft("possible_dark_port_call", 80)])
        await settled(engine, 3)
    parent, reappeared, call = api.messages
    assert reappeared["thread_ts"] == call["thread_ts"] == parent["ts"]
    assert "reply_broadcast" not in reappeared  # high: in the thread only
    assert call.get("reply_broadcast") is (True if broadcast else None)
    assert len(api.channel()) == (2 if broadcast else 1)


@pytest.mark.integration
async def test_a_429_retry_after_is_honoured_and_nothing_is_lost(engine: AsyncEngine) -> None:
    async with slack_api_server() as api:
        api.script = ["429:1"]
        notifier = threaded(api)
        policy = RetryPolicy(max_attempts=6, max_age=3600, initial=0.05, maximum=5)
        async with asyncio.timeout(LIMIT), dispatching(engine, [notifier], policy) as (store, _):
            await store.raise_alerts([draft("zone_entry", 0), draft("port_call", 5)])
            await settled(engine, 2)
            first_delivery = (await delivery_rows(engine))[0]
            attempts = await attempt_rows(engine, first_delivery["id"])
    limited, *rest = api.posts
    assert limited.status == 429 and [p.status for p in rest] == [200, 200]
    early = [round(p.at - limited.at, 2) for p in rest if p.at - limited.at < 0.95]
    assert early == [], f"posted {early} s after a 429 with Retry-After: 1"
    assert [(a["status"], a["ok"]) for a in attempts] == [(429, False), (200, True)]
    assert attempts[0]["response"] == "Slack error ratelimited (HTTP 429)"
    parent, reply = api.messages
    assert "thread_ts" not in parent and reply["thread_ts"] == parent["ts"]  # still one thread


@pytest.mark.integration
@pytest.mark.parametrize(("setup", "error", "hint"), [
    ({"token": "xoxb-wrong-token"}, "invalid_auth", "the bot token is not valid"),
    ({"channel": "#nowhere"}, "channel_not_found", "no such channel, or the bot cannot see it"),
])
async def test_a_permanent_error_fails_at_once_with_one_line_and_no_retry(
        engine: AsyncEngine, caplog: pytest.LogCaptureFixture, setup: dict[str, str], error: str,
        hint: str) -> None:
    caplog.set_level(logging.INFO, logger="ais_watch")
    async with slack_api_server() as api:
        notifier = threaded(api, **setup)
        async with asyncio.timeout(LIMIT), dispatching(engine, [notifier]) as (store, _):
            await store.raise_alerts([draft("zone_entry", 0), draft("port_call", 5)])
            await settled(engine, 2)
            await asyncio.sleep(1.0)  # a retry would have come by now (FAST: 0.3 s)
            deliveries = await delivery_rows(engine)
    assert len(api.posts) == 2  # one each: the reply had no parent, so it tried to start the thread
    assert [p.answer["error"] for p in api.posts] == [error, error]
    assert [(d["state"], d["attempts"]) for d in deliveries] == [("failed", 1), ("failed", 1)]
    expected = f"Slack refused the message: {error} ({hint})"
    assert [d["last_error"] for d in deliveries] == [expected, expected]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 2
    for record in failures:
        line = record.getMessage()
        assert "\n" not in line and expected in line and "failed for good after 1 attempts" in line
    assert "xoxb-" not in caplog.text  # neither token shows in any log line
    assert not api.messages


@pytest.mark.integration
async def test_a_reply_due_before_its_parent_is_delivered_waits_for_it(engine: AsyncEngine) -> None:
    async with slack_api_server() as api:
        api.script = ["500"]  # the parent's first try fails: it is retried in 0.15-0.3 s
        async with asyncio.timeout(LIMIT), dispatching(engine, [threaded(api)]) as (store, _):
            await store.raise_alerts([draft("zone_entry", 0), draft("port_call", 5)])  # both due at once
            await settled(engine, 2)
            parent_delivery, reply_delivery = await delivery_rows(engine)
            reply_attempts = await attempt_rows(engine, reply_delivery["id"])
    failed, parent_post, reply_post = api.posts
    assert failed.status == 500 and failed.thread_ts is None
    assert parent_post.ok and parent_post.thread_ts is None
    assert reply_post.ok and reply_post.thread_ts == parent_post.answer["ts"]  # after it, in its thread
    # The incident's first alert is the thread's parent, though the second was due before it was sent.
    assert [p.body["text"].split(":")[0] for p in api.posts] == [  # type: ignore[index]
        "MEDIUM · Zone entry", "MEDIUM · Zone entry", "HIGH · Port call"]
    assert parent_delivery["attempts"] == 2
    assert [a["ok"] for a in reply_attempts] == [True]  # waiting is no attempt
    assert len(api.channel()) == 1


@pytest.mark.integration
async def test_a_parent_that_fails_for_good_lets_the_next_alert_start_the_thread(engine: AsyncEngine) -> None:
    async with slack_api_server() as api:
        api.script = ["error:msg_too_long"]
        async with asyncio.timeout(LIMIT), dispatching(engine, [threaded(api)]) as (store, _):
            await store.raise_alerts([draft("zone_entry", 0)])
            await settled(engine, 1)
            await store.raise_alerts([draft("port_call", 5)])
            await settled(engine, 2)
            await store.raise_alerts([draft("port_departure", 9)])
            await settled(engine, 3)
            states = [d["state"] for d in await delivery_rows(engine)]
    assert states == ["failed", "delivered", "delivered"]
    parent, reply = api.messages
    assert "thread_ts" not in parent and parent["text"].startswith("HIGH · Port call")
    assert reply["thread_ts"] == parent["ts"]


@pytest.mark.integration
async def test_the_thread_is_kept_across_a_restart(engine: AsyncEngine) -> None:
    async with slack_api_server() as api:
        async with asyncio.timeout(LIMIT), dispatching(engine, [threaded(api)]) as (store, _):
            await store.raise_alerts([draft("zone_entry", 0)])
            await settled(engine, 1)
        # A new process: the thread comes back from the database.
        async with asyncio.timeout(LIMIT), dispatching(engine, [threaded(api)]) as (store, _):
            await store.raise_alerts([draft("port_call", 5)])
            await settled(engine, 2)
        # The same incident under another channel (the configuration changed): a thread of its own there.
        moved = [threaded(api, channel=CHANNEL_ID)]
        async with asyncio.timeout(LIMIT), dispatching(engine, moved) as (store, _):
            await store.raise_alerts([draft("port_departure", 9)])
            await settled(engine, 3)
    first, reply, elsewhere = api.messages
    assert reply["thread_ts"] == first["ts"]
    assert "thread_ts" not in elsewhere


@pytest.mark.integration
async def test_webhook_mode_is_unchanged_and_the_webhook_carries_the_incident(
        engine: AsyncEngine, receiver: Receiver) -> None:
    secret = "s3cret"
    slack = SlackNotifier("slack", receiver.url("/slack"), NotifierFilter(), timeout=2.0, map_url=MAP_URL)
    slack.min_interval = 0.05
    notifiers = [slack, WebhookNotifier("hook", receiver.url("/hook"), secret, NotifierFilter(), timeout=2.0)]
    async with asyncio.timeout(LIMIT), dispatching(engine, notifiers) as (store, _):
        rows = []
        for d in (draft("zone_entry", 0), draft("port_call", 5)):
            rows += await store.raise_alerts([d])
        await settled(engine, 4)
        stored = [await store.get(r["id"]) for r in rows]
    incident = rows[0]["incident_id"]
    assert incident is not None and rows[1]["incident_id"] == incident
    hooks = receiver.on("/hook")
    assert [h.json()["incident_id"] for h in hooks] == [incident, incident]
    assert [h.json() for h in hooks] == [alert_json(s) for s in stored]
    assert all(verify_signature(secret, h.headers["X-AIS-Watch-Timestamp"], h.body,
                                h.headers["X-AIS-Watch-Signature"]) for h in hooks)
    # The incoming webhook gets each alert as its own message, exactly as before incidents.
    messages = receiver.on("/slack")
    assert [m.json() for m in messages] == [slack_message(alert_json(s), MAP_URL) for s in stored]
    assert all("thread_ts" not in m.json() and "channel" not in m.json() for m in messages)
    assert all("Incident" not in str(m.json()) for m in messages)


# -------------------------------------------------------------------------------------------- unit
@pytest.mark.unit
def test_slacks_answers_read() -> None:
    ok = read_answer(b'{"ok": true, "channel": "C1", "ts": "1.000200", "message": {}}', 200)
    assert ok.ok and ok.posted == ThreadRef("C1", "1.000200")
    assert read_answer(b'{"ok": true}', 200).ok and read_answer(b'{"ok": true}').posted is None
    for retryable in ("ratelimited", "internal_error", "service_unavailable", "fatal_error"):
        result = read_answer(f'{{"ok": false, "error": "{retryable}"}}'.encode(), 200)
        assert not result.ok and not result.permanent, retryable
    for permanent in ("invalid_auth", "channel_not_found", "not_in_channel", "missing_scope", "no_text",
                      "something_new"):
        result = read_answer(f'{{"ok": false, "error": "{permanent}"}}'.encode(), 200)
        assert not result.ok and result.permanent and permanent in result.response, permanent
    assert read_answer(b'{"ok": false}').response == "Slack refused the message: unknown_error"
    for junk in (b"<html>proxy</html>", b"[1]", b""):
        result = read_answer(junk, 200)
        assert not result.ok and not result.permanent  # someone else's trouble: tried again


@pytest.mark.unit
def test_a_parent_names_its_incident_a_reply_its_thread_and_ais_text_is_escaped() -> None:
    notifier = SlackThreadNotifier("t", TOKEN, CHANNEL_NAME, NotifierFilter(), timeout=1, map_url=MAP_URL)
    alert = {"id": 7, "kind": "port_call", "severity": "critical", "mmsi": ANGARA, "imo": None,
             "vessel_name": "<!channel> & <@U1>", "place": "Rajin", "occurred_at": "2024-03-01T06:00:00Z",
             "raised_at": None, "lat": None, "lon": None, "state": "open", "details": {}, "incident_id": 3}
    parent = notifier.payload(alert, None)
    assert parent["channel"] == CHANNEL_NAME and "thread_ts" not in parent
    assert parent["blocks"][-1]["elements"][0]["text"].startswith("Incident #3 ·")
    assert "<!channel>" not in str(parent) and "&lt;!channel&gt; &amp; &lt;@U1&gt;" in parent["text"]
    reply = notifier.payload(alert, ThreadRef("C9", "5.5"))
    assert (reply["channel"], reply["thread_ts"], reply["reply_broadcast"]) == ("C9", "5.5", True)
    assert reply["blocks"] == slack_message(alert, MAP_URL)["blocks"]
    assert TOKEN not in repr(notifier) and TOKEN not in str(parent)


@pytest.mark.unit
def test_the_notifiers_table_and_settings_for_thread_mode() -> None:
    def notifiers(toml_tables: list[dict[str, Any]], **env: str) -> list[Any]:
        settings = load_settings(environ=env).with_overrides(notifiers=toml_tables)
        return notifiers_from_settings(settings)

    (bot,) = notifiers([{"type": "slack", "name": "floor", "token": TOKEN, "channel": " C0WATCH01 ",
                         "broadcast": "high", "api_url": "http://127.0.0.1:9/api", "kinds": ["port_call"]}])
    assert isinstance(bot, SlackThreadNotifier) and bot.thread_scope == "C0WATCH01"
    assert bot.broadcast == Severity.HIGH and bot.filter.kinds == frozenset({"port_call"})
    (quiet,) = notifiers([{"type": "slack", "token": TOKEN, "channel": "C1", "broadcast": "none"}])
    assert isinstance(quiet, SlackThreadNotifier) and quiet.broadcast is None
    (hook,) = notifiers([{"type": "slack", "url": "https://hooks.slack.com/services/T/B/X"}])
    assert isinstance(hook, SlackNotifier)  # the incoming webhook, as before
    (from_settings,) = notifiers([], AIS_WATCH_SLACK_BOT_TOKEN=TOKEN, AIS_WATCH_SLACK_CHANNEL="#ops")
    assert isinstance(from_settings, SlackThreadNotifier) and from_settings.name == "slack-thread"

    for table, says in (
            ({"url": "https://hooks.slack.com/x", "token": TOKEN, "channel": "C1"}, "not both"),
            ({"token": TOKEN}, "'channel'"),
            ({"channel": "C1"}, "'token'"),
            ({"token": "xoxb-with a space", "channel": "C1"}, "'token'"),
            ({"token": TOKEN, "channel": "C1", "api_url": "ftp://x"}, "'api_url'"),
            ({"token": TOKEN, "channel": "C1", "broadcast": "loud"}, "'broadcast'"),
            ({"token": TOKEN, "channel": "C1", "broadcast": 3}, "'broadcast'"),
            ({"url": "https://hooks.slack.com/x", "broadcast": "high"}, "apply to a bot token")):
        with pytest.raises(ConfigError, match=says) as caught:
            notifiers([{"type": "slack", **table}])
        assert "xoxb" not in str(caught.value) and "notifiers[1]" in str(caught.value)
    for env in ({"AIS_WATCH_SLACK_BOT_TOKEN": TOKEN}, {"AIS_WATCH_SLACK_CHANNEL": "#ops"}):
        with pytest.raises(ConfigError, match="go together"):
            notifiers([], **env)
    masked = load_settings(environ={"AIS_WATCH_SLACK_BOT_TOKEN": TOKEN}).with_overrides(
        notifiers=[{"type": "slack", "token": TOKEN, "channel": "C1"}]).masked()
    assert TOKEN not in str(masked) and masked["slack_bot_token"] == "***"
