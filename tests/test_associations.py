"""Associated vessels (issue 14): the unwatched partner of a listed ship in an encounter is watched from
then on, with the reason "met ANGARA (IMO 9179842) 40 nm E of Chongjin on 2023-10-02", for associate.days
on the pipeline clock, its alerts one level lower; never from a name-only match, never chained, never
over an imported entry; stored with the alerts, listed and removed like any entry (CLI and API).

The encounters stage and the enricher are driven directly on synthetic tracks (unit); the pipeline on a
real store (SQLite and PostgreSQL) shows the association stored and the partner's port call and
went_dark one level lower; the store, the commands and the API are tested on both databases."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import AlertAmendment, AlertDraft, Severity, iso
from ais_watch.api.app import create_app
from ais_watch.api.tokens import create_token
from ais_watch.detectors.associations import association_entry, reason
from ais_watch.detectors.dark import DarkStage
from ais_watch.detectors.encounters import EncounterStage
from ais_watch.detectors.port_calls import PortCallStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher, alert_severity
from ais_watch.detectors.zones import ZoneEnricher
from ais_watch.geo import Places
from ais_watch.model import Report
from ais_watch.pipeline.runner import PipelineOptions
from ais_watch.pipeline.stage import Context, VesselRow
from ais_watch.store.schema import watchlist
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import Match, WatchlistIndex
from ais_watch.watchlist.store import list_entries, load_index, remove, save_associations, upsert
from ais_watch.zones import ZoneRegistry
from tests.helpers.aisstream import position_report, ship_static_data
from tests.helpers.alerts import stored_alerts
from tests.helpers.cli import cli, jsonl
from tests.helpers.db import engine_on, rows_of
from tests.helpers.meetings import CHONGJIN, OFF_CHONGJIN, alongside, moored, moved, sailing
from tests.helpers.pipeline import running_stages
from tests.helpers.ports import RAJIN, SEA, VOSTOCHNY
from tests.helpers.reports import make_position, make_static

T0 = datetime(2023, 10, 2, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
REASON = "met ANGARA (IMO 9179842) 40 nm E of Chongjin on 2023-10-02"


def ship(mmsi: int, name: str | None, imo: int | None = None, flag: str | None = None, *,
         valid: bool = True) -> VesselRow:
    return {"mmsi": mmsi, "mmsi_valid": valid, "imo": imo, "name": name, "flag": flag, "ship_type": 80}


ANGARA = ship(273111111, "ANGARA", 9179842, "RU")  # listed by its IMO
KOMET = ship(273555555, "KOMET", None, "RU")  # listed by its MMSI
MARIA = ship(273666666, "MARIA", None, "RU")  # a ship called MARIA: only a name-only candidate
TANKER = ship(667001111, "OCEAN PEARL", 9000003, "SL")  # not listed
COLLIER = ship(352888888, "COAL STAR", None, "PA")  # not listed
NOBODY = ship(111000111, "NO NAME", None, None, valid=False)  # no valid MMSI, no IMO
FERRY = 273222222  # keeps the feed alive (integration)
LISTED = (
    WatchEntry(name="ANGARA", imo=9179842, mmsi=None, flag="Russia", reason="OFAC", source="test",
               tags=("dprk",)),
    WatchEntry(name="KOMET", imo=None, mmsi=KOMET["mmsi"], flag="Russia", reason="tip-off", source="test"),
    WatchEntry(name="MARIA", imo=None, mmsi=None, flag=None, reason="named in a report", source="test"),
)


# ---------------------------------------------------------------------------- the stage, directly
@dataclass
class Recorded:
    """The services the enricher and the encounters stage use: what they raise and store, the vessels,
    the pipeline clock."""

    rows: dict[int, VesselRow]
    clock: datetime = T0
    alerts: list[AlertDraft] = field(default_factory=list)
    associations: list[WatchEntry] = field(default_factory=list)
    encounters: list[dict[str, Any]] = field(default_factory=list)

    def raise_alert(self, draft: AlertDraft) -> None:
        self.alerts.append(draft)

    def amend_alert(self, amendment: AlertAmendment) -> None:
        for alert in self.alerts:
            if alert.dedup_key() == amendment.dedup_key:
                alert.details.update(amendment.details)

    def record_encounter(self, row: dict[str, Any]) -> None:
        self.encounters.append(row)

    def record_association(self, entry: WatchEntry) -> None:
        self.associations.append(entry)

    def save_state(self, detector: str, key: str, state: dict[str, Any] | None) -> None:
        pass

    def vessel(self, mmsi: int) -> VesselRow | None:
        return self.rows.get(mmsi)

    def now(self) -> datetime:
        return self.clock

    def of(self, mmsi: int, kind: str = "encounter") -> list[AlertDraft]:
        return [a for a in self.alerts if a.mmsi == mmsi and a.kind == kind]


class Sea:
    """The watchlist enricher and the encounters stage, ticked every minute of event time."""

    def __init__(self, entries: tuple[WatchEntry, ...] = LISTED, *, days: float = 90.0,
                 ships: tuple[VesselRow, ...] = (ANGARA, KOMET, MARIA, TANKER, COLLIER, NOBODY)) -> None:
        self.enricher = WatchlistEnricher(WatchlistIndex(entries), associate_days=days)
        self.stage = EncounterStage(self.enricher, places=Places([CHONGJIN]))
        self.out = Recorded({s["mmsi"]: s for s in ships})
        self.next_tick: datetime | None = None
        self.watch: dict[int, Match | None] = {}  # each vessel's match at its latest report

    def run(self, reports: list[Report]) -> None:
        for report in sorted(reports, key=lambda r: r.time):
            self.until(report.time)
            self.out.clock = report.time
            ctx = Context(self.out)  # type: ignore[arg-type]
            ctx.vessel = self.out.rows[report.mmsi]
            self.enricher.handle(report, ctx)
            self.stage.handle(report, ctx)
            self.watch[report.mmsi] = ctx.watch

    def until(self, when: datetime) -> None:
        """Every minute's tick up to `when`."""
        if self.next_tick is None:
            self.next_tick = when + MINUTE
        while self.next_tick <= when:
            self.tick(self.next_tick)
            self.next_tick += MINUTE

    def tick(self, now: datetime) -> None:
        self.out.clock = now
        self.enricher.tick(now, self.out)  # type: ignore[arg-type]
        self.stage.tick(now, self.out)  # type: ignore[arg-type]

    def meet(self, a: VesselRow, b: VesselRow, start: datetime, hours: float = 2.5) -> None:
        """a and b alongside off Chongjin for `hours`, then a ticks past their parting."""
        self.run(alongside(a["mmsi"], b["mmsi"], start, hours))
        self.until(start + timedelta(hours=hours) + 15 * MINUTE)

    def matched(self, row: VesselRow) -> Match | None:
        return self.enricher.match(row)


@pytest.mark.unit
def test_the_unwatched_partner_of_a_listed_ship_becomes_an_association_with_its_reason() -> None:
    sea = Sea()
    sea.meet(ANGARA, TANKER, T0)
    (alert,) = sea.out.of(ANGARA["mmsi"])
    assert alert.severity is None and alert.details["partner"]["watched"] is False
    assert sea.out.of(TANKER["mmsi"]) == [], "it met a listed ship; it was not one then"
    (entry,) = sea.out.associations
    start = datetime.fromisoformat(alert.details["start"])
    assert entry.reason == REASON
    assert (entry.key, entry.name, entry.imo, entry.mmsi, entry.flag) == (
        "imo:9000003", "OCEAN PEARL", 9000003, TANKER["mmsi"], "SL")
    assert (entry.source, entry.tags, entry.expires_at) == ("association", ("associated",), start + 90 * DAY)
    assert entry.association is not None
    encounter = entry.association["encounter"]
    assert entry.association["met"] == {"key": "imo:9179842", "name": "ANGARA", "imo": 9179842,
                                        "mmsi": ANGARA["mmsi"]}
    assert entry.association["alert"] == alert.dedup_key()
    assert encounter["start"] == alert.details["start"] and (encounter["lat"], encounter["lon"]) == (
        round(alert.lat or 0, 5), round(alert.lon or 0, 5))
    # Watched at once: its next report matches the association, strongly, by its IMO.
    sea.run([make_position(TANKER["mmsi"], T0 + 3 * HOUR, *OFF_CHONGJIN)])
    match = sea.watch[TANKER["mmsi"]]
    assert match is not None and match.entry.key == "imo:9000003"
    assert (match.by, match.strong) == ("imo", True)


@pytest.mark.unit
def test_the_reason_names_the_listed_ship_by_imo_else_mmsi_and_the_place_else_the_position() -> None:
    met = {"name": "KOMET", "imo": None, "mmsi": 273555555}
    assert (reason(met, T0 + 23 * HOUR, 41.5, 131.0, "at sea, 12 nm SE of Rajin")
            == "met KOMET (MMSI 273555555) 12 nm SE of Rajin on 2023-10-02")
    assert (reason({**met, "name": None}, T0, 41.5, 131.0, None)
            == "met MMSI 273555555 at 41.500, 131.000 on 2023-10-02")


@pytest.mark.unit
def test_a_name_only_match_a_listed_partner_or_one_with_no_identity_makes_no_association() -> None:
    sea = Sea()
    sea.meet(MARIA, TANKER, T0)  # MARIA: a candidate for the listed MARIA, never an identity
    (weak,) = sea.out.of(MARIA["mmsi"])
    assert weak.severity == Severity.LOW
    sea.meet(ANGARA, KOMET, T0 + 10 * HOUR)  # both listed
    assert len(sea.out.of(ANGARA["mmsi"])) == len(sea.out.of(KOMET["mmsi"])) == 1
    sea.meet(KOMET, NOBODY, T0 + 20 * HOUR)  # no valid MMSI, no IMO: nothing to know it by
    assert len(sea.out.of(KOMET["mmsi"])) == 2
    assert sea.out.associations == []
    assert sea.matched(TANKER) is None and sea.matched(NOBODY) is None


@pytest.mark.unit
def test_associations_do_not_chain_and_an_associated_ship_alerts_one_level_lower() -> None:
    sea = Sea()
    sea.meet(ANGARA, TANKER, T0)
    sea.meet(TANKER, COLLIER, T0 + 10 * HOUR)
    (alert,) = sea.out.of(TANKER["mmsi"])
    assert alert.severity == Severity.MEDIUM, "encounter: high for a listed ship, medium for an associated"
    assert alert.details["watchlist"]["source"] == "association"
    assert alert.details["watchlist"]["reason"] == REASON
    assert [e.key for e in sea.out.associations] == ["imo:9000003"], "COAL STAR is nobody's association"
    assert sea.matched(COLLIER) is None


@pytest.mark.unit
def test_a_second_meeting_while_associated_extends_the_association() -> None:
    sea = Sea()
    sea.meet(ANGARA, TANKER, T0)
    sea.meet(KOMET, TANKER, T0 + 10 * DAY)  # another listed ship, ten days later
    first, second = sea.out.associations
    again = datetime.fromisoformat(sea.out.of(KOMET["mmsi"])[0].details["start"])
    assert second.key == first.key and second.expires_at == again + 90 * DAY
    assert second.reason == first.reason == REASON, "the association is the first meeting's"
    assert second.association == first.association
    assert sea.out.of(TANKER["mmsi"])[0].severity == Severity.MEDIUM  # it was associated at the second


@pytest.mark.unit
def test_associate_days_zero_makes_none() -> None:
    sea = Sea(days=0)
    sea.meet(ANGARA, TANKER, T0)
    assert len(sea.out.of(ANGARA["mmsi"])) == 1 and sea.out.associations == []
    assert sea.matched(TANKER) is None


@pytest.mark.unit
def test_an_association_expires_on_the_pipeline_clock_in_the_past() -> None:
    """A replay of October 2023, years before the wall clock: watched until its expiry on the replay's
    dates, and not a tick longer."""
    sea = Sea(days=2)
    sea.meet(ANGARA, TANKER, T0)
    (entry,) = sea.out.associations
    assert entry.expires_at is not None and entry.expires_at < datetime.now(UTC)
    sea.until(entry.expires_at - MINUTE)
    assert sea.matched(TANKER) is not None
    sea.until(entry.expires_at)
    assert sea.matched(TANKER) is None
    sea.run([make_position(TANKER["mmsi"], entry.expires_at + MINUTE, *OFF_CHONGJIN)])
    assert sea.watch[TANKER["mmsi"]] is None


@pytest.mark.unit
def test_a_reloaded_association_is_watched_only_between_its_meeting_and_its_expiry() -> None:
    """From the table (a reload, a restart): an association made after the clock's time (a replay of last
    year over a database of this year) is not watched yet, one expired is no longer; the table is the
    truth, so one removed from it is no longer watched."""
    entry = association_entry(LISTED[0], ANGARA, TANKER, start=T0 + 5 * DAY, lat=41.8, lon=130.7,
                              place=None, alert_key=None, expires_at=T0 + 95 * DAY)
    expired = association_entry(LISTED[0], ANGARA, COLLIER, start=T0 - 100 * DAY, lat=41.8, lon=130.7,
                                place=None, alert_key=None, expires_at=T0 - 10 * DAY)
    assert entry is not None and expired is not None
    sea = Sea(entries=(*LISTED, entry, expired))
    sea.run([make_position(ANGARA["mmsi"], T0, 43.1, 131.9)])
    assert sea.matched(TANKER) is None and sea.matched(COLLIER) is None
    sea.tick(T0 + 5 * DAY)
    assert sea.matched(TANKER) is not None and sea.matched(COLLIER) is None
    sea.enricher.replace_index(WatchlistIndex(LISTED))  # removed from the table
    assert sea.matched(TANKER) is None and sea.matched(ANGARA) is not None


@pytest.mark.unit
def test_a_made_association_is_kept_only_until_the_next_reload_and_never_matched_by_name() -> None:
    sea = Sea()
    sea.meet(ANGARA, TANKER, T0)
    (entry,) = sea.out.associations
    assert sea.enricher.index.match(999000999, True, None, "OCEAN PEARL") is None, "one hull, not a name"
    sea.enricher.replace_index(WatchlistIndex([*LISTED, entry]))  # the table has it now
    assert sea.matched(TANKER) is not None
    # A list imported later names the same hull: the listed entry matches it, not the association.
    listed = WatchEntry(name="OCEAN PEARL", imo=9000003, mmsi=None, flag=None, reason="OFAC", source="ofac")
    sea.enricher.replace_index(WatchlistIndex([*LISTED, entry, listed]))
    found = sea.matched(TANKER)
    assert found is not None and found.entry.source == "ofac"


@pytest.mark.unit
def test_alert_severity_is_one_level_lower_for_an_association() -> None:
    listed, weak = Match(LISTED[0], "imo", True), Match(LISTED[2], "name", False)
    entry = association_entry(LISTED[0], ANGARA, TANKER, start=T0, lat=41.8, lon=130.7, place=None,
                              alert_key=None, expires_at=T0 + DAY)
    assert entry is not None
    associated = Match(entry, "imo", True)
    assert [alert_severity(listed, k) for k in ("port_call", "went_dark")] == [None, None]
    assert alert_severity(listed, "identity_change", Severity.CRITICAL) == Severity.CRITICAL
    assert alert_severity(weak, "port_call") == Severity.LOW
    assert alert_severity(weak, "draught_change", Severity.HIGH, weak=Severity.MEDIUM) == Severity.MEDIUM
    assert [alert_severity(associated, k) for k in (
        "possible_dark_port_call", "port_call", "went_dark", "port_departure", "zone_exit")] == [
        Severity.HIGH, Severity.MEDIUM, Severity.MEDIUM, Severity.LOW, Severity.LOW]
    assert alert_severity(associated, "identity_change", Severity.CRITICAL) == Severity.HIGH
    assert alert_severity(dataclasses.replace(associated, strong=False), "port_call") == Severity.LOW


# ------------------------------------------------------------------------- the pipeline, stored
@pytest.mark.integration
async def test_the_association_is_stored_with_the_alert_and_its_port_call_and_silence_come_lower(
        db_url: str) -> None:
    """ANGARA and OCEAN PEARL alongside 40 nm off Chongjin for 2.5 h; OCEAN PEARL then calls at Rajin for
    two hours, leaves and falls silent at sea. A ferry at Vladivostok keeps the feed alive."""
    enricher = WatchlistEnricher(WatchlistIndex(LISTED), associate_days=90)
    stages = [enricher, ZoneEnricher(ZoneRegistry()), DarkStage(enricher, (RAJIN, VOSTOCHNY), sea=SEA),
              PortCallStage(), EncounterStage(enricher, places=Places([CHONGJIN]))]
    tanker, angara = TANKER["mmsi"], ANGARA["mmsi"]
    parted = T0 + 150 * MINUTE
    to_rajin, berthed = sailing(tanker, parted, moved(OFF_CHONGJIN, 1000, 0.0), (42.22, 130.28))
    at_berth = moored(tanker, berthed, berthed + 2 * HOUR, (42.22, 130.28))
    out, silent_from = sailing(tanker, berthed + 2 * HOUR, (42.22, 130.28), (41.9, 131.2))
    away, _ = sailing(angara, parted, moved(OFF_CHONGJIN, 1000, 0.0), (40.2, 133.3), knots=10.0)
    end = silent_from + 8 * HOUR
    ferry = [make_position(FERRY, T0 + k * 5 * MINUTE, 43.1, 131.89 + (k % 2) * 0.0001, sog=0.0)
             for k in range(int((end - T0) / (5 * MINUTE)))]
    reports: list[Report] = [make_static(angara, T0, "ANGARA", 9179842),
                             make_static(tanker, T0, "OCEAN PEARL", 9000003)]
    reports += sorted([*alongside(angara, tanker, T0, 2.5), *to_rajin, *at_berth, *out, *away, *ferry],
                      key=lambda r: r.time)
    options = PipelineOptions(event_time_ticks=True, tick_interval=60, feed_outage_after=600)
    async with asyncio.timeout(120):
        async with running_stages(db_url, stages, options) as pipeline:
            for report in reports:
                await pipeline.submit(report)
        alerts = await stored_alerts(db_url)
        rows = await rows_of(db_url, watchlist)
    assert [(a["kind"], a["severity"]) for a in alerts if a["mmsi"] == angara] == [("encounter", "high")]
    mine = {a["kind"]: a for a in alerts if a["mmsi"] == tanker}
    assert {k: a["severity"] for k, a in mine.items()} == {
        "port_call": "medium", "port_departure": "low", "went_dark": "medium"}, mine
    assert mine["port_call"]["place"] == "Rajin"
    assert mine["went_dark"]["details"]["watchlist"]["key"] == "imo:9000003"
    (row,) = rows  # only the association is in the table: the listed entries were the test's own
    encounter = next(a for a in alerts if a["kind"] == "encounter")
    start = datetime.fromisoformat(encounter["details"]["start"])
    assert (row["key"], row["name"], row["imo"], row["mmsi"], row["reason"], row["source"], row["tags"]) == (
        "imo:9000003", "OCEAN PEARL", 9000003, tanker, REASON, "association", ["associated"])
    assert row["expires_at"] == start + 90 * DAY
    assert row["association"]["met"]["key"] == "imo:9179842"
    assert row["association"]["encounter"]["start"] == iso(start)
    assert row["association"]["alert"].startswith(f"encounter|{angara}|")


# --------------------------------------------------------------------------------------- the store
def made(partner: VesselRow = TANKER, start: datetime = T0, days: float = 90) -> WatchEntry:
    entry = association_entry(LISTED[0], ANGARA, partner, start=start, lat=41.8, lon=130.7,
                              place="at sea, 40 nm E of Chongjin", alert_key="encounter|1|x|y",
                              expires_at=start + days * DAY)
    assert entry is not None
    return entry


async def save(engine: AsyncEngine, *entries: WatchEntry) -> None:
    async with engine.begin() as conn:
        await save_associations(conn, entries)


@pytest.mark.integration
async def test_stored_associations_are_extended_never_shortened_and_never_over_an_imported_entry(
        engine: AsyncEngine) -> None:
    first = made()
    await save(engine, first)
    await save(engine, dataclasses.replace(first, expires_at=T0 + 100 * DAY))  # met again, as the stage does
    await save(engine, made(start=T0 - 10 * DAY))  # an earlier meeting written late: it says less
    (row,) = await list_entries(engine)
    assert row["expires_at"] == T0 + 100 * DAY and row["reason"] == REASON
    assert row["association"]["encounter"]["start"] == iso(T0)
    await save(engine, made(start=T0 + 200 * DAY))  # after it expired: a new association of the ship
    (row,) = await list_entries(engine)
    assert row["expires_at"] == T0 + 290 * DAY and row["reason"].endswith("on 2024-04-19")

    # COAL STAR is on an imported list by its MMSI: an association of it writes nothing.
    assert await upsert(engine, [WatchEntry(name="COAL STAR", imo=None, mmsi=COLLIER["mmsi"], flag="Panama",
                                            reason="tip-off", source="list")]) == (1, 0)
    await save(engine, made(COLLIER))
    listed = {r["key"]: r for r in await list_entries(engine)}
    assert listed[f"mmsi:{COLLIER['mmsi']}"]["association"] is None
    assert listed[f"mmsi:{COLLIER['mmsi']}"]["reason"] == "tip-off" and len(listed) == 2


@pytest.mark.integration
async def test_reimporting_the_ship_turns_its_association_into_an_ordinary_entry(engine: AsyncEngine) -> None:
    await save(engine, made())
    created = (await list_entries(engine))[0]["created_at"]
    # Listed by its MMSI alone: the same ship (the association has that MMSI), updated, not duplicated.
    ofac = WatchEntry(name="PEARL", imo=None, mmsi=TANKER["mmsi"], flag="Sierra Leone", reason="OFAC SDN",
                      source="OFAC SDN 40001", tags=("ofac",))
    assert await upsert(engine, [ofac]) == (0, 1)
    (row,) = await list_entries(engine)
    assert (row["key"], row["imo"], row["mmsi"], row["name"], row["aliases"]) == (
        "imo:9000003", 9000003, TANKER["mmsi"], "PEARL", ["OCEAN PEARL"])
    assert (row["reason"], row["source"], row["tags"]) == ("OFAC SDN", "OFAC SDN 40001", ["ofac"])
    assert row["association"] is None and row["expires_at"] is None and row["created_at"] == created
    index = await load_index(engine)
    assert not any(e.is_association for e in index.entries)
    await save(engine, made(start=T0 + 5 * DAY))  # met again: it is listed now, so nothing is written
    assert (await list_entries(engine))[0]["association"] is None


@pytest.mark.integration
async def test_listing_leaves_expired_associations_out_and_removing_one_works_like_any_entry(
        engine: AsyncEngine) -> None:
    await upsert(engine, LISTED[:1])
    await save(engine, made(), made(COLLIER, start=T0 - 200 * DAY))
    everything = [r["key"] for r in await list_entries(engine)]
    assert everything == ["imo:9179842", "imo:9000003", f"mmsi:{COLLIER['mmsi']}"]
    assert [r["key"] for r in await list_entries(engine, now=T0)] == ["imo:9179842", "imo:9000003"]
    assert [r["key"] for r in await list_entries(engine, now=T0, associations=True)] == ["imo:9000003"]
    assert await remove(engine, "IMO:9000003") is True
    assert [e.key for e in (await load_index(engine)).entries] == ["imo:9179842", f"mmsi:{COLLIER['mmsi']}"]


# ------------------------------------------------------------------------------ the CLI and the API
async def seed(db_url: str, now: datetime) -> None:
    """ANGARA listed; OCEAN PEARL associated until 90 days after `now`; COAL STAR's association expired."""
    async with engine_on(db_url) as engine:
        await upsert(engine, LISTED[:1])
        await save(engine, made(start=now), made(COLLIER, start=now - 200 * DAY))


@pytest.mark.integration
def test_watchlist_list_shows_associations_and_remove_removes_one(db_url: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    asyncio.run(seed(db_url, now))
    code, out, err = cli(capsys, "--db", db_url, "watchlist", "list")
    assert code == 0, err
    items = jsonl(out)
    assert [i["key"] for i in items] == ["imo:9179842", "imo:9000003"], "the expired one is left out"
    assert list(items[0])[-2:] == ["association", "expires_at"], "added after the ten fields of before"
    assert items[0]["association"] is None and items[0]["expires_at"] is None
    pearl = items[1]
    assert pearl["reason"] == REASON.replace("2023-10-02", now.date().isoformat())
    assert pearl["source"] == "association" and pearl["tags"] == ["associated"]
    assert pearl["expires_at"] == iso(now + 90 * DAY)
    assert pearl["association"]["met"] == {"key": "imo:9179842", "name": "ANGARA", "imo": 9179842,
                                           "mmsi": ANGARA["mmsi"]}
    code, out, _ = cli(capsys, "--db", db_url, "watchlist", "list", "--associations", "--expired")
    assert [i["key"] for i in jsonl(out)] == ["imo:9000003", f"mmsi:{COLLIER['mmsi']}"]
    code, out, _ = cli(capsys, "--db", db_url, "watchlist", "list", "--associations", "--format", "table")
    header, line = out.splitlines()
    assert header.split() == ["key", "name", "imo", "mmsi", "flag", "met", "met_on", "expires_at"]
    assert line.split() == ["imo:9000003", "OCEAN", "PEARL", "9000003", str(TANKER["mmsi"]), "SL", "ANGARA",
                            now.date().isoformat(), (now + 90 * DAY).date().isoformat()]
    assert cli(capsys, "--db", db_url, "watchlist", "remove", "imo:9000003")[1] == "removed imo:9000003\n"
    code, out, _ = cli(capsys, "--db", db_url, "watchlist", "list", "--associations")
    assert code == 0 and out == ""


@pytest.mark.integration
async def test_the_api_lists_associations_and_removes_one(db_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await seed(db_url, now)
    async with engine_on(db_url) as engine:
        viewer, admin = await create_token(engine, "viewer"), await create_token(engine, "admin")
        async with TestClient(TestServer(create_app(engine, ZoneRegistry([])))) as client:
            async def keys(query: str = "") -> list[str]:
                response = await client.get(f"/api/watchlist{query}",
                                            headers={"Authorization": f"Bearer {viewer}"})
                assert response.status == 200, await response.text()
                return [e["key"] for e in (await response.json())["entries"]]

            assert await keys() == ["imo:9179842", "imo:9000003"]
            assert await keys("?associations=true&expired=true") == ["imo:9000003", f"mmsi:{COLLIER['mmsi']}"]
            body = await (await client.get("/api/watchlist?associations=1",
                                           headers={"Authorization": f"Bearer {viewer}"})).json()
            (pearl,) = body["entries"]
            assert pearl["reason"].startswith("met ANGARA") and pearl["expires_at"] == iso(now + 90 * DAY)
            assert pearl["association"]["encounter"]["start"] == iso(now)
            bad = await client.get("/api/watchlist?expired=maybe",
                                   headers={"Authorization": f"Bearer {viewer}"})
            assert bad.status == 400 and "expired" in (await bad.json())["error"]
            gone = await client.delete("/api/watchlist/imo:9000003",
                                       headers={"Authorization": f"Bearer {admin}"})
            assert gone.status == 200
            assert await keys("?associations=true") == []


# -------------------------------------------------------------------------- ais-watch replay, end to end
def as_aisstream(reports: list[Report], names: dict[int, tuple[str, int]]) -> str:
    """aisstream.io JSON lines of these positions, each ship's static data (name, IMO) first."""
    stamp = "%Y-%m-%d %H:%M:%S.000000000 +0000 UTC"
    first = min(r.time for r in reports).strftime(stamp)
    lines = [ship_static_data(name.ljust(20, "@"), imo, mmsi, time_utc=first)
             for mmsi, (name, imo) in names.items()]
    lines += [position_report(r.mmsi, time_utc=r.time.strftime(stamp), lat=r.lat, lon=r.lon, sog=r.sog or 0.0,
                              cog=r.cog or 0.0, heading=0, name="") for r in reports]
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.mark.integration
@pytest.mark.parametrize("days", ["90", "0"])
def test_replay_associates_the_partner_as_the_settings_say(
        db_url: str, days: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's own wiring (build_detectors, associate.days): ANGARA, listed by a CSV import, alongside
    OCEAN PEARL for 2.5 h 33 nm SE of Rajin in a replayed aisstream.io capture; with associate.days 0 no
    association."""
    monkeypatch.setenv("AIS_WATCH_ASSOCIATE_DAYS", days)
    tanker, angara = TANKER["mmsi"], ANGARA["mmsi"]
    ferry = [make_position(FERRY, T0 + k * 5 * MINUTE, 43.1, 131.89, sog=0.0) for k in range(42)]
    path, listed = tmp_path / "capture.jsonl", tmp_path / "list.csv"
    path.write_text(as_aisstream(sorted([*alongside(angara, tanker, T0, 2.5), *ferry], key=lambda r: r.time),
                                 {angara: ("ANGARA", 9179842), tanker: ("OCEAN PEARL", 9000003)}))
    listed.write_text("name,imo,mmsi,flag,reason,source\nANGARA,9179842,,Russia,OFAC,test\n")
    assert cli(capsys, "--db", db_url, "watchlist", "import", str(listed))[0] == 0
    code, _, err = cli(capsys, "--db", db_url, "replay", str(path), "--no-progress")
    assert code == 0, err
    (alert,) = [a for a in asyncio.run(stored_alerts(db_url)) if a["kind"] == "encounter"]
    code, out, err = cli(capsys, "--db", db_url, "watchlist", "list", "--associations", "--expired")
    assert code == 0, err
    if days == "0":
        assert out == ""
        return
    (item,) = jsonl(out)
    place = Places(ZoneRegistry().index.ports()).name(alert["lat"], alert["lon"])
    assert place is not None and place.startswith("at sea, ")
    assert item["reason"] == f"met ANGARA (IMO 9179842) {place.removeprefix('at sea, ')} on 2023-10-02"
    assert (item["key"], item["name"], item["flag"]) == ("imo:9000003", "OCEAN PEARL", "SL")
    start = alert["details"]["start"]
    assert item["association"]["alert"] == f"encounter|{angara}|{alert['place']}|{tanker}|{start}"
    assert item["expires_at"] == iso(datetime.fromisoformat(start) + 90 * DAY)
