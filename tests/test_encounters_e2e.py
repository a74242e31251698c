"""End to end through `ais-watch replay`: encounters and loitering (issue 14) on traffic of this test's
own making in the Sea of Japan, in both forms a feed comes in (NMEA built with pyais's encoder behind tag
blocks naming the event time and station, and aisstream.io JSON), on SQLite and PostgreSQL.

- a. ANGARA (watchlisted by IMO) comes alongside an unwatched tanker drifting ~55 nm SE of Rajin, the two
  250 m apart at 0.5 kn for 3 hours; then the tanker leaves: one `encounter` (ANGARA's, the tanker its
  partner) raised while they are together and amended with the end when they part, one `encounters` row.
- b. Two ships passing head-on at 12 kn 400 m apart, and two sailing in company 400 m abeam at 12 kn for
  3 hours: no encounter (too short; too fast).
- c. A watched ship moored 170 m from another at a Rajin berth for 5 hours: a port call, no encounter, no
  loitering. Two ships anchored together for 5 hours 2 nm off Zarubino, outside its geofence but within
  the 10 km of it an encounter must keep away: none either (and, the limit set to 0 km, one: the control).
- d. A watched ship drifting alone ~80 nm off the coast for 5 hours: one `loitering`, nobody seen; another
  doing the same ~22 nm away while a ship passes 1.5 km from it: one `loitering`, that ship its neighbour.
- e. Two unwatched ships meeting offshore: an `encounters` row (watched false), no alert.

Three tests pin what once were bugs of the encounters stage: a meeting carries on across a restart (test
a in two replays), a vessel's first fix counts as slow, and a loitering alert amended with a neighbour
seen after it was raised says others_seen true.

Two ships moored side by side at Vladivostok report all along (another moored pair in a port): the feed,
the station and (in JSON, which names no station) the areas stay alive, and ticks keep coming after the
ships of a scenario go quiet.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ais_watch.geo import bearing_deg, distance_nm
from ais_watch.store.schema import encounters
from ais_watch.zones import ZoneRegistry
from tests.helpers.aisstream import position_report, ship_static_data
from tests.helpers.alerts import stored_alerts
from tests.helpers.cli import cli
from tests.helpers.db import fetch
from tests.helpers.nmea import encode, tagged

pytestmark = pytest.mark.integration

T0 = datetime(2024, 6, 3, 0, 0, tzinfo=UTC)
STATION = "E2E-ENCOUNTERS"
EVERY = timedelta(minutes=3)  # every ship here reports this often (a short run, a quick replay)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
M_PER_DEG_LAT = 111_195.0
INDEX = ZoneRegistry().index

RAJIN = (42.233333, 130.30)  # the port's reference point
RAJIN_BERTH = (42.22, 130.28)  # inside Rajin's port geofence
OFF_ZARUBINO = (42.60, 131.10)  # 2 nm south of Zarubino's geofence: not in it, within 10 km of it
VLADIVOSTOK = (43.10, 131.89)  # berths, in the port geofence
MEETING = (41.55, 131.10)  # ~55 nm SE of Rajin, ~48 nm from the coast
LONELY = (41.00, 131.50)  # ~80 nm from the coast
ELSEWHERE = (40.80, 132.50)  # ~115 nm from the coast


@dataclass(frozen=True)
class Ship:
    mmsi: int
    name: str
    imo: int | None = None
    ship_type: int = 70  # cargo


@dataclass(frozen=True)
class Fix:
    when: datetime
    mmsi: int
    lat: float
    lon: float
    sog: float
    cog: float


@dataclass(frozen=True)
class Static:
    when: datetime
    ship: Ship


Message = Fix | Static

ANGARA = Ship(273111111, "ANGARA", 9179842)  # watchlisted by its IMO
KOMET = Ship(273555555, "KOMET", 9000015)  # watchlisted by its MMSI
TANKER = Ship(667001111, "OCEAN PEARL", 9000003, ship_type=80)  # Sierra Leone, not watched
PASSER = Ship(273666666, "SWIFT")
TRAMP = Ship(273777777, "TRAMP")
COLLIER = Ship(352888888, "COAL STAR")
WATCHLIST = ("name,imo,mmsi,flag,reason,source\n"
             f"ANGARA,{ANGARA.imo},,Russia,test,encounters e2e\n"
             f"KOMET,,{KOMET.mmsi},Russia,test,encounters e2e\n")
HARBOUR = [Ship(273200001, "HARBOUR 1"), Ship(273200002, "HARBOUR 2")]  # not watched


# -- traffic -------------------------------------------------------------------------------------------
def moved(where: tuple[float, float], metres: float, course: float) -> tuple[float, float]:
    """`metres` from `where` on `course` (flat: the distances here are a few km at most)."""
    north = metres * math.cos(math.radians(course)) / M_PER_DEG_LAT
    east = metres * math.sin(math.radians(course)) / (M_PER_DEG_LAT * math.cos(math.radians(where[0])))
    return where[0] + north, where[1] + east


def sail(mmsi: int, start: datetime, a: tuple[float, float], b: tuple[float, float], knots: float = 12.0,
         ) -> tuple[list[Fix], datetime]:
    """A fix every EVERY from a towards b (b itself not included), and when it gets to b."""
    duration = timedelta(seconds=round(distance_nm(*a, *b) / knots * 3600))  # tag blocks: whole seconds
    course = bearing_deg(*a, *b)
    fixes = []
    t = start
    while t < start + duration:
        f = (t - start) / duration
        fixes.append(Fix(t, mmsi, a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, knots, course))
        t += EVERY
    return fixes, start + duration


def drift(mmsi: int, start: datetime, end: datetime, where: tuple[float, float], knots: float = 0.5,
          course: float = 90.0) -> list[Fix]:
    """A fix every EVERY from `start` until `end` of a ship drifting from `where` at `knots`."""
    fixes, t = [], start
    while t < end:
        metres = knots * 1852 * (t - start).total_seconds() / 3600
        fixes.append(Fix(t, mmsi, *moved(where, metres, course), knots, course))
        t += EVERY
    return fixes


def statics(ship: Ship, start: datetime, end: datetime) -> list[Static]:
    """Type 5 every hour, as a Class A ship sends it."""
    return [Static(start + HOUR * k, ship) for k in range(int((end - start) / HOUR) + 1)]


def with_harbour(messages: Sequence[Message]) -> list[Message]:
    """The scenario's traffic, and two ships moored 220 m apart at Vladivostok from T0 until 30 minutes
    after the scenario's last message (so ticks run after its ships part or go quiet)."""
    end = max(m.when for m in messages) + 30 * MINUTE
    harbour: list[Message] = []
    for i, ship in enumerate(HARBOUR):
        harbour += [*statics(ship, T0, end), *drift(ship.mmsi, T0 + 40 * i * timedelta(seconds=1), end,
                                                    (VLADIVOSTOK[0] + 0.002 * i, VLADIVOSTOK[1]), 0.0)]
    return [*messages, *harbour]


# -- the two forms ---------------------------------------------------------------------------------------
def in_time_order(messages: Iterable[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: m.when)


def as_nmea(messages: Iterable[Message]) -> str:
    lines = []
    for k, m in enumerate(in_time_order(messages)):
        if isinstance(m, Fix):
            fields: dict[str, Any] = {
                "type": 1, "mmsi": m.mmsi, "status": 5 if m.sog < 0.1 else 0, "speed": round(m.sog, 1),
                "lat": m.lat, "lon": m.lon, "course": round(m.cog, 1) % 360, "heading": round(m.cog) % 360,
                "second": m.when.second, "accuracy": 1}
        else:
            s = m.ship
            fields = {"type": 5, "mmsi": s.mmsi, "imo": s.imo or 0, "callsign": "", "shipname": s.name,
                      "ship_type": s.ship_type, "to_bow": 80, "to_stern": 20, "to_port": 8,
                      "to_starboard": 8, "epfd": 1, "draught": 6.5, "destination": ""}
        for sentence in encode(seq_id=k % 10, **fields):
            lines.append(tagged(sentence, int(m.when.timestamp()), STATION).decode())
    return "\n".join(lines) + "\n"


def as_aisstream(messages: Iterable[Message]) -> str:
    """aisstream.io's JSON lines: no station named, event time in MetaData.time_utc."""
    out = []
    for m in in_time_order(messages):
        stamp = m.when.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000 UTC")
        if isinstance(m, Fix):
            message = position_report(m.mmsi, time_utc=stamp, lat=m.lat, lon=m.lon, sog=m.sog, cog=m.cog,
                                      heading=round(m.cog) % 360, name="",
                                      NavigationalStatus=5 if m.sog < 0.1 else 0, Timestamp=m.when.second)
        else:
            s = m.ship
            message = ship_static_data(s.name.ljust(20, "@"), s.imo or 0, s.mmsi, time_utc=stamp)
            message["Message"]["ShipStaticData"]["Type"] = s.ship_type
        out.append(json.dumps(message) + "\n")
    return "".join(out)


FORMS: dict[str, tuple[str, Callable[[Iterable[Message]], str]]] = {
    "nmea": ("nmea", as_nmea), "aisstream": ("jsonl", as_aisstream)}
both_forms = pytest.mark.parametrize("form", list(FORMS))


def replay(db: str, tmp_path: Path, form: str, messages: Sequence[Message],
           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch | None = None,
           **settings: str) -> list[dict[str, Any]]:
    """The test watchlist imported, the traffic (with the harbour ships) replayed through the CLI: every
    alert stored."""
    for key, value in settings.items():
        assert monkeypatch is not None
        monkeypatch.setenv(f"AIS_WATCH_{key.upper()}", value)
    extension, render = FORMS[form]
    path, watchlist = tmp_path / f"encounters.{extension}", tmp_path / "watchlist.csv"
    path.write_text(render(with_harbour(messages)))
    watchlist.write_text(WATCHLIST)
    code, _, err = cli(capsys, "--db", db, "watchlist", "import", str(watchlist))
    assert code == 0, err
    code, _, err = cli(capsys, "--db", db, "replay", str(path), "--no-progress")
    assert code == 0, err
    return asyncio.run(stored_alerts(db))


def encounter_rows(db: str) -> list[dict[str, Any]]:
    c = encounters.c
    rows = asyncio.run(fetch(db, select(encounters).order_by(c.start, c.mmsi_a)))
    return [dict(r._mapping) for r in rows]


def kinds(alerts: list[dict[str, Any]], mmsi: int | None = None) -> Counter[str]:
    return Counter(a["kind"] for a in alerts if mmsi is None or a["mmsi"] == mmsi)


def seconds(a: datetime | str, b: datetime | str) -> float:
    """b - a in seconds, either given as an ISO string or a datetime."""
    def at(x: datetime | str) -> datetime:
        return datetime.fromisoformat(x) if isinstance(x, str) else x
    return (at(b) - at(a)).total_seconds()


# -- a. side by side, well offshore ------------------------------------------------------------------------
APART_AFTER = 3 * HOUR  # how long ANGARA and the tanker are together


def side_by_side() -> tuple[list[Message], datetime, datetime]:
    """The tanker drifts east at 0.5 kn from MEETING; ANGARA comes in at 10 kn from 5 nm west, stops 250 m
    north of it at about T0 + 30 min and drifts with it for 3 hours; then the tanker sails off south-east at
    12 kn, and ANGARA, 20 minutes later, west at 10 kn. Also (ANGARA alongside, the tanker gone)."""
    def tanker_at(t: datetime) -> tuple[float, float]:
        return moved(MEETING, 0.5 * 1852 * (t - T0).total_seconds() / 3600, 90.0)

    alongside = moved(tanker_at(T0 + 30 * MINUTE), 250.0, 0.0)
    approach, arrived = sail(ANGARA.mmsi, T0, moved(alongside, 5 * 1852, 270.0), alongside, 10.0)
    apart = arrived + APART_AFTER
    tanker = drift(TANKER.mmsi, T0 + 70 * timedelta(seconds=1), apart, MEETING)
    off, tanker_end = sail(TANKER.mmsi, apart, tanker_at(apart), (41.40, 131.35), 12.0)
    angara = drift(ANGARA.mmsi, arrived, apart + 20 * MINUTE, alongside)
    away, angara_end = sail(ANGARA.mmsi, apart + 20 * MINUTE, (angara[-1].lat, angara[-1].lon),
                            (41.60, 130.90), 10.0)
    traffic: list[Message] = [*statics(ANGARA, T0, angara_end), *statics(TANKER, T0, tanker_end),
                              *approach, *angara, *away, *tanker, *off]
    return traffic, arrived, apart


@both_forms
def test_a_a_watched_ship_alongside_a_tanker_offshore_is_one_encounter_amended_when_they_part(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    traffic, arrived, apart = side_by_side()
    assert not INDEX.within_km(*MEETING, 30), "the meeting is far from any port, anchorage or zone"
    alerts = replay(db_url, tmp_path, form, traffic, capsys)
    assert kinds(alerts) == {"encounter": 1}, [(a["kind"], a["mmsi"], a["place"]) for a in alerts]
    (alert,) = alerts
    details, partner = alert["details"], alert["details"]["partner"]
    assert (alert["mmsi"], alert["imo"], alert["vessel_name"]) == (ANGARA.mmsi, ANGARA.imo, "ANGARA")
    assert details["watchlist"]["key"] == "imo:9179842"
    assert (partner["mmsi"], partner["imo"], partner["name"]) == (TANKER.mmsi, TANKER.imo, TANKER.name)
    assert (partner["flag"], partner["ship_type"], partner["watched"]) == ("SL", 80, False)

    # Together from ANGARA's second fix alongside (its first still implies its approach speed) until the
    # tanker's first fix away from it: each end within a report interval and a tick or two.
    slack = (EVERY + 2 * MINUTE).total_seconds()
    assert 0 <= seconds(arrived, details["start"]) <= slack, details["start"]
    assert 0 <= seconds(apart, details["end"]) <= slack, details["end"]
    assert details["duration_seconds"] == seconds(details["start"], details["end"])
    assert abs(details["duration_seconds"] - APART_AFTER.total_seconds()) <= slack
    # Raised at once: as soon as the two had been together for the 2 hours, not when they parted.
    assert 2 * 3600 <= seconds(details["start"], alert["occurred_at"]) <= 2 * 3600 + 2 * 60
    assert 240 <= details["min_distance_m"] <= details["median_distance_m"] <= 260
    assert details["median_speed_kn"] < 1

    # Described where it happened: at sea, so far from Rajin (the nearest port), ~48 nm from the coast.
    place = re.fullmatch(r"at sea, (\d+) nm SE of Rajin", alert["place"] or "")
    assert place is not None, alert["place"]
    assert int(place.group(1)) == round(distance_nm(alert["lat"], alert["lon"], *RAJIN))
    assert distance_nm(alert["lat"], alert["lon"], *moved(MEETING, 250 / 2, 0.0)) < 2
    assert details["nearest_port"]["name"] == "Rajin" and 40 < details["shore_distance_nm"] < 60

    (row,) = encounter_rows(db_url)
    assert (row["mmsi_a"], row["mmsi_b"], row["watched"]) == (ANGARA.mmsi, TANKER.mmsi, True)
    assert row["start"] == datetime.fromisoformat(details["start"])
    assert row["end"] == row["last_together"] == datetime.fromisoformat(details["end"])
    assert row["duration_seconds"] == details["duration_seconds"]
    assert row["min_distance_m"] == details["min_distance_m"] and row["nearest_port"] == "Rajin"


def test_a_a_restart_while_they_are_together_still_ends_the_one_encounter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test a's recording in two runs of `ais-watch replay` on one database, as a service restarted half an
    hour after the encounter was raised, while the two are still together for another half hour."""
    traffic, arrived, apart = side_by_side()
    cut = arrived + 2 * HOUR + 30 * MINUTE
    messages = with_harbour(traffic)
    db = f"sqlite:///{tmp_path / 'restart.db'}"
    watchlist = tmp_path / "watchlist.csv"
    watchlist.write_text(WATCHLIST)
    assert cli(capsys, "--db", db, "watchlist", "import", str(watchlist))[0] == 0
    for k, part in enumerate(([m for m in messages if m.when < cut], [m for m in messages if m.when >= cut])):
        path = tmp_path / f"part{k}.nmea"
        path.write_text(as_nmea(part))
        code, _, err = cli(capsys, "--db", db, "replay", str(path), "--no-progress")
        assert code == 0, err
    alerts = asyncio.run(stored_alerts(db))
    assert kinds(alerts) == {"encounter": 1}, [(a["kind"], a["mmsi"]) for a in alerts]
    (row,) = encounter_rows(db)
    assert row["end"] is not None and 0 <= seconds(apart, row["end"]) <= (EVERY + 2 * MINUTE).total_seconds()
    assert alerts[0]["details"]["end"] == row["end"].isoformat().replace("+00:00", "Z")


# -- b. at speed ---------------------------------------------------------------------------------------------
def at_speed() -> tuple[list[Message], list[Fix], list[Fix]]:
    """ANGARA west and SWIFT east at 12 kn on tracks 400 m apart: they pass head-on about an hour in.
    KOMET and TRAMP east at 12 kn for 3 hours, 400 m abeam (in company). Also the fixes of each pair."""
    west, _ = sail(ANGARA.mmsi, T0, (41.30, 131.60), (41.30, 131.00))
    east, _ = sail(PASSER.mmsi, T0, moved((41.30, 131.00), 400, 180.0), moved((41.30, 131.60), 400, 180.0))
    company, end = sail(KOMET.mmsi, T0, (41.00, 131.60), (41.00, 132.40))
    abeam, _ = sail(TRAMP.mmsi, T0, moved((41.00, 131.60), 400, 180.0), moved((41.00, 132.40), 400, 180.0))
    abeam = [Fix(f.when + 30 * timedelta(seconds=1), f.mmsi, f.lat, f.lon, f.sog, f.cog) for f in abeam]
    traffic: list[Message] = [*statics(ANGARA, T0, end), *statics(KOMET, T0, end), *statics(PASSER, T0, end),
                              *statics(TRAMP, T0, end), *west, *east, *company, *abeam]
    return traffic, west + east, company + abeam


def closest_m(fixes: list[Fix], a: int, b: int, within: timedelta) -> float:
    """The closest two ships' fixes heard within `within` of each other came, in metres."""
    return min(distance_nm(f.lat, f.lon, g.lat, g.lon) * 1852 for f in fixes if f.mmsi == a
               for g in fixes if g.mmsi == b and abs(f.when - g.when) <= within)


@both_forms
def test_b_ships_passing_or_in_company_at_12_knots_are_no_encounter(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    traffic, passing, company = at_speed()
    assert closest_m(passing, ANGARA.mmsi, PASSER.mmsi, EVERY) < 500
    assert max(distance_nm(f.lat, f.lon, g.lat, g.lon) * 1852 for f in company if f.mmsi == KOMET.mmsi
               for g in company if g.mmsi == TRAMP.mmsi and abs(f.when - g.when) < MINUTE) < 500
    alerts = replay(db_url, tmp_path, form, traffic, capsys)
    assert alerts == [], [(a["kind"], a["mmsi"], a["place"]) for a in alerts]
    assert encounter_rows(db_url) == []


# -- c. in a port, and just outside one ------------------------------------------------------------------
HARBOUR_HOURS = 5 * HOUR


def in_and_near_port() -> list[Message]:
    """ANGARA moored 170 m from TRAMP at a Rajin berth for 5 hours; KOMET anchored 200 m from COAL STAR
    2 nm off Zarubino, outside its geofence, for 5 hours."""
    end = T0 + HARBOUR_HOURS
    alongside = moved(RAJIN_BERTH, 170, 90.0)
    anchored = moved(OFF_ZARUBINO, 200, 0.0)
    return [*(s for ship in (ANGARA, TRAMP, KOMET, COLLIER) for s in statics(ship, T0, end)),
            *drift(ANGARA.mmsi, T0, end, RAJIN_BERTH, 0.0),
            *drift(TRAMP.mmsi, T0 + MINUTE, end, alongside, 0.0),
            *drift(KOMET.mmsi, T0, end, OFF_ZARUBINO, 0.0),
            *drift(COLLIER.mmsi, T0 + MINUTE, end, anchored, 0.0)]


@both_forms
def test_c_ships_moored_together_in_a_port_or_anchored_near_one_are_no_encounter_and_no_loitering(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    assert [z.id for z in INDEX.zones_at(*RAJIN_BERTH)] == ["kp-rajin"]
    assert [z.id for z in INDEX.zones_at(*moved(RAJIN_BERTH, 170, 90.0))] == ["kp-rajin"]
    assert not INDEX.zones_at(*OFF_ZARUBINO) and not INDEX.zones_at(*moved(OFF_ZARUBINO, 200, 0.0))
    assert [z.id for z in INDEX.within_km(*OFF_ZARUBINO, 10)] == ["ru-zarubino"]
    alerts = replay(db_url, tmp_path, form, in_and_near_port(), capsys)
    # ANGARA's call at Rajin: the proof its fixes were in the port (and the only alert).
    assert kinds(alerts) == {"port_call": 1}, [(a["kind"], a["mmsi"], a["place"]) for a in alerts]
    assert alerts[0]["mmsi"] == ANGARA.mmsi and alerts[0]["place"] == "Rajin"
    assert encounter_rows(db_url) == []


def test_c_control_with_no_distance_from_ports_or_shore_required_the_pair_off_zarubino_meets_and_loiters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`encounter.min_port_distance_km` and `loitering.min_shore_distance_nm` 0: the pair off Zarubino is an
    encounter and KOMET loiters (so test c's absences can fail); ANGARA, in Rajin's port geofence itself,
    still does neither."""
    db = f"sqlite:///{tmp_path / 'control.db'}"
    alerts = replay(db, tmp_path, "nmea", in_and_near_port(), capsys, monkeypatch,
                    encounter_min_port_distance_km="0", loitering_min_shore_distance_nm="0")
    assert kinds(alerts, ANGARA.mmsi) == {"port_call": 1}, [(a["kind"], a["mmsi"]) for a in alerts]
    assert kinds(alerts, KOMET.mmsi) == {"encounter": 1, "loitering": 1}
    assert len(alerts) == 3, [(a["kind"], a["mmsi"]) for a in alerts]
    (alert,) = [a for a in alerts if a["kind"] == "encounter"]
    assert alert["details"]["partner"]["mmsi"] == COLLIER.mmsi
    assert [(r["mmsi_a"], r["mmsi_b"]) for r in encounter_rows(db)] == [(KOMET.mmsi, COLLIER.mmsi)]


# -- d. loitering -----------------------------------------------------------------------------------------
DRIFT_FOR = 5 * HOUR
BESIDE = (41.00, 132.00)  # KOMET drifts here, ~22 nm east of ANGARA's spot and ~98 nm from the coast


def drifters(passing_at: timedelta) -> tuple[list[Message], datetime]:
    """ANGARA drifts alone at LONELY and KOMET at BESIDE, at 0.5 kn for 5 hours, then both sail off at
    10 kn. SWIFT sails north at 12 kn, passing 1.5 km east of KOMET `passing_at` after T0. Also when the
    drift ends."""
    end = T0 + DRIFT_FOR
    out: list[Message] = []
    for ship, where in ((ANGARA, LONELY), (KOMET, BESIDE)):
        still = drift(ship.mmsi, T0, end, where)
        away, gone = sail(ship.mmsi, end, (still[-1].lat, still[-1].lon), moved(where, 8 * 1852, 45.0), 10.0)
        out += [*statics(ship, T0, gone), *still, *away]
    komet = moved(BESIDE, 0.5 * 1852 * passing_at.total_seconds() / 3600, 90.0)
    abreast = moved(komet, 1500, 90.0)
    north, south = moved(abreast, 5 * 1852, 0.0), moved(abreast, 5 * 1852, 180.0)
    passing, _ = sail(PASSER.mmsi, T0 + passing_at - 25 * MINUTE, south, north)
    return [*out, *statics(PASSER, passing[0].when, passing[-1].when), *passing], end


def loiterings(alerts: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {a["mmsi"]: a for a in alerts if a["kind"] == "loitering"}


def fixes_of(messages: Iterable[Message], mmsi: int) -> list[Fix]:
    return [m for m in messages if isinstance(m, Fix) and m.mmsi == mmsi]


@both_forms
def test_d_a_watched_ship_drifting_far_offshore_loiters_with_or_without_a_ship_passing_near(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    traffic, end = drifters(passing_at=2 * HOUR)
    fixes = [m for m in traffic if isinstance(m, Fix)]
    assert 1450 < closest_m(fixes, KOMET.mmsi, PASSER.mmsi, 2 * MINUTE) < 1700
    assert min(distance_nm(f.lat, f.lon, g.lat, g.lon) for f in fixes_of(fixes, ANGARA.mmsi)
               for g in fixes if g.mmsi != ANGARA.mmsi) > 10, "nobody comes near ANGARA"
    alerts = replay(db_url, tmp_path, form, traffic, capsys)
    assert kinds(alerts) == {"loitering": 2}, [(a["kind"], a["mmsi"], a["place"]) for a in alerts]
    alone, company = loiterings(alerts)[ANGARA.mmsi], loiterings(alerts)[KOMET.mmsi]
    slack = (EVERY + 2 * MINUTE).total_seconds()
    for alert, where in ((alone, LONELY), (company, BESIDE)):
        details = alert["details"]
        # Slow from its second fix (see test_d_a_drifter_is_slow_from_its_first_fix) and a tick.
        assert 0 <= seconds(T0, details["start"]) <= slack + EVERY.total_seconds(), details["start"]
        # Raised after 4 hours slow, while still drifting; amended with the end when it sailed off.
        assert 4 * 3600 <= seconds(details["start"], alert["occurred_at"]) <= 4 * 3600 + 2 * 60
        assert 0 <= seconds(end, details["end"]) <= slack, details["end"]
        assert details["duration_seconds"] == seconds(details["start"], details["end"])
        assert abs(details["duration_seconds"] - DRIFT_FOR.total_seconds()) <= slack + EVERY.total_seconds()
        assert distance_nm(alert["lat"], alert["lon"], *where) < 3
        assert details["shore_distance_nm"] > 70 and (alert["place"] or "").startswith("at sea, ")
    assert (alone["details"]["others_seen"], alone["details"]["neighbours"]) == (False, [])
    assert (company["details"]["others_seen"], company["details"]["neighbours"]) == (True, [PASSER.mmsi])
    assert encounter_rows(db_url) == []


def test_d_a_drifter_is_slow_from_its_first_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ANGARA's first fix says 0.5 kn: the tick after it (the one before its second fix, EVERY later) should
    already count it slow, so its spell starts within EVERY and a tick of T0, not after its second fix."""
    traffic, _ = drifters(passing_at=2 * HOUR)
    alerts = replay(f"sqlite:///{tmp_path / 'first.db'}", tmp_path, "nmea", traffic, capsys)
    start = loiterings(alerts)[ANGARA.mmsi]["details"]["start"]
    assert seconds(T0, start) <= (EVERY + MINUTE).total_seconds(), start


def test_d_a_ship_passing_after_the_loitering_alert_is_seen_in_the_amended_alert(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SWIFT passes KOMET 4.5 hours into its drift, after the alert (at 4 hours) said nobody was seen: the
    amendment at the end lists SWIFT, and must then say others were seen."""
    traffic, _ = drifters(passing_at=4 * HOUR + 30 * MINUTE)
    alerts = replay(f"sqlite:///{tmp_path / 'late.db'}", tmp_path, "nmea", traffic, capsys)
    details = loiterings(alerts)[KOMET.mmsi]["details"]
    assert details["end"] is not None and details["neighbours"] == [PASSER.mmsi]
    assert details["others_seen"] is True, details


# -- e. two unwatched ships ----------------------------------------------------------------------------------
@both_forms
def test_e_two_unwatched_ships_meeting_offshore_are_an_encounter_row_and_no_alert(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    """COAL STAR and TRAMP drift 300 m apart at 0.3 kn for 3 hours, ~115 nm from the coast; then TRAMP
    sails off."""
    apart = T0 + 3 * HOUR
    tramp = drift(TRAMP.mmsi, T0, apart, moved(ELSEWHERE, 300, 0.0), 0.3)
    off, end = sail(TRAMP.mmsi, apart, (tramp[-1].lat, tramp[-1].lon), (40.60, 132.80), 12.0)
    collier = drift(COLLIER.mmsi, T0 + MINUTE, end, ELSEWHERE, 0.3)
    traffic = [*statics(TRAMP, T0, end), *statics(COLLIER, T0, end), *tramp, *off, *collier]
    alerts = replay(db_url, tmp_path, form, traffic, capsys)
    assert alerts == [], [(a["kind"], a["mmsi"], a["place"]) for a in alerts]
    (row,) = encounter_rows(db_url)
    assert (row["mmsi_a"], row["mmsi_b"], row["watched"]) == (TRAMP.mmsi, COLLIER.mmsi, False)
    assert row["end"] is not None and abs(row["duration_seconds"] - 3 * 3600) <= (EVERY + 2 * MINUTE).seconds
    assert 290 <= row["min_distance_m"] <= 310 and row["shore_distance_nm"] > 100
