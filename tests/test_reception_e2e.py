"""End to end through `ais-watch replay`, in both forms a feed comes in: NMEA whose tag blocks name the
receiving station, and aisstream.io JSON, which names none (areas stand in for stations).

Three watched ships over 60 hours, with background traffic all along:
- HARBOUR SHIP, moored at Vladivostok, where the one station (or, in JSON, the one area) goes down for
  8 hours while Nakhodka's carries on: a reception loss, and no went_dark for the ship;
- SATELLITE SHIP, far out in the Pacific, heard only on satellite passes every 2.5 to 4 hours like the
  ships around it: no went_dark for ordinary revisit gaps;
- DARK SHIP, which leaves Vostochny for Rajin, switches its transponder off 40 nm short of it for 30 hours
  and comes back, while its area is heard normally: went_dark, reappeared, possible_dark_port_call.
With reception off (the old rules) the same feed makes the harbour ship "go dark": the test would fail."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ais_watch.cli import main
from ais_watch.geo import bearing_deg, describe_place, distance_nm
from ais_watch.simulate import Ship, position_lines
from ais_watch.zones import ZoneRegistry
from tests.helpers.aisstream import position_report
from tests.helpers.alerts import stored_alerts

pytestmark = pytest.mark.integration

T0 = datetime(2023, 9, 1, tzinfo=UTC)
HOURS = 60
VLADIVOSTOK = (43.10, 131.89)
NAKHODKA = (42.80, 132.88)
PACIFIC = (35.5, 160.5)
VOSTOCHNY = (42.75, 133.08)
OFF_RAJIN = (42.25, 131.20)  # about 40 nm east of Rajin
BACK_AT_SEA = (42.5, 132.3)
VLAD_DOWN = (20.0, 28.0)  # hours the Vladivostok station (area) is not heard
HARBOUR_SHIP, SATELLITE_SHIP, DARK_SHIP = 273100001, 273300001, 273400001
WATCHLIST = ("name,imo,mmsi,flag,reason,source\n"
             f"HARBOUR SHIP,,{HARBOUR_SHIP},Russia,test,reception e2e\n"
             f"SATELLITE SHIP,,{SATELLITE_SHIP},Russia,test,reception e2e\n"
             f"DARK SHIP,,{DARK_SHIP},Russia,test,reception e2e\n")


@dataclass(frozen=True)
class Fix:
    when: datetime
    mmsi: int
    lat: float
    lon: float
    sog: float
    cog: float
    station: str


def moored(mmsi: int, where: tuple[float, float], station: str, every: timedelta,
           hours: tuple[float, float] = (0, HOURS), skip: tuple[float, float] | None = None) -> list[Fix]:
    fixes, t = [], T0 + timedelta(hours=hours[0]) + timedelta(seconds=mmsi % 97)
    while t < T0 + timedelta(hours=hours[1]):
        h = (t - T0).total_seconds() / 3600
        if skip is None or not skip[0] <= h < skip[1]:
            fixes.append(Fix(t, mmsi, where[0] + (mmsi % 11) * 0.002, where[1], 0.1, 0.0, station))
        t += every
    return fixes


def sail(mmsi: int, start: datetime, a: tuple[float, float], b: tuple[float, float], station: str,
         knots: float = 12.0) -> tuple[list[Fix], datetime]:
    hours = distance_nm(*a, *b) / knots
    steps = int(hours * 30)  # every 2 minutes
    course = bearing_deg(*a, *b)
    fixes = [Fix(start + timedelta(hours=hours * i / steps), mmsi, a[0] + (b[0] - a[0]) * i / steps,
                 a[1] + (b[1] - a[1]) * i / steps, knots, course, station) for i in range(steps)]
    return fixes, start + timedelta(hours=hours)


def satellite_passes(mmsi: int, offset_minutes: float) -> list[Fix]:
    """Heard every 2.5 to 4 hours, as a satellite-only area hears a ship."""
    fixes, t, k = [], T0 + timedelta(minutes=offset_minutes), 0
    while t < T0 + timedelta(hours=HOURS):
        fixes.append(Fix(t, mmsi, PACIFIC[0] + (mmsi % 5) * 0.05, PACIFIC[1] + k * 0.3, 11.0, 90.0, "SAT-1"))
        t += timedelta(hours=(2.5, 4.0, 3.0, 3.5)[k % 4])
        k += 1
    return fixes


def scenario() -> list[Fix]:
    fixes: list[Fix] = []
    two_minutes = timedelta(minutes=2)
    for mmsi in (HARBOUR_SHIP, *range(273100002, 273100008)):  # the harbour, its station down 20-28 h
        fixes += moored(mmsi, VLADIVOSTOK, "VLAD", two_minutes, skip=VLAD_DOWN)
    for mmsi in range(273200001, 273200008):  # Nakhodka, heard all along
        fixes += moored(mmsi, NAKHODKA, "NAKH", two_minutes)
    for i, mmsi in enumerate((SATELLITE_SHIP, *range(273300002, 273300010))):
        fixes += satellite_passes(mmsi, offset_minutes=7 * i)
    dark = moored(DARK_SHIP, VOSTOCHNY, "NAKH", two_minutes, hours=(0, 3))
    leg, at_rajin = sail(DARK_SHIP, T0 + timedelta(hours=3), VOSTOCHNY, OFF_RAJIN, "NAKH")
    back, home = sail(DARK_SHIP, T0 + timedelta(hours=45), BACK_AT_SEA, NAKHODKA, "NAKH")
    start_of_stay = (home - T0).total_seconds() / 3600
    stay = moored(DARK_SHIP, NAKHODKA, "NAKH", two_minutes, hours=(start_of_stay, HOURS))
    assert at_rajin < T0 + timedelta(hours=11)  # then 34 hours with the transponder off
    return sorted(fixes + dark + leg + back + stay, key=lambda f: f.when)


def as_nmea(fixes: list[Fix]) -> str:
    ships: dict[int, Ship] = {}
    lines = []
    for f in fixes:
        ship = ships.setdefault(f.mmsi, Ship(mmsi=f.mmsi, name=f"SHIP {f.mmsi}"))
        lines += position_lines(ship, f.when, f.lat, f.lon, f.sog, f.cog, 5 if f.sog < 1 else 0, f.station)
    return "\n".join(lines) + "\n"


def as_aisstream(fixes: list[Fix]) -> str:
    """aisstream.io's JSON: no station is named."""
    def message(f: Fix) -> dict[str, Any]:
        return position_report(f.mmsi, time_utc=f.when.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000 UTC"),
                               lat=f.lat, lon=f.lon, sog=f.sog, cog=f.cog, heading=round(f.cog) % 360,
                               name=f"SHIP {f.mmsi}", NavigationalStatus=5 if f.sog < 1 else 0,
                               Timestamp=f.when.second)
    return "".join(json.dumps(message(f)) + "\n" for f in fixes)


def replay(tmp_path: Path, name: str, feed: str, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str], **settings: str) -> list[dict[str, Any]]:
    for key, value in settings.items():
        monkeypatch.setenv(f"AIS_WATCH_{key.upper()}", value)
    path, watchlist = tmp_path / name, tmp_path / "watchlist.csv"
    path.write_text(feed)
    watchlist.write_text(WATCHLIST)
    db = f"sqlite:///{tmp_path / (name + '.db')}"
    assert main(["--db", db, "watchlist", "import", str(watchlist)]) == 0
    assert main(["--db", db, "replay", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    return asyncio.run(stored_alerts(db))


def of(alerts: list[dict[str, Any]], mmsi: int) -> list[str]:
    """The dark-ship alerts of one vessel (its port calls are another detector's)."""
    return [a["kind"] for a in alerts
            if a["mmsi"] == mmsi and a["kind"] not in ("port_call", "port_departure")]


@pytest.mark.parametrize(("form", "render", "lost"), [
    ("nmea", as_nmea, "station VLAD (replay:reception-nmea.nmea)"),
    ("aisstream", as_aisstream, "area 43°N 131°E (replay:reception-aisstream.jsonl)"),
])
def test_a_station_or_area_outage_and_satellite_gaps_are_not_dark_but_a_real_silence_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        form: str, render: Any, lost: str) -> None:
    extension = "nmea" if form == "nmea" else "jsonl"
    alerts = replay(tmp_path, f"reception-{form}.{extension}", render(scenario()), monkeypatch, capsys)
    losses = [a for a in alerts if a["kind"] == "reception_loss"]
    assert [a["place"] for a in losses] == [lost], [(a["kind"], a["place"]) for a in alerts if not a["mmsi"]]
    (loss,) = losses
    assert HARBOUR_SHIP in loss["details"]["vessels"] and loss["details"]["vessels_last_heard"] == 7
    assert loss["details"]["nearest_port"]["name"] == "Vladivostok"
    assert abs(datetime.fromisoformat(loss["details"]["since"]) - (T0 + timedelta(hours=VLAD_DOWN[0]))
               ) < timedelta(minutes=3)
    (restored,) = [a for a in alerts if a["kind"] == "reception_restored"]
    assert restored["place"] == lost and restored["details"]["outage_seconds"] > 7.9 * 3600
    assert not [a for a in alerts if a["kind"].startswith("feed_")], "the feed never stopped"

    assert of(alerts, HARBOUR_SHIP) == [], "its station was down, not its transponder"
    assert of(alerts, SATELLITE_SHIP) == [], "ordinary satellite revisit gaps"
    assert of(alerts, DARK_SHIP) == ["went_dark", "reappeared", "possible_dark_port_call"]
    dark = next(a for a in alerts if a["mmsi"] == DARK_SHIP and a["kind"] == "went_dark")
    ports = ZoneRegistry([]).index.ports()
    assert dark["place"] == describe_place(dark["lat"], dark["lon"], ports)
    assert dark["place"].startswith("at sea, ") and " nm " in dark["place"]  # "at sea, 24 nm S of Zarubino"
    assert dark["details"]["threshold_basis"]["chosen_by"] == "setting"
    assert dark["details"]["threshold_seconds"] == 6 * 3600
    assert dark["details"]["expected_reports"] > 100, "heard every 2 minutes before it went silent"
    call = next(a for a in alerts if a["mmsi"] == DARK_SHIP and a["kind"] == "possible_dark_port_call")
    # Off Rajin for 34 hours: Rajin and Chongjin (42 nm apart by sea) lead, in either order by course.
    assert {c["name"] for c in call["details"]["candidates"][:2]} == {"Rajin", "Chongjin"}
    assert call["place"] in ("Rajin", "Chongjin")


def test_with_reception_off_the_same_station_outage_would_be_a_ship_gone_dark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The old rules, on the same NMEA: the harbour ship 'goes dark' when its station does, and the
    satellite ship on its revisit gaps is judged against the plain 6 hours (gaps of 4 h pass it)."""
    alerts = replay(tmp_path, "old.nmea", as_nmea(scenario()), monkeypatch, capsys,
                    reception_enabled="false", dark_cadence_factor="0", dark_satellite_threshold="6")
    assert of(alerts, HARBOUR_SHIP) == ["went_dark", "reappeared"]
    assert [a for a in alerts if a["kind"].startswith("reception")] == []
    assert of(alerts, DARK_SHIP)[:2] == ["went_dark", "reappeared"]
