"""End to end through `ais-watch replay` and `ais-watch port-calls`: NMEA built with pyais's encoder for a
watchlisted ship (ANGARA, IMO 9179842, in the default watchlist by IMO only) that comes in from sea to
Rajin, lies moored there for 6 hours and leaves; and a ship not on the watchlist passing Rajin offshore at
12 kn."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ais_watch.simulate import Leg, Ship, merged, voyage
from ais_watch.zones import ZoneRegistry
from tests.helpers.alerts import stored_alerts
from tests.helpers.cli import cli, jsonl

pytestmark = pytest.mark.integration

T0 = datetime(2024, 2, 10, 3, 0, tzinfo=UTC)
ANGARA = Ship(mmsi=273111111, name="ANGARA", imo=9179842, call_sign="UBXX", destination="RAJIN")
PASSER = Ship(mmsi=440123456, name="PASSING BY", imo=9000003, destination="VLADIVOSTOK")
FROM_SEA = (42.05, 130.70)
OFF_RAJIN = (42.15, 130.45)  # in the approaches / territorial sea, not in the port
BERTH = (42.2333, 130.30)  # Rajin's reference point
MOORED = timedelta(hours=6)
INDEX = ZoneRegistry().index
RAJIN = INDEX.find("Rajin")


def write_feed(path: Path) -> None:
    angara = voyage(ANGARA, T0, *FROM_SEA, [
        Leg(*OFF_RAJIN, speed_kn=12),
        Leg(*BERTH, speed_kn=6, stay=MOORED),  # in, moored 6 h
        Leg(*OFF_RAJIN, speed_kn=6),
        Leg(*FROM_SEA, speed_kn=12),
    ])
    passer = voyage(PASSER, T0, 42.10, 130.10, [Leg(42.10, 130.80, speed_kn=12),
                                                Leg(42.40, 131.50, speed_kn=12, stay=MOORED)])
    path.write_text("\n".join(merged(angara, passer)) + "\n")


def expected_call(db: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """From ANGARA's stored track: its first fix inside Rajin, and its first fix after the stay more than
    the 1 km exit margin outside the polygon."""
    code, out, _ = cli(capsys, "--db", db, "track", str(ANGARA.mmsi), "--format", "jsonl")
    assert code == 0
    fixes = jsonl(out)
    inside = [i for i, f in enumerate(fixes) if RAJIN in INDEX.zones_at(f["lat"], f["lon"])]
    assert inside, "the simulated voyage goes into Rajin"
    arrival = fixes[inside[0]]["time"]
    departure = next(f["time"] for f in fixes[inside[-1]:]
                     if INDEX.distance_km(RAJIN, f["lat"], f["lon"]) > 1.0)
    return arrival, departure


def test_a_watchlisted_call_at_rajin_end_to_end(db_url: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rajin.nmea"
    write_feed(path)
    db = db_url
    code, _, _ = cli(capsys, "--db", db, "replay", str(path), "--no-progress")
    assert code == 0
    arrival, departure = expected_call(db, capsys)

    code, out, _ = cli(capsys, "--db", db, "port-calls", "--format", "jsonl")
    assert code == 0
    rows = jsonl(out)
    assert len(rows) == 1, "one call, by ANGARA; the passing ship made none"
    (row,) = rows
    assert row["mmsi"] == ANGARA.mmsi and row["imo"] == ANGARA.imo and row["vessel_name"] == "ANGARA"
    assert (row["port_id"], row["port_name"], row["country"], row["kind"]) == (
        "kp-rajin", "Rajin", "KP", "port")
    assert (row["arrival"], row["departure"]) == (arrival, departure)
    assert row["evidence"] == "entry+stop+exit"
    hours = row["duration_seconds"] / 3600
    assert 6.0 < hours < 7.0, f"6 h moored plus manoeuvring, got {hours:.2f} h"
    assert row["duration_seconds"] == (datetime.fromisoformat(departure) - datetime.fromisoformat(arrival)
                                       ).total_seconds()

    alerts = asyncio.run(stored_alerts(db))
    assert not [a for a in alerts if a["mmsi"] == PASSER.mmsi], "the passing ship is not watchlisted"
    angara = [a for a in alerts if a["mmsi"] == ANGARA.mmsi]
    assert {a["kind"] for a in angara} <= {"port_call", "port_departure", "zone_entry", "zone_exit"}, angara
    port = [a for a in angara if a["kind"].startswith("port_")]
    assert [a["kind"] for a in port] == ["port_call", "port_departure"], angara
    call, leaving = port
    assert call["occurred_at"] == arrival and call["place"] == RAJIN.name
    assert call["imo"] == ANGARA.imo
    assert call["details"]["watchlist"]["key"] == "imo:9179842"
    assert call["details"]["watchlist"]["match"] == "imo"
    assert call["details"]["evidence"] == "entry+stop"
    assert leaving["occurred_at"] == departure and leaving["place"] == RAJIN.name
    assert leaving["details"]["duration_seconds"] == row["duration_seconds"]
    assert leaving["details"]["arrival"] == arrival

    for query in (["--vessel", "IMO:9179842"], ["--port", "Najin"], ["--port", "kp-rajin"],
                  ["--vessel", str(ANGARA.mmsi), "--port", "Rajin"]):
        code, out, _ = cli(capsys, "--db", db, "port-calls", *query, "--format", "jsonl")
        assert code == 0 and jsonl(out) == rows, query
    code, out, _ = cli(capsys, "--db", db, "port-calls", "--vessel", str(PASSER.mmsi))
    assert code == 0 and out == ""
    code, out, err = cli(capsys, "--db", db, "port-calls", "--port", "Nowhere")
    assert code == 2 and out == ""
    assert "Nowhere" in err and "no port" in err, err
    code, out, _ = cli(capsys, "--db", db, "port-calls", "--port", "Rajin", "--format", "table")
    assert code == 0 and "ANGARA" in out and "Rajin" in out

    # The same recording again: the same rows and alerts, nothing twice.
    code, _, _ = cli(capsys, "--db", db, "replay", str(path), "--no-progress")
    assert code == 0
    code, out, _ = cli(capsys, "--db", db, "port-calls", "--format", "jsonl")
    assert code == 0 and jsonl(out) == rows
    assert asyncio.run(stored_alerts(db)) == alerts
