"""End to end through `ais-watch replay`: identity and position integrity (issue 13), on traffic of this
test's own making, in both forms a feed comes in (NMEA built with pyais's encoder behind tag blocks naming
the event time and station, and aisstream.io JSON), on SQLite and PostgreSQL.

- a. ANGARA (IMO 9179842) comes back renamed, under a Sierra Leone MMSI and call sign, keeping its IMO: one
  identity_change (mmsi, flag, name, call sign); a watched ship that only changes destination and ETA:
  none.
- b. A watched ship ~210-290 nm from Rajin whose transponder sends 40 minutes of "moored at Rajin" instead
  of its real position, then carries on where it really is: one position_anomaly (impossible_speed), no
  zone entry and no port call (believed, the same fixes make both: the control replay shows it), the
  false fixes stored with their mark and a segment of their own.
- c. One MMSI transmitted by two ships 240+ nm apart, interleaved: one position_anomaly (track_conflict).
- d. A watched ship moored for hours at a Kaliningrad quay, 3+ km inland by the coastline (on the river,
  inside the port geofence): no position_anomaly. Positions inland, far from any port: one on_land
  (Natural Earth's land, `ais_watch.land`).
- e. A watched ship silent 10 hours off Rajin (went_dark) that comes back 3 m deeper: draught_change,
  severity high, while dark, and the reappearance's alerts given the draught before and after; another
  back only 0.3 m deeper: no draught_change.
- f. A watched ship unheard for 10 minutes, then heard 2 nm further on (12 kn): no anomaly.

Ships moored at Vladivostok and Zarubino report all along: the feed, the station and (in JSON, which names
no station) the areas stay alive, so no silence here is a feed outage or a reception loss.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ais_watch.geo import bearing_deg, distance_nm
from ais_watch.store.schema import identity_history, positions
from ais_watch.zones import ZoneRegistry
from tests.helpers.aisstream import position_report, ship_static_data
from tests.helpers.alerts import stored_alerts
from tests.helpers.cli import cli, jsonl
from tests.helpers.db import fetch
from tests.helpers.nmea import encode, tagged

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 4, 6, 0, tzinfo=UTC)
STATION = "E2E-INTEGRITY"
EVERY = timedelta(minutes=2)  # a Class A ship under way
HOUR = timedelta(hours=1)
INDEX = ZoneRegistry().index

VLADIVOSTOK = (43.10, 131.89)  # berths, in the port geofence
ZARUBINO = (42.633, 131.083)  # in the port geofence, and in the 1-degree area off Rajin (scenario e)
RAJIN = (42.2333, 130.30)  # Rajin's reference point: in the port and in the territorial sea zone
KALININGRAD_QUAY = (54.70, 20.4833)  # on the Pregolya: 3+ km from the coastline, in the port geofence
INLAND = (44.00, 133.00)  # Primorye's hills: 60 nm from the nearest port, ~90 nm from the sea lane below
INLAND_TOO = (43.50, 133.90)  # 57 nm from the nearest port


@dataclass(frozen=True)
class Ship:
    mmsi: int
    name: str
    imo: int | None = None
    call_sign: str = ""
    destination: str = ""
    draught: float = 6.5
    eta: tuple[int, int, int, int] = (0, 0, 24, 60)  # month, day, hour, minute: "not available"


@dataclass(frozen=True)
class Fix:
    when: datetime
    mmsi: int
    lat: float
    lon: float
    sog: float
    cog: float

    @property
    def status(self) -> int:
        return 5 if self.sog < 0.5 else 0  # moored, or under way using engine


@dataclass(frozen=True)
class Static:
    when: datetime
    ship: Ship


Message = Fix | Static

# -- ships: a watchlist of this test's own, by IMO or MMSI (IMOs made up but ANGARA's, check digits valid)
ANGARA = Ship(273111111, "ANGARA", 9179842, "UBXX")  # in the project's default watchlist by this IMO
RENAMED = Ship(667001234, "SEA LION 7", 9179842, "9LU2345")  # Sierra Leone (MID 667)
VOYAGER = Ship(273444444, "VOYAGER", None, "UBVV", "VLADIVOSTOK", eta=(3, 4, 18, 0))
SPOOFER = Ship(273555555, "KOMET", 9000015, "UBKM", "PUSAN")
TWIN = Ship(273666666, "TWIN STAR", None, "UBTW")
MOORED = Ship(273777777, "BALTIC QUAY", None, "UBBQ")
LANDLUBBER = Ship(273888888, "GLITCH", None, "UBGL")
DEEP = Ship(273121212, "DEEP LOAD", 9000027, "UBDL", draught=6.5)
LIGHT = Ship(273131313, "LIGHT LOAD", 9000039, "UBLL", draught=6.5)
STEADY = Ship(273141414, "STEADY", None, "UBST")
WATCHLIST = "name,imo,mmsi,flag,reason,source\n" + "".join(
    f"{s.name},{s.imo or ''},{'' if s.imo else s.mmsi},Russia,test,integrity e2e\n"
    for s in (ANGARA, VOYAGER, SPOOFER, TWIN, MOORED, LANDLUBBER, DEEP, LIGHT, STEADY))
BACKGROUND = [Ship(273200000 + i, f"HARBOUR {i}") for i in range(1, 5)]  # not watched


# -- traffic -------------------------------------------------------------------------------------------
def sail(mmsi: int, start: datetime, a: tuple[float, float], b: tuple[float, float], knots: float = 12.0,
         every: timedelta = EVERY) -> tuple[list[Fix], datetime]:
    """A fix every `every` from a towards b (b itself not included), and when it gets to b."""
    duration = timedelta(seconds=round(distance_nm(*a, *b) / knots * 3600))  # tag blocks: whole seconds
    return along(mmsi, start, a, b, knots, [start + every * k for k in range(int(duration / every) + 1)
                                           if every * k < duration]), start + duration


def along(mmsi: int, start: datetime, a: tuple[float, float], b: tuple[float, float], knots: float,
          times: Iterable[datetime]) -> list[Fix]:
    """Fixes at `times` of a ship that leaves a for b at `start`, at `knots`."""
    hours = distance_nm(*a, *b) / knots
    course = bearing_deg(*a, *b)
    fixes = []
    for t in times:
        f = (t - start).total_seconds() / 3600 / hours
        fixes.append(Fix(t, mmsi, a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, knots, course))
    return fixes


def moored(mmsi: int, where: tuple[float, float], start: datetime, end: datetime,
           every: timedelta = timedelta(minutes=3)) -> list[Fix]:
    fixes, t = [], start
    while t < end:
        fixes.append(Fix(t, mmsi, *where, 0.0, 0.0))
        t += every
    return fixes


def statics(ship: Ship, start: datetime, end: datetime) -> list[Static]:
    """Type 5 every hour, as a Class A ship sends it."""
    return [Static(start + HOUR * k, ship) for k in range(int((end - start) / HOUR) + 1)]


def background(end: datetime) -> list[Message]:
    """Harbour ships at Vladivostok and Zarubino, heard every 3 minutes from T0 to `end`: a live feed,
    station and areas."""
    out: list[Message] = []
    for i, ship in enumerate(BACKGROUND):
        where = VLADIVOSTOK if i < 2 else ZARUBINO
        out += [Static(T0, ship), *moored(ship.mmsi, (where[0] + i * 0.002, where[1]),
                                          T0 + timedelta(seconds=20 * i), end)]
    return out


# -- the two forms ---------------------------------------------------------------------------------------
def in_time_order(messages: Iterable[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: m.when)


def as_nmea(messages: Iterable[Message]) -> str:
    lines = []
    for k, m in enumerate(in_time_order(messages)):
        if isinstance(m, Fix):
            fields: dict[str, Any] = {
                "type": 1, "mmsi": m.mmsi, "status": m.status, "speed": round(m.sog, 1), "lat": m.lat,
                "lon": m.lon, "course": round(m.cog, 1) % 360, "heading": round(m.cog) % 360,
                "second": m.when.second, "accuracy": 1}
        else:
            s = m.ship
            month, day, hour, minute = s.eta
            fields = {"type": 5, "mmsi": s.mmsi, "imo": s.imo or 0, "callsign": s.call_sign,
                      "shipname": s.name, "ship_type": 70, "to_bow": 80, "to_stern": 20, "to_port": 8,
                      "to_starboard": 8, "epfd": 1, "month": month, "day": day, "hour": hour,
                      "minute": minute, "draught": s.draught, "destination": s.destination}
        for sentence in encode(seq_id=k % 10, **fields):
            lines.append(tagged(sentence, int(m.when.timestamp()), STATION).decode())
    return "\n".join(lines) + "\n"


def as_aisstream(messages: Iterable[Message]) -> str:
    """aisstream.io's JSON lines: no station named, event time in MetaData.time_utc."""
    names: dict[int, str] = {}
    out = []
    for m in in_time_order(messages):
        stamp = m.when.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000 UTC")
        if isinstance(m, Fix):
            message = position_report(m.mmsi, time_utc=stamp, lat=m.lat, lon=m.lon, sog=m.sog, cog=m.cog,
                                      heading=round(m.cog) % 360, name=names.get(m.mmsi, ""),
                                      NavigationalStatus=m.status, Timestamp=m.when.second)
        else:
            s = m.ship
            names[s.mmsi] = s.name
            message = ship_static_data(s.name.ljust(20, "@"), s.imo or 0, s.mmsi, time_utc=stamp)
            month, day, hour, minute = s.eta
            message["Message"]["ShipStaticData"].update({
                "CallSign": s.call_sign.ljust(7), "Destination": s.destination.ljust(20, "@"),
                "MaximumStaticDraught": s.draught, "Type": 70,
                "Eta": {"Month": month, "Day": day, "Hour": hour, "Minute": minute}})
        out.append(json.dumps(message) + "\n")
    return "".join(out)


FORMS: dict[str, tuple[str, Callable[[Iterable[Message]], str]]] = {
    "nmea": ("nmea", as_nmea), "aisstream": ("jsonl", as_aisstream)}
both_forms = pytest.mark.parametrize("form", list(FORMS))


def replay(db: str, tmp_path: Path, form: str, messages: Sequence[Message],
           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch | None = None,
           **settings: str) -> list[dict[str, Any]]:
    """The test watchlist imported, the traffic replayed through the CLI: every alert stored."""
    for key, value in settings.items():
        assert monkeypatch is not None
        monkeypatch.setenv(f"AIS_WATCH_{key.upper()}", value)
    extension, render = FORMS[form]
    path, watchlist = tmp_path / f"integrity.{extension}", tmp_path / "watchlist.csv"
    path.write_text(render(messages))
    watchlist.write_text(WATCHLIST)
    code, _, err = cli(capsys, "--db", db, "watchlist", "import", str(watchlist))
    assert code == 0, err
    code, _, err = cli(capsys, "--db", db, "replay", str(path), "--no-progress")
    assert code == 0, err
    return asyncio.run(stored_alerts(db))


def stored_positions(db: str, mmsi: int) -> list[dict[str, Any]]:
    """The positions table's rows of one MMSI, in time order."""
    c = positions.c
    rows = asyncio.run(fetch(db, select(c.time, c.lat, c.lon, c.segment, c.anomaly)
                             .where(c.mmsi == mmsi).order_by(c.time)))
    return [dict(r._mapping) for r in rows]


def kinds(alerts: list[dict[str, Any]], mmsi: int | None = None) -> Counter[str]:
    return Counter(a["kind"] for a in alerts if mmsi is None or a["mmsi"] == mmsi)


def anomalies(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["kind"] == "position_anomaly"]


def near(lat: float, lon: float, where: tuple[float, float]) -> bool:
    """At `where`, to the 1/10,000 minute NMEA carries positions in."""
    return abs(lat - where[0]) < 1e-5 and abs(lon - where[1]) < 1e-5


# -- a. identity -------------------------------------------------------------------------------------------
def renamed_traffic() -> list[Message]:
    """ANGARA sails east for 2 hours, is silent 30 minutes, and comes on again where it was, renamed
    SEA LION 7 under a Sierra Leone MMSI and call sign (same IMO). VOYAGER changes its destination and ETA
    twice along the way."""
    before, mid = sail(ANGARA.mmsi, T0, (42.30, 132.10), (42.05, 132.90))
    back = mid + timedelta(minutes=30)
    after, end = sail(RENAMED.mmsi, back, (42.05, 132.90), (41.80, 133.70))
    voyager, v_end = sail(VOYAGER.mmsi, T0, (41.60, 134.20), (41.00, 135.50))
    voyage_data = [Static(T0, VOYAGER),
                   Static(T0 + HOUR, replace(VOYAGER, destination="NAKHODKA", eta=(3, 5, 6, 0))),
                   Static(T0 + 2 * HOUR, replace(VOYAGER, destination="BUSAN", eta=(3, 6, 12, 30)))]
    return [*statics(ANGARA, T0, mid - timedelta(minutes=5)), *before, *statics(RENAMED, back, end), *after,
            *voyage_data, *voyager, *background(max(end, v_end))]


@both_forms
def test_a_renamed_reflagged_ship_keeping_its_imo_is_one_identity_change_and_voyage_data_none(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    alerts = replay(db_url, tmp_path, form, renamed_traffic(), capsys)
    assert kinds(alerts) == {"identity_change": 1}, [(a["kind"], a["mmsi"]) for a in alerts]
    (change,) = alerts
    assert (change["mmsi"], change["imo"], change["vessel_name"]) == (RENAMED.mmsi, 9179842, "SEA LION 7")
    assert change["details"]["fields"] == {
        "mmsi": {"old": ANGARA.mmsi, "new": RENAMED.mmsi},
        "flag": {"old": "RU", "new": "SL"},
        "name": {"old": "ANGARA", "new": "SEA LION 7"},
        "call_sign": {"old": "UBXX", "new": "9LU2345"},
    }
    assert "conflict" not in change["details"], "the new MMSI came on where the old one went off"
    assert change["details"]["previous_identity"]["mmsi"] == ANGARA.mmsi
    assert change["details"]["watchlist"]["key"] == "imo:9179842"
    assert change["severity"] == "high"

    # VOYAGER's destination changes were seen (identity history has them) and are not identity.
    c = identity_history.c
    rows = asyncio.run(fetch(db_url, select(c.new_value).where(c.mmsi == VOYAGER.mmsi,
                                                                c.field == "destination").order_by(c.time)))
    assert [r.new_value for r in rows] == ["VLADIVOSTOK", "NAKHODKA", "BUSAN"]


CLONE = Ship(667009999, "ANGARA", 9179842, "9LAN")  # ANGARA's IMO, a Sierra Leone MMSI


@both_forms
def test_a_an_imo_broadcast_by_two_mmsis_far_apart_at_once_is_a_conflict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    """ANGARA sails east, 50 nm south of Vladivostok, all along; 30 minutes in, a second transponder 240+ nm
    away starts sending ANGARA's IMO under a Sierra Leone MMSI, its type 5 first (as a transponder switched
    on does), then its positions every 2 minutes while ANGARA's own carry on: one is a false identity."""
    angara, end = sail(ANGARA.mmsi, T0, (42.30, 132.10), (41.80, 133.70))
    on = T0 + timedelta(minutes=30)
    clone, _ = sail(CLONE.mmsi, on, (38.00, 135.00), (37.60, 136.00))
    clone = [f for f in clone if f.when < end]
    traffic = [*statics(ANGARA, T0, end), *angara, *statics(CLONE, on, end), *clone, *background(end)]
    alerts = replay(f"sqlite:///{tmp_path / 'clone.db'}", tmp_path, form, traffic, capsys)
    assert kinds(alerts) == {"identity_change": 1}, [(a["kind"], a["mmsi"]) for a in alerts]
    (change,) = alerts
    assert change["details"]["fields"]["mmsi"] == {"old": ANGARA.mmsi, "new": CLONE.mmsi}
    conflict = change["details"].get("conflict")
    assert conflict is not None, "both MMSIs heard at once, 240+ nm apart, and no conflict"
    assert conflict["mmsis"] == [ANGARA.mmsi, CLONE.mmsi] and conflict["distance_nm"] > 200
    assert change["severity"] == "critical"


# -- b. spoofed fixes in a North Korean port -------------------------------------------------------------
SPOOF_FROM = T0 + 2 * HOUR
SPOOF_FOR = timedelta(minutes=40)  # longer than a port call's 30 min dwell, shorter than confirm_after


def spoofed_traffic() -> tuple[list[Message], list[Fix]]:
    """KOMET sails south-east ~210-290 nm from Rajin. For 40 minutes its transponder sends "moored at
    Rajin" every 2 minutes instead of where it is; then it carries on, on its real track."""
    real, end = sail(SPOOFER.mmsi, T0, (40.20, 134.10), (39.40, 135.40))
    spoof = [Fix(SPOOF_FROM + EVERY * k, SPOOFER.mmsi, *RAJIN, 0.0, 0.0)
             for k in range(SPOOF_FOR // EVERY + 1)]
    hidden = [f for f in real if SPOOF_FROM <= f.when <= spoof[-1].when]
    kept = [f for f in real if f not in hidden]
    assert len(hidden) >= 20 and kept[-1].when - spoof[-1].when > HOUR
    return [*statics(SPOOFER, T0, end), *kept, *spoof, *background(end)], spoof


@both_forms
def test_b_spoofed_fixes_in_rajin_are_one_impossible_speed_and_no_zone_entry_or_port_call(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    traffic, spoof = spoofed_traffic()
    assert {z.id for z in INDEX.zones_at(*RAJIN)} == {"kp-rajin", "kp-territorial-sea"}
    alerts = replay(db_url, tmp_path, form, traffic, capsys)
    assert kinds(alerts) == {"position_anomaly": 1}, [(a["kind"], a["mmsi"], a["place"]) for a in alerts]
    (anomaly,) = alerts
    details = anomaly["details"]
    assert anomaly["mmsi"] == SPOOFER.mmsi and details["reason"] == "impossible_speed"
    assert near(anomaly["lat"], anomaly["lon"], RAJIN) and "Rajin" in anomaly["place"]
    assert details["fixes"] == len(spoof)
    assert datetime.fromisoformat(details["first_false_fix"]) == spoof[0].when
    assert datetime.fromisoformat(details["last_false_fix"]) == spoof[-1].when
    real = details["real_position"]
    assert distance_nm(real["lat"], real["lon"], *RAJIN) > 200 and details["distance_nm"] > 200
    assert details["implied_speed_kn"] > details["max_speed_kn"] == 50

    for query in (["--vessel", str(SPOOFER.mmsi)], ["--port", "Rajin"]):
        code, out, _ = cli(capsys, "--db", db_url, "port-calls", *query, "--format", "jsonl")
        assert code == 0 and jsonl(out) == [], query

    rows = stored_positions(db_url, SPOOFER.mmsi)
    marked = [r for r in rows if r["anomaly"] is not None]
    believed = [r for r in rows if r["anomaly"] is None]
    assert all(near(r["lat"], r["lon"], RAJIN) for r in marked) and len(marked) == len(spoof)
    assert {r["anomaly"] for r in marked} == {"impossible_speed"}
    assert len({r["segment"] for r in marked}) == 1 and len({r["segment"] for r in believed}) == 1
    assert marked[0]["segment"] != believed[0]["segment"]
    assert details["segment"] == marked[0]["segment"] and details["main_segment"] == believed[0]["segment"]
    assert all(distance_nm(r["lat"], r["lon"], *RAJIN) > 200 for r in believed)


def test_b_control_believed_the_same_fixes_make_a_zone_entry_and_a_port_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed limit raised past any jump: the spoofed fixes are believed, and make what test b says
    they must not (so its absences can fail)."""
    traffic, _ = spoofed_traffic()
    alerts = replay(f"sqlite:///{tmp_path / 'control.db'}", tmp_path, "nmea", traffic, capsys, monkeypatch,
                    integrity_max_speed_kn="100000")
    found = kinds(alerts, SPOOFER.mmsi)
    assert found["position_anomaly"] == 0
    assert found["zone_entry"] == 1 and found["port_call"] == 1, found


@pytest.mark.parametrize("where", ["in port", "on land"])
def test_b_d_a_false_position_in_port_or_on_land_is_not_described_as_at_sea(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    """The place a person reads: the spoofed fixes of test b are in Rajin's port geofence; the glitch of
    test d is 60 nm inland. Neither is "at sea"."""
    if where == "in port":
        traffic, _ = spoofed_traffic()
        name = "Rajin"
    else:
        track, end = sail(LANDLUBBER.mmsi, T0, (42.55, 133.30), (42.30, 134.40))
        glitch = [Fix(T0 + HOUR + EVERY * k, LANDLUBBER.mmsi, *INLAND, 12.0, 100.0) for k in range(5)]
        track = [f for f in track if not glitch[0].when <= f.when <= glitch[-1].when]
        traffic, name = [*statics(LANDLUBBER, T0, end), *track, *glitch, *background(end)], ""
    alerts = replay(f"sqlite:///{tmp_path / 'place.db'}", tmp_path, "nmea", traffic, capsys)
    (anomaly,) = anomalies(alerts)
    assert name in anomaly["place"] and not anomaly["place"].startswith("at sea"), anomaly["place"]


# -- c. one MMSI, two ships ----------------------------------------------------------------------------
def twin_traffic() -> tuple[list[Message], list[Fix], list[Fix]]:
    """TWIN STAR sails east off North Korea, heard every 2 minutes; 30 minutes on, a second ship 240+ nm
    south-east transmits the same MMSI every 3 minutes, interleaved, for 2 hours."""
    first, end = sail(TWIN.mmsi, T0, (41.40, 131.80), (41.20, 133.00))
    second, _ = sail(TWIN.mmsi, T0 + timedelta(minutes=31), (38.00, 135.00), (37.60, 136.00),
                     every=timedelta(minutes=3))
    second = [f for f in second if f.when < end - timedelta(minutes=20)]
    return [*statics(TWIN, T0, end), *first, *second, *background(end)], first, second


@both_forms
def test_c_one_mmsi_on_two_ships_far_apart_is_one_track_conflict(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    traffic, first, second = twin_traffic()
    assert min(distance_nm(a.lat, a.lon, b.lat, b.lon) for a in first for b in second) > 200
    alerts = replay(db_url, tmp_path, form, traffic, capsys)
    assert kinds(alerts) == {"position_anomaly": 1}, [(a["kind"], a["mmsi"], a["details"]) for a in alerts]
    (anomaly,) = alerts
    assert anomaly["mmsi"] == TWIN.mmsi and anomaly["details"]["reason"] == "track_conflict"
    assert anomaly["details"]["distance_nm"] > 200
    assert anomaly["lat"] < 38.1 and anomaly["lon"] > 134.9, "placed where the second transmitter is"

    rows = stored_positions(db_url, TWIN.mmsi)
    assert len(rows) == len(first) + len(second)
    main = [r for r in rows if r["lat"] > 40]
    other = [r for r in rows if r["lat"] < 40]
    assert {r["anomaly"] for r in main} == {None} and len({r["segment"] for r in main}) == 1
    assert None not in {r["anomaly"] for r in other} and len({r["segment"] for r in other}) == 1
    assert main[0]["segment"] != other[0]["segment"]
    # Its first fix could have been a one-off jump; from the second on it is the other transmitter.
    assert [r["anomaly"] for r in other[1:]] == ["track_conflict"] * (len(other) - 1)


# -- d. land ---------------------------------------------------------------------------------------------
@both_forms
def test_d_a_ship_moored_at_a_quay_inside_a_port_geofence_is_no_anomaly(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    """Eight hours at a Kaliningrad berth on the Pregolya, 3+ km from the coastline a land mask draws
    (checked against GSHHG with roaring-landmask): inland by the mask, in the port by the geofence."""
    assert [z.id for z in INDEX.zones_at(*KALININGRAD_QUAY)] == ["ru-kaliningrad"]
    end = T0 + 8 * HOUR
    traffic = [*statics(MOORED, T0, end), *moored(MOORED.mmsi, KALININGRAD_QUAY, T0, end, EVERY),
               *background(end)]
    alerts = replay(db_url, tmp_path, form, traffic, capsys)
    assert anomalies(alerts) == [], anomalies(alerts)
    # Believed: the ship moored in its port (a port call, the proof its positions went that far).
    assert kinds(alerts, MOORED.mmsi) == {"port_call": 1}, alerts
    rows = stored_positions(db_url, MOORED.mmsi)
    assert len(rows) == 8 * 30 and {r["anomaly"] for r in rows} == {None}


@both_forms
def test_d_positions_inland_far_from_any_port_are_one_on_land_an_episode(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    """GLITCH sails east off Nakhodka. An hour in, its positions are in Primorye's hills for 8 minutes (5
    fixes: over before `integrity.episode_gap`); two hours in, somewhere else inland for 20 minutes (11
    fixes: it outlasts the gap). Both spots are 60+ nm from any port. Two episodes: two on_land, not 16."""
    assert not INDEX.zones_at(*INLAND) and not INDEX.zones_at(*INLAND_TOO)
    track, end = sail(LANDLUBBER.mmsi, T0, (42.55, 133.30), (42.30, 134.40))
    short = [Fix(T0 + HOUR + EVERY * k, LANDLUBBER.mmsi, *INLAND, 12.0, 100.0) for k in range(5)]
    long = [Fix(T0 + 2 * HOUR + EVERY * k, LANDLUBBER.mmsi, *INLAND_TOO, 12.0, 100.0) for k in range(11)]
    track = [f for f in track if not any(g[0].when <= f.when <= g[-1].when for g in (short, long))]
    alerts = replay(db_url, tmp_path, form, [*statics(LANDLUBBER, T0, end), *track, *short, *long,
                                              *background(end)], capsys)
    assert kinds(alerts) == {"position_anomaly": 2}, [(a["kind"], a["details"]) for a in alerts]
    first, second = sorted(alerts, key=lambda a: a["occurred_at"])
    assert {first["details"]["reason"], second["details"]["reason"]} == {"on_land"}
    assert first["mmsi"] == second["mmsi"] == LANDLUBBER.mmsi
    assert near(first["lat"], first["lon"], INLAND) and near(second["lat"], second["lon"], INLAND_TOO)
    assert first["details"]["fixes"] == len(short)
    assert datetime.fromisoformat(first["details"]["first_false_fix"]) == short[0].when
    assert datetime.fromisoformat(second["details"]["first_false_fix"]) == long[0].when
    rows = stored_positions(db_url, LANDLUBBER.mmsi)
    inland = [r for r in rows if near(r["lat"], r["lon"], INLAND) or near(r["lat"], r["lon"], INLAND_TOO)]
    assert [r["anomaly"] for r in inland] == ["on_land"] * (len(short) + len(long))
    assert {r["anomaly"] for r in rows if r not in inland} == {None}
    assert len({r["segment"] for r in rows}) == 1, "positions on land start no segment of their own"


# -- e. draught across a dark silence -------------------------------------------------------------------
DARK_FOR = timedelta(hours=10)  # the dark threshold is 6 hours


def dark_run(ship: Ship, start: tuple[float, float], silent_at: tuple[float, float],
             back_at: tuple[float, float], draught_after: float) -> tuple[list[Message], datetime, datetime]:
    """Sails to `silent_at`, silent 10 hours, heard again at `back_at`; its type 5 ten minutes later says
    the new draught. Also (last heard, heard again)."""
    out, silent = sail(ship.mmsi, T0, start, silent_at)
    back = out[-1].when + DARK_FOR
    home, end = sail(ship.mmsi, back, back_at, (42.50, 132.30))
    loaded = replace(ship, draught=draught_after)
    return ([*statics(ship, T0, silent - timedelta(minutes=1)), *out, *home,
             *statics(loaded, back + timedelta(minutes=10), end)], out[-1].when, back)


@both_forms
def test_e_three_metres_deeper_after_a_dark_silence_is_a_high_draught_change_and_0_3_m_none(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    deep, deep_silent, deep_back = dark_run(DEEP, (42.40, 131.70), (42.25, 131.20), (42.05, 131.30), 9.5)
    light, _, _ = dark_run(LIGHT, (42.45, 131.80), (42.20, 131.25), (42.00, 131.35), 6.8)
    end = max(m.when for m in deep + light)
    alerts = replay(db_url, tmp_path, form, [*deep, *light, *background(end)], capsys)
    assert not [a for a in alerts if a["mmsi"] not in (DEEP.mmsi, LIGHT.mmsi)], alerts
    dark = {"went_dark": 1, "reappeared": 1, "possible_dark_port_call": 1}
    assert kinds(alerts, DEEP.mmsi) == {**dark, "draught_change": 1}, alerts
    assert kinds(alerts, LIGHT.mmsi) == dark, "0.3 m is under draught.min_change"

    (change,) = [a for a in alerts if a["kind"] == "draught_change"]
    details = change["details"]
    assert change["severity"] == "high" and details["while_dark"] is True
    assert (details["old"], details["new"], details["change"]) == (6.5, 9.5, 3.0)
    silence = details["silence"]
    assert datetime.fromisoformat(silence["dark_from"]) == deep_silent
    assert datetime.fromisoformat(silence["dark_until"]) == deep_back
    assert silence["hours"] == round((deep_back - deep_silent).total_seconds() / 3600, 1)

    for a in alerts:
        if a["kind"] in ("reappeared", "possible_dark_port_call"):
            after = 9.5 if a["mmsi"] == DEEP.mmsi else None  # 0.3 m deeper is no draught change
            assert (a["details"]["draught_before"], a["details"]["draught_after"]) == (6.5, after), a


# -- f. a short gap ------------------------------------------------------------------------------------------
@both_forms
def test_f_ten_minutes_unheard_then_two_miles_on_is_no_anomaly(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    """STEADY at 12 kn, heard every 2 minutes but for 10 minutes an hour in: 2 nm on when heard again."""
    a, b, end = (41.60, 134.20), (41.00, 135.50), T0 + 2 * HOUR
    gap = (T0 + HOUR, T0 + HOUR + timedelta(minutes=10))
    heard = along(STEADY.mmsi, T0, a, b, 12.0, [T0 + EVERY * k for k in range(60)
                                                 if not gap[0] < T0 + EVERY * k < gap[1]])
    before, after = (next(f for f in heard if f.when == t) for t in gap)
    assert 1.99 < distance_nm(before.lat, before.lon, after.lat, after.lon) < 2.01
    alerts = replay(db_url, tmp_path, form, [*statics(STEADY, T0, end), *heard, *background(end)], capsys)
    assert alerts == []
    rows = stored_positions(db_url, STEADY.mmsi)
    assert len(rows) == len(heard) and {r["anomaly"] for r in rows} == {None}
    assert len({r["segment"] for r in rows}) == 1
