"""Incidents as the alert store makes them and people change them, on SQLite and PostgreSQL: one voyage is
one incident (a long silence after went_dark included), a week later is another, two ships never share one,
an encounter's partner joins; acknowledging an incident acknowledges its alerts and a new alert reopens
it; closing resolves them and the next alert opens a new incident; notes and owner; the same drafts give
the same incidents on a second database and nothing new on the first; two instances storing one ship's
alerts at once make one incident (PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.incidents import IncidentError, IncidentStore
from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.cli import main
from ais_watch.store.schema import alerts, incident_subjects
from tests.helpers.db import engine_on

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
ANGARA, ANGARA_IMO, MARIA, PARTNER = 273111111, 9179842, 620999999, 352222222
WINDOW_HOURS = 48
LIMIT = 30


def draft(kind: str, hours: float, mmsi: int | None = ANGARA, *, key: str | None = None,
          place: str | None = "Rajin", imo: int | None = None, **extra: Any) -> AlertDraft:
    return AlertDraft(kind=kind, occurred_at=T0 + timedelta(hours=hours), event_key=key or f"{kind}{hours}",
                      mmsi=mmsi, imo=imo, vessel_name={ANGARA: "ANGARA", MARIA: "MARIA"}.get(mmsi or 0),
                      place=place, **extra)


def store_on(engine: AsyncEngine) -> AlertStore:
    return AlertStore(engine, cooldown=0, incident_window=WINDOW_HOURS * 3600)


async def raise_each(store: AlertStore, drafts: list[AlertDraft]) -> list[dict[str, Any]]:
    """Each draft stored in its own transaction, as the pipeline stores them tick by tick."""
    rows = []
    for d in drafts:
        rows += await store.raise_alerts([d])
    return rows


# A voyage: into the zone, a call at Rajin, away, dark for three days, seen again far off, a possible dark
# port call and the draught changed while dark. Hours after T0.
VOYAGE = [draft("zone_entry", 0), draft("port_call", 10), draft("port_departure", 40),
          draft("went_dark", 50, place=None), draft("reappeared", 50 + 72, place=None),
          draft("possible_dark_port_call", 50 + 72, key="pdpc", place="Nakhodka"),
          draft("draught_change", 50 + 72.2, place=None, details={"while_dark": True})]


async def test_one_voyage_is_one_incident_and_a_week_later_is_another(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        rows = await raise_each(store, VOYAGE)
        assert len(rows) == len(VOYAGE)
        assert len({r["incident_id"] for r in rows}) == 1, [r["incident_id"] for r in rows]
        incidents = IncidentStore(store)
        (incident,) = await incidents.query()
        assert incident["title"] == "ANGARA" and incident["mmsi"] == ANGARA
        assert incident["alert_count"] == len(VOYAGE) and incident["state"] == "open"
        assert incident["kind"] == "zone_entry" and incident["last_kind"] == "draught_change"
        assert incident["severity"] == "critical"  # the possible dark port call's
        assert incident["opened_at"] == "2024-03-01T06:00:00Z"
        assert incident["last_alert_at"] == "2024-03-06T08:12:00Z"

        # 47 h after its last alert: still the voyage; then 49 h after that: a new incident.
        (later,) = await store.raise_alerts([draft("zone_exit", 122.2 + 47)])
        assert later["incident_id"] == incident["id"]
        (new,) = await store.raise_alerts([draft("zone_entry", 122.2 + 47 + 49, key="next")])
        assert new["incident_id"] != incident["id"]
        newest_first = [new["incident_id"], incident["id"]]
        assert [i["id"] for i in await incidents.query()] == newest_first


async def test_the_window_edge_joins_and_a_second_beyond_does_not(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        (first,) = await store.raise_alerts([draft("port_call", 0)])
        (edge,) = await store.raise_alerts([draft("port_departure", WINDOW_HOURS)])
        (beyond,) = await store.raise_alerts([draft("zone_exit", 2 * WINDOW_HOURS + 1 / 3600)])
        assert edge["incident_id"] == first["incident_id"]
        assert beyond["incident_id"] != first["incident_id"]
        # Without a went_dark before it, a long gap is a new story too.
        (dark_less,) = await store.raise_alerts([draft("reappeared", 10 * WINDOW_HOURS)])
        assert dark_less["incident_id"] not in (first["incident_id"], beyond["incident_id"])


async def test_two_ships_never_share_an_incident_and_vessel_less_alerts_go_by_place(
        engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        rows = await raise_each(store, [
            draft("port_call", 0), draft("port_call", 1, MARIA),
            draft("feed_outage", 2, None, place="aisstream"),
            draft("feed_outage", 2.5, None, place="nmea-north"),
            draft("port_departure", 3), draft("feed_restored", 4, None, place="aisstream"),
            draft("gnss_interference", 5, None, place=None)])
        by_kind_place = {(r["kind"], r["mmsi"], r["place"]): r["incident_id"] for r in rows}
        angara = by_kind_place[("port_call", ANGARA, "Rajin")]
        assert by_kind_place[("port_departure", ANGARA, "Rajin")] == angara
        assert by_kind_place[("port_call", MARIA, "Rajin")] != angara  # same port, same hour: another ship
        outage = by_kind_place[("feed_outage", None, "aisstream")]
        assert by_kind_place[("feed_restored", None, "aisstream")] == outage  # the outage and its end
        assert by_kind_place[("feed_outage", None, "nmea-north")] != outage
        assert len(set(by_kind_place.values())) == 5
        titles = {i["title"] for i in await IncidentStore(store).query()}
        assert titles == {"ANGARA", "MARIA", "aisstream", "nmea-north", "gnss interference"}


async def test_the_same_imo_under_another_mmsi_is_the_same_story(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        (dark,) = await store.raise_alerts([draft("went_dark", 0, imo=ANGARA_IMO, place=None)])
        (renamed,) = await store.raise_alerts([draft("identity_change", 30, MARIA, imo=ANGARA_IMO,
                                                     place=None)])
        assert renamed["incident_id"] == dark["incident_id"]
        (incident,) = await IncidentStore(store).query(mmsi=MARIA)
        assert incident["id"] == dark["incident_id"] and incident["mmsi"] == ANGARA


async def test_an_encounters_partner_joins_it_unless_it_has_a_voyage_of_its_own(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        partner = {"partner": {"mmsi": PARTNER, "name": "TANKER 9", "watched": False}}
        (met,) = await store.raise_alerts([draft("encounter", 0, details=partner, place=None)])
        # The partner, now an associated vessel, is heard of again: its moves join the encounter's story.
        (moved,) = await store.raise_alerts([draft("zone_entry", 20, PARTNER, imo=9300001)])
        assert moved["incident_id"] == met["incident_id"]
        incidents = IncidentStore(store)
        (incident,) = await incidents.query(mmsi=PARTNER)
        assert incident["id"] == met["incident_id"] and incident["partners"] == [PARTNER]
        async with engine.connect() as conn:
            roles = dict((await conn.execute(
                select(incident_subjects.c.subject, incident_subjects.c.role)
                .where(incident_subjects.c.incident_id == met["incident_id"]))).all())
        assert roles == {"mmsi:273111111": "own", "mmsi:352222222": "partner", "imo:9300001": "partner"}
        # Its own voyage, once it has one, comes first.
        (own,) = await store.raise_alerts([draft("port_call", 200, PARTNER)])
        assert own["incident_id"] != met["incident_id"]
        (next_move,) = await store.raise_alerts([draft("port_departure", 210, PARTNER)])
        assert next_move["incident_id"] == own["incident_id"]


async def test_acknowledging_an_incident_acknowledges_its_alerts_and_a_new_alert_reopens_it(
        engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        rows = await raise_each(store, VOYAGE[:3])
        incident_id = rows[0]["incident_id"]
        heard: list[tuple[int, str]] = []
        store.subscribe(lambda row: heard.append((row["id"], row["state"])))
        changed: list[dict[str, Any]] = []
        store.subscribe_incidents(changed.append)
        incidents = IncidentStore(store)
        acked = await incidents.acknowledge(incident_id, "desk 2", "tasked imagery")
        assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "desk 2"
        assert [n["text"] for n in acked["notes"]] == ["tasked imagery"]
        for row in await incidents.alert_rows(incident_id):
            assert row["state"] == "acknowledged" and row["acknowledged_by"] == "desk 2"
            assert row["ack_note"] == "tasked imagery"
        assert sorted(heard) == sorted((r["id"], "acknowledged") for r in rows)  # the live feed hears each
        assert [c["id"] for c in changed] == [incident_id]

        await incidents.update(incident_id, "desk 2", owner="Kim", set_owner=True)
        (dark,) = await store.raise_alerts([VOYAGE[3]])
        assert dark["incident_id"] == incident_id
        reopened = await incidents.get(incident_id)
        assert reopened["state"] == "open" and reopened["acknowledged_by"] is None
        assert reopened["owner"] == "Kim"  # the owner stays
        states = [r["state"] for r in await incidents.alert_rows(incident_id)]
        assert states == ["acknowledged"] * 3 + ["open"]


async def test_acknowledging_each_alert_acknowledges_the_incident_with_the_last(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        rows = await raise_each(store, VOYAGE[:2])
        incidents = IncidentStore(store)
        await store.acknowledge(rows[0]["id"], "alice")
        assert (await incidents.get(rows[0]["incident_id"]))["state"] == "open"  # one still open
        await store.acknowledge(rows[1]["id"], "bob")
        incident = await incidents.get(rows[0]["incident_id"])
        assert incident["state"] == "acknowledged" and incident["acknowledged_by"] == "bob"


async def test_closing_resolves_its_alerts_and_the_next_alert_opens_a_new_incident(
        engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        rows = await raise_each(store, VOYAGE[:2])
        incident_id = rows[0]["incident_id"]
        incidents = IncidentStore(store)
        await store.acknowledge(rows[0]["id"], "alice", "first look")
        closed = await incidents.update(incident_id, "bob", state="closed", note="left the area")
        assert closed["state"] == "closed" and closed["closed_by"] == "bob"
        got = await incidents.alert_rows(incident_id)
        assert [r["state"] for r in got] == ["resolved", "resolved"]
        assert got[0]["ack_note"] == "first look" and got[1]["resolve_note"] == "left the area"
        (after,) = await store.raise_alerts([VOYAGE[2]])  # within the window, but it is closed
        assert after["incident_id"] != incident_id
        with pytest.raises(IncidentError, match="closed; it cannot become acknowledged"):
            await incidents.acknowledge(incident_id, "carol")
        reopened = await incidents.update(incident_id, "carol", state="open")
        assert reopened["state"] == "open" and reopened["closed_by"] is None
        with pytest.raises(IncidentError, match="open; it cannot become open"):
            await incidents.update(incident_id, "carol", state="open")


async def test_notes_owner_and_what_is_refused(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        (row,) = await store.raise_alerts([VOYAGE[0]])
        incidents = IncidentStore(store)
        incident_id = row["incident_id"]
        await incidents.add_note(incident_id, "alice", "<b>called the agent</b> & waited")
        await incidents.add_note(incident_id, "bob", "  ")  # nothing written: nothing kept
        owned = await incidents.update(incident_id, "bob", owner="  desk 3 ", set_owner=True)
        assert owned["owner"] == "desk 3"
        assert [(n["author"], n["text"]) for n in owned["notes"]] == [
            ("alice", "<b>called the agent</b> & waited")]
        assert (await incidents.update(incident_id, "bob", owner=None, set_owner=True))["owner"] is None
        for bad, says in ((dict(owner="x" * 65, set_owner=True), "owner"), (dict(note="x" * 4001), "note"),
                          (dict(state="done"), "unknown state")):
            with pytest.raises(IncidentError, match=says):
                await incidents.update(incident_id, "bob", **bad)  # type: ignore[arg-type]
        with pytest.raises(IncidentError, match="no incident with id 999999"):
            await incidents.acknowledge(999_999, "bob")
        with pytest.raises(IncidentError, match="no incident"):
            await incidents.get(999_999)


async def test_query_filters(engine: AsyncEngine) -> None:
    async with asyncio.timeout(LIMIT):
        store = store_on(engine)
        rows = await raise_each(store, [draft("port_call", 0), draft("port_call", 1, MARIA),
                                        draft("port_call", 200, key="later")])
        first, maria, later = (r["incident_id"] for r in rows)
        incidents = IncidentStore(store)
        await incidents.acknowledge(maria, "bob")
        assert [i["id"] for i in await incidents.query()] == [later, maria, first]
        assert [i["id"] for i in await incidents.query(state="acknowledged")] == [maria]
        assert [i["id"] for i in await incidents.query(mmsi=ANGARA)] == [later, first]
        assert [i["id"] for i in await incidents.query(since=T0 + timedelta(hours=1))] == [later, maria]
        assert [i["id"] for i in await incidents.query(until=T0 + timedelta(hours=1))] == [maria, first]
        assert [i["id"] for i in await incidents.query(ids=[first, later])] == [later, first]
        assert [i["id"] for i in await incidents.query(limit=1)] == [later]
        with pytest.raises(IncidentError, match="unknown state"):
            await incidents.query(state="resolved")


async def test_the_same_drafts_give_the_same_incidents_and_nothing_new_when_raised_again(
        engine: AsyncEngine, tmp_path: Any) -> None:
    drafts = [*VOYAGE, draft("port_call", 1, MARIA), draft("zone_entry", 300, key="next"),
              draft("feed_outage", 3, None, place="aisstream")]
    drafts.sort(key=lambda d: d.occurred_at)

    async def grouping(eng: AsyncEngine) -> list[tuple[str, int | None, int]]:
        async with eng.connect() as conn:
            return [(r.dedup_key, r.mmsi, r.incident_id) for r in (await conn.execute(
                select(alerts.c.dedup_key, alerts.c.mmsi, alerts.c.incident_id).order_by(alerts.c.id))).all()]

    async with asyncio.timeout(LIMIT):
        await raise_each(store_on(engine), drafts)
        first = await grouping(engine)
        again = await raise_each(store_on(engine), drafts)  # a replay run again on the same database
        assert again == [] and await grouping(engine) == first
        assert len(await IncidentStore(store_on(engine)).query()) == 4
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    async with engine_on(other_url) as other, asyncio.timeout(LIMIT):
        await raise_each(store_on(other), drafts)
        assert await grouping(other) == first  # the same incidents, by the same ids, on another database


@pytest.mark.postgres
async def test_two_instances_storing_one_ships_alerts_at_once_make_one_incident(pg_url: str) -> None:
    """Each instance in its own transaction, at the same moment: the subject lock lets one open the
    incident and the other join it."""
    async with engine_on(pg_url) as one, engine_on(pg_url) as two, asyncio.timeout(LIMIT):
        for round_ in range(10):
            mmsi = 273_200_000 + round_
            rows = await asyncio.gather(
                store_on(one).raise_alerts([draft("zone_entry", round_, mmsi, key=f"a{round_}")]),
                store_on(two).raise_alerts([draft("port_call", round_ + 0.5, mmsi, key=f"b{round_}")]))
            ids = {r["incident_id"] for (r,) in rows}
            assert len(ids) == 1, (round_, ids)


def test_the_cli_lists_shows_and_changes_incidents(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def setup() -> tuple[int, int]:
        async with engine_on(db_url) as engine:
            rows = await raise_each(store_on(engine), [*VOYAGE[:3], draft("port_call", 1, MARIA)])
            return rows[0]["incident_id"], rows[3]["incident_id"]

    voyage, maria = asyncio.run(setup())

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--db", db_url, "incidents", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = run()
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [voyage, maria]
    code, out, _ = run("--vessel", str(MARIA), "--format", "table")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["id", "last_alert_at", "state"]
    assert "MARIA" in out and "ANGARA" not in out
    code, out, _ = run("show", str(voyage))
    shown = json.loads(out)
    assert [a["kind"] for a in shown["alerts"]] == ["zone_entry", "port_call", "port_departure"]
    code, out, _ = run("ack", str(voyage), "--note", "seen", "--by", "alice")
    assert code == 0 and json.loads(out)["state"] == "acknowledged"
    code, out, _ = run("note", str(voyage), "agent called", "--by", "bob")
    assert [n["text"] for n in json.loads(out)["notes"]] == ["seen", "agent called"]
    code, out, _ = run("owner", str(voyage), "desk 3")
    assert json.loads(out)["owner"] == "desk 3"
    code, out, _ = run("owner", str(voyage))
    assert json.loads(out)["owner"] is None
    code, out, _ = run("close", str(voyage))
    assert json.loads(out)["state"] == "closed"
    code, out, _ = run("--state", "open")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [maria]
    code, _, err = run("ack", str(voyage))
    assert code == 2 and "closed; it cannot become acknowledged" in err and "Traceback" not in err
    code, _, err = run("show", "424242")
    assert code == 2 and "no incident with id 424242" in err
    code, _, err = run("note", str(maria), "  ")
    assert code == 2 and "a note needs some text" in err
    with pytest.raises(SystemExit) as usage:  # argparse: one line naming the bad argument
        run("--vessel", "12")
    assert usage.value.code == 2 and "not an MMSI (9 digits): '12'" in capsys.readouterr().err
