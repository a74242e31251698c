"""The fleet board's rules, on rows made by hand (ais_watch/fleet.py): which vessels are an entry's, the
state's precedence (dark > anomalous > in port > at sea; not heard), what makes each state and what does
not, open alerts per entry, sorting and filtering, the query's errors, the words; and Places.names, the
vectorised Places.name the board names positions with."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.alerts.model import Severity, iso
from ais_watch.fleet import (
    FleetError,
    FleetQuery,
    age_text,
    build_rows,
    filter_rows,
    fleet_query,
    places_of,
    sort_rows,
    state_text,
)
from ais_watch.geo import Places
from ais_watch.store.fleet import FleetData
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.zones import ZoneRegistry

pytestmark = pytest.mark.unit

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
IMO = 9300001
OLD, NEW, OTHER = 273000001, 273000002, 273000003


def entry(name: str = "ANGARA", imo: int | None = IMO, mmsi: int | None = None) -> WatchEntry:
    return WatchEntry(name=name, imo=imo, mmsi=mmsi, flag="Russia", reason="listed", source="test")


def stored(e: WatchEntry, **more: Any) -> dict[str, Any]:
    """An entry as the watchlist table holds it."""
    return {"key": e.key, "name": e.name, "imo": e.imo, "mmsi": e.mmsi, "flag": e.flag, "reason": e.reason,
            "source": e.source, "aliases": list(e.aliases), "tags": list(e.tags), "dark_threshold": None,
            "association": None, "expires_at": None, **more}


def vessel(mmsi: int, hours_ago: float | None, *, imo: int | None = IMO, name: str | None = "ANGARA",
           lat: float = 42.0, lon: float = 131.0) -> dict[str, Any]:
    seen = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return {"mmsi": mmsi, "mmsi_valid": True, "name": name, "imo": imo, "flag": "RU", "last_seen": seen,
            "last_lat": lat if seen else None, "last_lon": lon if seen else None, "last_sog": 9.0,
            "last_cog": 90.0, "last_heading": 90}


def call(mmsi: int, hours_ago: float, left_hours_ago: float | None = None, port: str = "Rajin"
         ) -> dict[str, Any]:
    return {"mmsi": mmsi, "port_id": "kp-" + port.lower(), "port_name": port, "country": "KP", "kind": "port",
            "arrival": NOW - timedelta(hours=hours_ago),
            "departure": None if left_hours_ago is None else NOW - timedelta(hours=left_hours_ago)}


def alert(alert_id: int, kind: str, hours_ago: float, *, mmsi: int | None = NEW, imo: int | None = None,
          severity: Severity = Severity.MEDIUM, reason: str | None = None) -> dict[str, Any]:
    return {"id": alert_id, "kind": kind, "severity": int(severity), "mmsi": mmsi, "imo": imo,
            "occurred_at": NOW - timedelta(hours=hours_ago), "details": {"reason": reason} if reason else {}}


def opened(*alerts: dict[str, Any]) -> dict[str, Any]:
    """Open alerts as the store hands them over: counted by (mmsi, imo), and the anomalies as rows."""
    counts: dict[tuple[Any, Any], dict[str, Any]] = {}
    for a in alerts:
        group = counts.setdefault((a["mmsi"], a["imo"]), {"mmsi": a["mmsi"], "imo": a["imo"], "open": 0,
                                                           "highest": 0})
        group["open"] += 1
        group["highest"] = max(group["highest"], a["severity"])
    return {"alert_counts": list(counts.values()),
            "anomalies": [a for a in alerts if a["kind"] in ("position_anomaly", "identity_change")]}


def board(entries: list[WatchEntry], data: FleetData, rows: list[dict[str, Any]] | None = None
          ) -> dict[str, dict[str, Any]]:
    built = build_rows(rows or [stored(e) for e in entries], entries, data, NOW, Places())
    return {r["key"]: r for r in built}


def one(data: FleetData, e: WatchEntry | None = None) -> dict[str, Any]:
    e = e or entry()
    return board([e], data)[e.key]


# ----------------------------------------------------------------------------------------- states
def test_states_in_precedence_dark_anomalous_in_port_at_sea() -> None:
    heard = [vessel(NEW, 7.5)]
    assert one(FleetData(vessels=heard))["state"] == {"state": "at_sea"}
    in_port = FleetData(vessels=heard, open_calls=[call(NEW, 20)])
    assert one(in_port)["state"] == {"state": "in_port", "port": "Rajin", "port_id": "kp-rajin",
                                     "country": "KP", "since": iso(NOW - timedelta(hours=20))}
    anomalous = FleetData(vessels=heard, open_calls=[call(NEW, 20)],
                          **opened(alert(7, "position_anomaly", 8, reason="impossible_speed")))
    assert one(anomalous)["state"] == {"state": "anomalous", "reason": "impossible_speed",
                                       "since": iso(NOW - timedelta(hours=8)), "alert_id": 7}
    dark = FleetData(vessels=heard, open_calls=[call(NEW, 20)],
                     **opened(alert(7, "position_anomaly", 8, reason="impossible_speed")),
                     dark={NEW: NOW - timedelta(hours=7.5)})
    assert one(dark)["state"] == {"state": "dark", "since": iso(NOW - timedelta(hours=7.5)), "hours": 7.5}


def test_never_heard_is_not_heard_whatever_else_is_stored() -> None:
    row = one(FleetData())
    assert row["state"] == {"state": "not_heard"}
    assert row["position"] is None and row["mmsis"] == [] and row["mmsi"] is None
    assert row["last_port_call"] is None and row["alerts"] == {"open": 0, "highest": None}
    # Static data but never a position: still no position to show.
    assert one(FleetData(vessels=[vessel(NEW, None)]))["state"] == {"state": "not_heard"}


def test_dark_only_while_nothing_was_heard_since() -> None:
    # The detector's silence ended (heard after it) but its state not yet cleared: not dark.
    stale = FleetData(vessels=[vessel(NEW, 1)], dark={NEW: NOW - timedelta(hours=9)})
    assert one(stale)["state"]["state"] == "at_sea"
    # One ship on two MMSIs: the old one's silence is over when the new one speaks.
    moved_on = FleetData(vessels=[vessel(OLD, 9), vessel(NEW, 1)], dark={OLD: NOW - timedelta(hours=9)})
    assert one(moved_on)["state"]["state"] == "at_sea"
    # ... and the ship is dark when the MMSI it was last heard on went dark.
    dark = FleetData(vessels=[vessel(OLD, 30), vessel(NEW, 9)], dark={NEW: NOW - timedelta(hours=9)})
    assert one(dark)["state"] == {"state": "dark", "since": iso(NOW - timedelta(hours=9)), "hours": 9.0}


def test_anomalous_needs_an_open_anomaly_of_the_last_day() -> None:
    heard = [vessel(NEW, 0.5)]
    old = FleetData(vessels=heard, **opened(alert(1, "position_anomaly", 25, reason="on_land")))
    assert one(old)["state"]["state"] == "at_sea"
    other_kind = FleetData(vessels=heard, **opened(alert(1, "zone_entry", 1)))
    assert one(other_kind)["state"]["state"] == "at_sea"
    identity = FleetData(vessels=heard, **opened(alert(1, "identity_change", 2),
                                                alert(2, "position_anomaly", 3, reason="on_land")))
    assert one(identity)["state"] == {"state": "anomalous", "reason": "identity_change",
                                      "since": iso(NOW - timedelta(hours=2)), "alert_id": 1}


def test_in_port_only_on_the_mmsi_it_was_last_heard_on() -> None:
    # The old MMSI's call never closed (the ship left under its new MMSI): at sea, the call still its last.
    data = FleetData(vessels=[vessel(OLD, 30), vessel(NEW, 1)], open_calls=[call(OLD, 40)],
                     latest_calls=[call(OLD, 40)])
    row = one(data)
    assert row["state"]["state"] == "at_sea"
    assert row["last_port_call"] == {"port": "Rajin", "port_id": "kp-rajin", "country": "KP", "mmsi": OLD,
                                     "arrived": iso(NOW - timedelta(hours=40)), "departed": None}
    # The latest of two open calls (anchorage, then the port inside it).
    data = FleetData(vessels=[vessel(NEW, 1)], open_calls=[call(NEW, 6, port="Roads"), call(NEW, 3)])
    assert one(data)["state"]["port"] == "Rajin"


# -------------------------------------------------------------------------------- whose vessels
def test_an_entry_follows_the_vessel_heard_last() -> None:
    e = entry(mmsi=OTHER)
    row = one(FleetData(vessels=[vessel(OLD, 30, lat=41.0), vessel(NEW, 2, lat=42.5)]), e)
    assert row["mmsi"] == NEW and row["mmsis"] == [NEW, OLD, OTHER]  # its own, never heard, last
    assert row["position"]["lat"] == 42.5 and row["position"]["mmsi"] == NEW
    assert row["position"]["age_seconds"] == 7200 and row["position"]["time"] == iso(NOW - timedelta(hours=2))
    assert row["watch"]["matched_by"] == "imo" and row["watch"]["kind"] == "listed"


def test_which_vessels_are_an_entrys() -> None:
    by_imo, by_mmsi, by_name = entry(), entry("SAILOR", 9300025, OTHER), entry("Namely One", None, None)
    entries = [by_imo, by_mmsi, by_name]
    data = FleetData(vessels=[
        vessel(NEW, 1, imo=None, name="ANGARA"),  # ANGARA's name, no IMO: not the listed IMO's ship
        vessel(OTHER, 1, imo=9300013, name="SAILOR"),  # its MMSI, sending another hull's IMO: not it
        vessel(OLD, 1, imo=None, name="NAMELY ONE"),  # a name-only entry's ship, by name
    ])
    rows = board(entries, data)
    assert rows[by_imo.key]["state"]["state"] == "not_heard"
    assert rows[by_mmsi.key]["state"]["state"] == "not_heard"
    assert rows[by_name.key]["mmsi"] == OLD and rows[by_name.key]["watch"]["matched_by"] == "name"
    # The same MMSI sending no IMO: it.
    same = FleetData(vessels=[vessel(OTHER, 1, imo=None, name="SAILOR")])
    assert board([by_mmsi], same)[by_mmsi.key]["watch"]["matched_by"] == "mmsi"


def test_two_entries_of_one_ship_both_show_it() -> None:
    by_imo, by_mmsi = entry(), entry("ANGARA (MMSI)", None, NEW)
    rows = board([by_imo, by_mmsi], FleetData(vessels=[vessel(NEW, 1)]))
    assert rows[by_imo.key]["mmsi"] == rows[by_mmsi.key]["mmsi"] == NEW
    matched = (rows[by_imo.key]["watch"]["matched_by"], rows[by_mmsi.key]["watch"]["matched_by"])
    assert matched == ("imo", "mmsi")


def test_associated_and_listed_entries() -> None:
    listed, partner = entry(), entry("TANKER", None, OTHER)
    record = {"met": {"key": listed.key}, "encounter": {"start": iso(NOW - timedelta(days=1))}}
    rows = board([listed, partner], FleetData(vessels=[vessel(OTHER, 1, imo=None, name="TANKER")]),
                 [stored(listed), stored(partner, association=record, expires_at=NOW + timedelta(days=2))])
    assert rows[partner.key]["watch"] == {
        "kind": "associated", "reason": "listed", "source": "test", "tags": [], "association": record,
        "expires_at": iso(NOW + timedelta(days=2)), "matched_by": "mmsi"}
    assert rows[listed.key]["watch"]["kind"] == "listed" and rows[listed.key]["watch"]["association"] is None


def test_open_alerts_per_entry() -> None:
    data = FleetData(vessels=[vessel(NEW, 1)], **opened(
        alert(1, "went_dark", 5, severity=Severity.HIGH),
        alert(2, "zone_entry", 4, mmsi=OLD, imo=IMO),  # an MMSI no longer heard, with its IMO
        alert(3, "port_call", 3, mmsi=OTHER, severity=Severity.CRITICAL),  # another ship's
        alert(4, "port_call", 2, imo=IMO),  # by its MMSI and its IMO: once
    ))
    assert one(data)["alerts"] == {"open": 3, "highest": "high"}


# ---------------------------------------------------------------------------------- sort, filter
def row(name: str, state: str, age: float | None, alerts: int, highest: str | None, hours: float = 0,
        watch: str = "listed") -> dict[str, Any]:
    return {"key": f"name:{name}", "name": name, "state": {"state": state, "hours": hours},
            "position": None if age is None else {"age_seconds": age},
            "alerts": {"open": alerts, "highest": highest}, "watch": {"kind": watch}}


ROWS = [row("delta", "at_sea", 60, 1, "low"), row("Alpha", "dark", 9000, 2, "high", hours=7),
        row("charlie", "not_heard", None, 0, None), row("bravo", "dark", 30000, 2, "critical", hours=20),
        row("echo", "in_port", 10, 5, "medium", watch="associated"),
        row("foxtrot", "anomalous", 600, 1, "high")]


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in rows]


@pytest.mark.parametrize(("sort", "order", "expected"), [
    ("state", "asc", ["bravo", "Alpha", "foxtrot", "echo", "delta", "charlie"]),  # longest dark first
    ("state", "desc", ["charlie", "delta", "echo", "foxtrot", "Alpha", "bravo"]),
    ("name", "asc", ["Alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]),
    ("name", "desc", ["foxtrot", "echo", "delta", "charlie", "bravo", "Alpha"]),
    ("age", "asc", ["echo", "delta", "foxtrot", "Alpha", "bravo", "charlie"]),  # never heard last...
    ("age", "desc", ["bravo", "Alpha", "foxtrot", "delta", "echo", "charlie"]),  # ... either way
    ("alerts", "desc", ["echo", "bravo", "Alpha", "foxtrot", "delta", "charlie"]),
    ("alerts", "asc", ["charlie", "delta", "foxtrot", "Alpha", "bravo", "echo"]),
    ("severity", "desc", ["bravo", "Alpha", "foxtrot", "echo", "delta", "charlie"]),
])
def test_sort_orders(sort: str, order: str, expected: list[str]) -> None:
    assert names(sort_rows(list(ROWS), FleetQuery(sort=sort, order=order))) == expected


def test_filters() -> None:
    assert names(filter_rows(ROWS, FleetQuery(states=frozenset({"dark"})))) == ["Alpha", "bravo"]
    assert names(filter_rows(ROWS, FleetQuery(states=frozenset({"in_port", "not_heard"})))) == [
        "charlie", "echo"]
    assert names(filter_rows(ROWS, FleetQuery(watch="associated"))) == ["echo"]
    assert len(filter_rows(ROWS, FleetQuery(watch="listed"))) == 5
    assert filter_rows(ROWS, FleetQuery()) == ROWS


def test_query_defaults_and_errors() -> None:
    assert fleet_query() == FleetQuery("state", "asc", frozenset(), None)
    assert fleet_query("alerts").order == "desc" and fleet_query("alerts", "asc").order == "asc"
    assert fleet_query(state="dark, in_port,").states == {"dark", "in_port"}
    for args, word in [(("speed",), "sort"), (("name", "up"), "order"), ((None, None, "dark,sunk"), "'sunk'"),
                       ((None, None, None, "friends"), "watch")]:
        with pytest.raises(FleetError, match=word):
            fleet_query(*args)


# ------------------------------------------------------------------------------------------ words
def test_words() -> None:
    assert state_text({"state": "dark", "hours": 7.96}) == "dark for 7 h"
    assert state_text({"state": "dark", "hours": 0.5}) == "dark for 30 min"
    assert state_text({"state": "dark", "hours": 80}) == "dark for 3 d"
    assert state_text({"state": "anomalous", "reason": "impossible_speed"}) == "anomalous: impossible_speed"
    assert state_text({"state": "in_port", "port": "Rajin", "since": "2024-03-01T14:02:09Z"}) == (
        "in Rajin since 2024-03-01 14:02 UTC")
    assert state_text({"state": "at_sea"}) == "at sea" and state_text({"state": "not_heard"}) == "not heard"
    assert [age_text(s) for s in (None, 5, 720, 3 * 3600 + 5, 5 * 86400)] == ["", "just now", "12 min", "3 h",
                                                                             "5 d"]


def test_places_names_many_as_name_names_one() -> None:
    places = places_of(ZoneRegistry([]).index)
    rng = random.Random(7)
    points = [(rng.uniform(30.0, 50.0), rng.uniform(120.0, 145.0)) for _ in range(500)]
    points += [(42.2333, 130.30), (42.757, 133.06), (42.16, 130.42)]  # Rajin, Vostochny, just off Rajin
    assert places.names(points) == [places.name(lat, lon) for lat, lon in points]
    assert places.names(points[-3:])[:2] == ["Rajin", "Vostochny"]
    assert places.names([]) == [] and Places().names([(42.0, 131.0)]) == [None]
