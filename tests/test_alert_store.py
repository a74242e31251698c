"""AlertStore on SQLite and PostgreSQL: the alert and its pending deliveries in one transaction, routing,
the dedup key, the event-time cooldown, the lifecycle (ack, resolve), queries, severities, hostile text.

Notifiers here are plain in-test objects satisfying the Notifier protocol: the store never sends, it
only decides which notifiers get a delivery row.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import DEFAULT_SEVERITY, KINDS, AlertAmendment, AlertDraft, Severity, alert_json
from ais_watch.alerts.notifiers import DeliveryResult, NotifierFilter
from ais_watch.alerts.store import AlertError, AlertStore
from ais_watch.cli import main
from ais_watch.store.schema import alerts, deliveries
from tests.helpers.alerts import delivery_rows
from tests.helpers.db import count, engine_on

pytestmark = pytest.mark.integration

T0 = datetime(2023, 9, 12, 14, 5, 31, 250000, tzinfo=UTC)
RAISED_AT = datetime(2023, 9, 12, 14, 6, 2, tzinfo=UTC)
HOSTILE = "<!channel> & <@U1> \"q\" 'x'; DROP TABLE alerts;-- \\ ø 北 \U0001f6a2"
LIMIT = 20  # seconds any one test may take


@dataclass
class StubNotifier:
    """Satisfies the Notifier protocol; the store only reads name and filter."""

    name: Any
    filter: NotifierFilter = field(default_factory=NotifierFilter)
    type: str = "webhook"
    min_interval: float = 0.0

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        return DeliveryResult(ok=True)

    async def close(self) -> None:
        return None


def draft(**overrides: Any) -> AlertDraft:
    values: dict[str, Any] = {
        "kind": "port_call", "occurred_at": T0, "event_key": "arrived-2023-09-12T14:05Z", "mmsi": 273350140,
        "imo": 9045211, "vessel_name": "ANGARA", "place": "Rajin", "lat": 42.2412345, "lon": 130.298761,
        "details": {"flag": "RU", "duration_seconds": 18720, "destination": "RAJIN"},
        "tags": ("sanctioned",), "zones": ("rajin",),
    }
    values.update(overrides)
    return AlertDraft(**values)


# ------------------------------------------------------------------------------------------ raise
async def test_raise_stores_the_alert_object_and_one_pending_delivery_per_matching_notifier(
        engine: AsyncEngine) -> None:
    notifiers = [
        StubNotifier("everything"),
        StubNotifier("port-calls", NotifierFilter(kinds=frozenset({"port_call"}))),
        StubNotifier("zone-entries", NotifierFilter(kinds=frozenset({"zone_entry"}))),  # no: kind
        StubNotifier("high", NotifierFilter(min_severity=Severity.HIGH)),  # port_call is HIGH: yes
        StubNotifier("critical", NotifierFilter(min_severity=Severity.CRITICAL)),  # no: severity
        StubNotifier("sanctioned", NotifierFilter(tags=frozenset({"sanctioned", "other"}))),
        StubNotifier("fishing", NotifierFilter(tags=frozenset({"fishing"}))),  # no: tags
        StubNotifier("rajin", NotifierFilter(zones=frozenset({"rajin"}))),
        StubNotifier("nampo", NotifierFilter(zones=frozenset({"nampo"}))),  # no: zones
        StubNotifier("all-four", NotifierFilter(kinds=frozenset({"port_call"}), min_severity=Severity.MEDIUM,
                                                tags=frozenset({"sanctioned"}), zones=frozenset({"rajin"}))),
    ]
    store = AlertStore(engine, notifiers, wall_clock=lambda: RAISED_AT)
    seen: list[dict[str, Any]] = []
    store.subscribe(seen.append)
    async with asyncio.timeout(LIMIT):
        # An event time given in another zone is stored as the same instant.
        stored = await store.raise_alerts([draft(occurred_at=T0.astimezone(timezone(timedelta(hours=9))))])
        assert len(stored) == 1
        alert_id = stored[0]["id"]
        row = await store.get(alert_id)
        rows = await delivery_rows(engine)

    expected = {
        "id": alert_id, "kind": "port_call", "severity": "high", "mmsi": 273350140, "imo": 9045211,
        "vessel_name": "ANGARA", "place": "Rajin", "occurred_at": "2023-09-12T14:05:31.250000Z",
        "raised_at": "2023-09-12T14:06:02Z", "lat": 42.2412345, "lon": 130.298761, "state": "open",
        "details": {"flag": "RU", "duration_seconds": 18720, "destination": "RAJIN"},
        "incident_id": row["incident_id"],  # added with incidents, after the design's fields
    }
    assert row["incident_id"] is not None
    assert list(alert_json(row))[:-1] == ["id", "kind", "severity", "mmsi", "imo", "vessel_name", "place",
                                          "occurred_at", "raised_at", "lat", "lon", "state", "details"]
    assert alert_json(row) == expected
    assert alert_json(stored[0]) == expected  # what raise_alerts returns is the stored row
    assert json.loads(json.dumps(alert_json(row))) == expected  # JSON-serialisable as is
    assert row["tags"] == ["sanctioned"] and row["zones"] == ["rajin"]
    assert [r["id"] for r in seen] == [alert_id]  # listeners (the dispatcher's wake-up) told once

    assert sorted(r["notifier"] for r in rows) == ["all-four", "everything", "high", "port-calls", "rajin",
                                                   "sanctioned"]
    for r in rows:
        assert r["alert_id"] == alert_id
        assert r["state"] == "pending" and r["attempts"] == 0
        assert r["created_at"] == RAISED_AT and r["next_attempt_at"] == RAISED_AT  # due at once
        assert r["delivered_at"] is None and r["last_status"] is None and r["last_error"] is None
        assert len(r["idempotency_key"]) == 32 and int(r["idempotency_key"], 16) >= 0
    assert len({r["idempotency_key"] for r in rows}) == len(rows)
    assert store.stats.raised == {"port_call": 1}


async def test_no_notifier_matches_means_an_alert_without_deliveries(engine: AsyncEngine) -> None:
    store = AlertStore(engine, [StubNotifier("critical", NotifierFilter(min_severity=Severity.CRITICAL))])
    async with asyncio.timeout(LIMIT):
        stored = await store.raise_alerts([draft()])
        assert len(stored) == 1
        assert await count(engine, deliveries) == 0
        # No notifiers at all (replay without --notify): stored, nothing to deliver.
        bare = AlertStore(engine)
        assert len(await bare.raise_alerts([draft(event_key="other", place="Nampo")])) == 1
        assert await count(engine, alerts) == 2 and await count(engine, deliveries) == 0


@pytest.mark.parametrize("bad_name", ["null", "too-long"])
async def test_a_failing_delivery_insert_takes_the_alert_with_it(engine: AsyncEngine, bad_name: str) -> None:
    """The outbox: one transaction. If a delivery row cannot be written, neither is the alert (nor the other
    drafts of the same call), and nothing is counted or announced."""
    if bad_name == "too-long" and engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    name = None if bad_name == "null" else "x" * 65  # notifier is NOT NULL String(64)
    good = StubNotifier("good")
    bad = StubNotifier(name, NotifierFilter(kinds=frozenset({"went_dark"})))
    store = AlertStore(engine, [good, bad])
    seen: list[dict[str, Any]] = []
    store.subscribe(seen.append)
    first = draft()  # only "good" matches
    second = draft(kind="went_dark", event_key="dark-1", place=None)  # "good" and the broken one
    async with asyncio.timeout(LIMIT):
        with pytest.raises(DBAPIError):
            await store.raise_alerts([first, second])
        assert await count(engine, alerts) == 0
        assert await count(engine, deliveries) == 0
        assert store.stats.raised == {} and seen == []

        # The same drafts without the broken notifier go through, each with its delivery.
        fixed = AlertStore(engine, [good])
        stored = await fixed.raise_alerts([first, second])
        assert [r["kind"] for r in stored] == ["port_call", "went_dark"]
        assert [(r["alert_id"], r["notifier"]) for r in await delivery_rows(engine)] == [
            (stored[0]["id"], "good"), (stored[1]["id"], "good")]


# -------------------------------------------------------------------------------------- dedup key
async def test_the_same_event_raised_twice_is_one_alert(engine: AsyncEngine) -> None:
    notifier = StubNotifier("everything")
    store = AlertStore(engine, [notifier])
    async with asyncio.timeout(LIMIT):
        first = await store.raise_alerts([draft()])
        again = await store.raise_alerts([draft(vessel_name="ANGARA (renamed)", lat=1.0)])  # same key
        in_one_call = await store.raise_alerts([draft(), draft()])
        # Another instance (or a restart, or a replay run twice) raising it again.
        other = AlertStore(engine, [notifier])
        from_other = await other.raise_alerts([draft()])
        assert len(first) == 1 and again == [] and in_one_call == [] and from_other == []
        assert await count(engine, alerts) == 1
        assert await count(engine, deliveries) == 1  # no second delivery for a duplicate
        assert (await store.get(first[0]["id"]))["vessel_name"] == "ANGARA"  # the first one stands
    assert store.stats.duplicates == 3 and store.stats.raised == {"port_call": 1}
    assert other.stats.duplicates == 1 and other.stats.raised == {}


async def test_an_amendment_adds_details_to_the_alert_it_names_and_delivers_nothing_new(
        engine: AsyncEngine) -> None:
    store = AlertStore(engine, [StubNotifier("everything")])
    heard: list[dict[str, Any]] = []
    store.subscribe(heard.append)
    async with asyncio.timeout(LIMIT):
        original = draft(kind="reappeared", details={"draught_before": 6.0, "draught_after": None})
        [row] = await store.raise_alerts([original])
        # Raised and amended in one call: in order, so the amendment finds the alert it names.
        other = draft(kind="reappeared", event_key="other", mmsi=273000001, details={"gap_seconds": 3600})
        await store.raise_alerts([other, AlertAmendment(other.dedup_key(), {"draught_after": 9.0})])
        await store.raise_alerts([AlertAmendment(original.dedup_key(), {"draught_after": 9.1}),
                                  AlertAmendment("no|such|alert", {"draught_after": 1.0})])
        assert (await store.get(row["id"]))["details"] == {"draught_before": 6.0, "draught_after": 9.1}
        stored_other = await store.query(kind="reappeared")
        assert [r["details"] for r in stored_other] == [{"draught_before": 6.0, "draught_after": 9.1},
                                                        {"gap_seconds": 3600, "draught_after": 9.0}]
        assert await count(engine, deliveries) == 2  # one per alert: an amendment is no new delivery
    assert [h["details"].get("draught_after") for h in heard] == [None, None, 9.0, 9.1]


# -------------------------------------------------------------------------------------- cooldown
@pytest.mark.parametrize("batched", [False, True], ids=["one-call-each", "one-call"])
async def test_a_vessel_drifting_on_a_zone_boundary_raises_one_zone_entry_per_cooldown(
        engine: AsyncEngine, batched: bool) -> None:
    """zone_entry every 5 minutes of event time, each a different event key: one alert within the 30-minute
    cooldown, a new one after it. Event time, not wall time: all of it is raised within a second."""
    store = AlertStore(engine, [StubNotifier("everything")], cooldown=1800)
    entries = [draft(kind="zone_entry", occurred_at=T0 + timedelta(minutes=m), event_key=f"entry-{m}",
                     place="Rajin approaches") for m in range(0, 30, 5)]  # 0, 5, ..., 25
    later = draft(kind="zone_entry", occurred_at=T0 + timedelta(minutes=31), event_key="entry-31",
                  place="Rajin approaches")
    async with asyncio.timeout(LIMIT):
        if batched:
            stored = await store.raise_alerts([*entries, later])
        else:
            stored = [row for d in [*entries, later] for row in await store.raise_alerts([d])]
        assert [r["occurred_at"] for r in stored] == [T0, T0 + timedelta(minutes=31)]
        assert store.stats.cooled_down == 5
        assert await count(engine, deliveries) == 2  # a cooled-down draft gets no delivery either

        # The cooldown is per kind, vessel and place: none of these is held back.
        during = T0 + timedelta(minutes=10)
        others = [
            draft(kind="zone_exit", occurred_at=during, event_key="exit-10", place="Rajin approaches"),
            draft(kind="zone_entry", occurred_at=during, event_key="entry-10", place="Nampo approaches"),
            draft(kind="zone_entry", occurred_at=during, event_key="entry-10", place="Rajin approaches",
                  mmsi=273999999),
        ]
        assert len(await store.raise_alerts(others)) == 3
        # A late draft (event time before the stored alert, within the cooldown) is held back as well.
        late = draft(kind="zone_entry", occurred_at=T0 - timedelta(minutes=10), event_key="entry-minus-10",
                     place="Rajin approaches")
        assert await store.raise_alerts([late]) == []
    assert store.stats.cooled_down == 6


async def test_cooldown_zero_switches_it_off(engine: AsyncEngine) -> None:
    store = AlertStore(engine, cooldown=0)
    entries = [draft(kind="zone_entry", occurred_at=T0 + timedelta(minutes=m), event_key=f"e{m}")
               for m in range(0, 15, 5)]
    async with asyncio.timeout(LIMIT):
        assert len(await store.raise_alerts(entries)) == 3


# ------------------------------------------------------------------------------------- lifecycle
async def test_acknowledge_then_resolve_and_what_is_refused(engine: AsyncEngine) -> None:
    later = RAISED_AT + timedelta(minutes=30)
    times = itertools.chain([RAISED_AT, RAISED_AT, RAISED_AT + timedelta(minutes=3),
                             RAISED_AT + timedelta(minutes=9)], itertools.repeat(later))
    store = AlertStore(engine, wall_clock=lambda: next(times))
    seen: list[tuple[int, str]] = []
    store.subscribe(lambda row: seen.append((row["id"], row["state"])))
    async with asyncio.timeout(LIMIT):
        (row,) = await store.raise_alerts([draft()])
        alert_id = row["id"]
        acked = await store.acknowledge(alert_id, "alice", "on it, calling the agent")
        assert acked["state"] == "acknowledged"
        assert acked["acknowledged_by"] == "alice" and acked["ack_note"] == "on it, calling the agent"
        assert acked["acknowledged_at"] == RAISED_AT + timedelta(minutes=3)
        assert alert_json(acked)["state"] == "acknowledged"

        resolved = await store.resolve(alert_id, "bob")
        assert resolved["state"] == "resolved" and resolved["resolved_by"] == "bob"
        assert resolved["resolved_at"] == RAISED_AT + timedelta(minutes=9)
        assert resolved["resolve_note"] is None
        assert resolved["ack_note"] == "on it, calling the agent"  # the acknowledgement is kept

        with pytest.raises(AlertError, match="resolved"):
            await store.acknowledge(alert_id, "carol")
        with pytest.raises(AlertError, match="resolved"):
            await store.resolve(alert_id, "carol")
        assert (await store.get(alert_id))["state"] == "resolved"  # a refused change changes nothing
        for call in (store.acknowledge(999_999, "x"), store.resolve(999_999, "x"), store.get(999_999)):
            with pytest.raises(AlertError, match="999999"):
                await call
    assert seen == [(alert_id, "open"), (alert_id, "acknowledged"), (alert_id, "resolved")]


def test_cli_ack_resolve_and_list(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def setup() -> list[int]:
        async with engine_on(db_url) as engine:
            store = AlertStore(engine)
            rows = await store.raise_alerts([draft(), draft(kind="went_dark", event_key="d", place=None)])
            return [r["id"] for r in rows]

    first, second = asyncio.run(setup())
    assert main(["--db", db_url, "alerts", "ack", str(first), "--note", "seen", "--by", "alice"]) == 0
    acked = json.loads(capsys.readouterr().out)
    assert acked["id"] == first and acked["state"] == "acknowledged"
    assert main(["--db", db_url, "alerts", "--state", "acknowledged"]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [first]
    assert main(["--db", db_url, "alerts", "resolve", str(first)]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "resolved"
    assert main(["--db", db_url, "alerts", "ack", str(first)]) == 2  # resolved: refused
    assert "resolved" in capsys.readouterr().err
    assert main(["--db", db_url, "alerts", "resolve", "424242"]) == 2
    assert "424242" in capsys.readouterr().err
    assert main(["--db", db_url, "alerts", "--kind", "went_dark"]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [second]


# ----------------------------------------------------------------------------------------- query
async def test_query_filters(engine: AsyncEngine) -> None:
    a, b = 273350140, 445123000
    store = AlertStore(engine)
    async with asyncio.timeout(LIMIT):
        rows = await store.raise_alerts([
            draft(kind="port_call", mmsi=a, occurred_at=T0, event_key="1"),
            draft(kind="zone_entry", mmsi=b, imo=None, occurred_at=T0 + timedelta(hours=1), event_key="2"),
            draft(kind="went_dark", mmsi=a, occurred_at=T0 + timedelta(hours=2), event_key="3"),
            draft(kind="port_call", mmsi=b, imo=None, occurred_at=T0 + timedelta(hours=3), event_key="4"),
        ])
        ids = [r["id"] for r in rows]
        await store.acknowledge(ids[2], "alice")

        async def q(**kw: Any) -> list[int]:
            return [r["id"] for r in await store.query(**kw)]

        assert await q() == ids  # oldest first
        assert await q(newest_first=True) == ids[::-1]
        assert await q(newest_first=True, limit=2) == [ids[3], ids[2]]
        assert await q(kind="port_call") == [ids[0], ids[3]]
        assert await q(mmsis=[a]) == [ids[0], ids[2]]
        assert await q(mmsis=[a, b]) == ids
        assert await q(mmsis=[]) == []
        assert await q(since=T0 + timedelta(hours=1)) == ids[1:]  # inclusive
        assert await q(until=T0 + timedelta(hours=1)) == ids[:2]  # inclusive
        window = {"since": T0 + timedelta(minutes=30), "until": T0 + timedelta(hours=2, minutes=30)}
        assert await q(**window) == ids[1:3]
        assert await q(state="acknowledged") == [ids[2]]
        assert await q(state="open") == [ids[0], ids[1], ids[3]]
        assert await q(state="resolved") == []
        assert await q(kind="port_call", mmsis=[b], state="open") == [ids[3]]
        assert await q(mmsis=[b], imo=9045211) == ids  # an IMO match or one of the MMSIs
        with pytest.raises(AlertError, match="unknown alert kind"):
            await store.query(kind="dark_port_call")
        with pytest.raises(AlertError, match="unknown state"):
            await store.query(state="closed")


async def test_query_by_imo_alone(engine: AsyncEngine) -> None:
    store = AlertStore(engine)
    async with asyncio.timeout(LIMIT):
        rows = await store.raise_alerts([draft(imo=9045211, event_key="1"),
                                         draft(imo=None, mmsi=445123000, event_key="2")])
        assert [r["id"] for r in await store.query(imo=9045211)] == [rows[0]["id"]]


# ------------------------------------------------------------------------------------- severity
async def test_severity_defaults_by_kind_and_a_draft_overrides_it(engine: AsyncEngine) -> None:
    store = AlertStore(engine, [StubNotifier("high-and-up", NotifierFilter(min_severity=Severity.HIGH))])
    async with asyncio.timeout(LIMIT):
        defaults = await store.raise_alerts([draft(kind=kind, event_key=f"k-{kind}") for kind in KINDS])
        assert {r["kind"]: Severity(r["severity"]) for r in defaults} == DEFAULT_SEVERITY
        assert {r["kind"]: alert_json(r)["severity"] for r in defaults} == {
            "port_call": "high", "port_departure": "medium", "zone_entry": "medium", "zone_exit": "low",
            "went_dark": "high", "reappeared": "medium", "possible_dark_port_call": "critical",
            "feed_outage": "medium", "feed_restored": "info", "reception_loss": "medium",
            "reception_restored": "info", "identity_change": "high", "position_anomaly": "medium",
            "draught_change": "medium", "gnss_interference": "medium", "encounter": "high",
            "loitering": "medium"}
        overridden = await store.raise_alerts([
            draft(kind="zone_exit", event_key="o1", place="Nampo", severity=Severity.CRITICAL),
            draft(kind="port_call", event_key="o2", place="Nampo", severity=Severity.LOW),  # name-only match
        ])
        assert [alert_json(r)["severity"] for r in overridden] == ["critical", "low"]
        # Routing sees the effective severity: the raised zone_exit goes out, the lowered port_call not.
        async with engine.connect() as conn:
            routed = (await conn.execute(select(alerts.c.kind, alerts.c.severity).join(
                deliveries, deliveries.c.alert_id == alerts.c.id).order_by(alerts.c.id))).all()
        high = {k for k, s in DEFAULT_SEVERITY.items() if s >= Severity.HIGH}
        assert [k for k, _ in routed] == [k for k in KINDS if k in high] + ["zone_exit"]
        with pytest.raises(AlertError, match="unknown alert kind"):
            await store.raise_alerts([draft(kind="dark_port_call")])


# ---------------------------------------------------------------------------------- hostile text
async def test_a_hostile_vessel_name_is_stored_literally(engine: AsyncEngine, db_url: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert len(HOSTILE) <= 64
    details = {"destination": "<http://evil|click> &amp; \u202e", "note": HOSTILE, "nested": {"k": [HOSTILE]}}
    store = AlertStore(engine)
    async with asyncio.timeout(LIMIT):
        hostile = draft(vessel_name=HOSTILE, place="Rajin <b>&</b>", details=details)
        (row,) = await store.raise_alerts([hostile])
        got = alert_json(await store.get(row["id"]))
        assert got["vessel_name"] == HOSTILE
        assert got["place"] == "Rajin <b>&</b>"
        assert got["details"] == details
        assert [r["vessel_name"] for r in await store.query()] == [HOSTILE]
        assert await count(engine, alerts) == 1  # and the table is still there
        # The CLI's JSON Lines output carries it unchanged too.
        code = await asyncio.to_thread(main, ["--db", db_url, "alerts"])
    assert code == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["vessel_name"] == HOSTILE and json.loads(line)["details"] == details
