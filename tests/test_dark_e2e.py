"""End to end through `ais-watch replay`: NMEA built with pyais's encoder for a watchlisted ship (ANGARA,
IMO 9179842, in the default watchlist) that leaves Vostochny for Rajin, goes silent 40 nm short of it for
about three days and comes back; a ferry keeps transmitting the whole time, so the feed is alive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ais_watch.cli import main
from ais_watch.simulate import Leg, Ship, merged, voyage
from tests.helpers.alerts import stored_alerts

pytestmark = pytest.mark.integration

T0 = datetime(2023, 9, 1, tzinfo=UTC)
ANGARA = Ship(mmsi=273111111, name="ANGARA", imo=9179842, call_sign="UBXX", destination="")
FERRY = Ship(mmsi=273222222, name="SEA FERRY", destination="VLADIVOSTOK")
VOSTOCHNY = (42.75, 133.08)
OFF_RAJIN = (42.25, 131.20)  # about 40 nm east of Rajin, on the way in from Vostochny
RAJIN = (42.24, 130.31)


def ferry(until: timedelta) -> Any:
    """A ship moored at Vladivostok reporting every 10 minutes: the feed stays alive."""
    return voyage(FERRY, T0, 43.10, 131.89, [Leg(43.10, 131.89, 1.0, stay=until)],
                  moored_interval=timedelta(minutes=10))


def write_feed(path: Path, legs: list[Leg]) -> None:
    """ANGARA's voyage, and the ferry for as long as it lasts (after its end ANGARA would go dark)."""
    ship = list(voyage(ANGARA, T0, *VOSTOCHNY, legs))
    lines = merged(ship, ferry(ship[-1][0] - T0))
    path.write_text("\n".join(lines) + "\n")


def replay(db: str, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--db", db, "replay", str(path), "--no-progress"]) == 0
    return capsys.readouterr().out


def test_silent_run_to_rajin_raises_dark_reappeared_and_dark_port_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legs = [
        Leg(*VOSTOCHNY, speed_kn=0.1, stay=timedelta(hours=3)),  # moored at Vostochny
        Leg(*OFF_RAJIN, speed_kn=12),  # visible until 40 nm short of Rajin
        Leg(*RAJIN, speed_kn=10, dark=True, stay=timedelta(hours=60)),  # dark: into Rajin, loads
        Leg(*OFF_RAJIN, speed_kn=10, dark=True),  # dark: back out
        Leg(42.5, 132.3, speed_kn=12),  # seen again, heading home
    ]
    path = tmp_path / "angara.nmea"
    write_feed(path, legs)
    db = f"sqlite:///{tmp_path / 'e2e.db'}"
    replay(db, path, capsys)
    alerts = asyncio.run(stored_alerts(db))
    kinds = [a["kind"] for a in alerts if a["mmsi"] == ANGARA.mmsi]
    # Its (visible) call at Vostochny first, then the dark run into Rajin.
    expected = ["port_call", "port_departure", "went_dark", "reappeared", "possible_dark_port_call"]
    assert kinds == expected, alerts
    assert not [a for a in alerts if a["kind"].startswith("feed_")], "the ferry kept the feed alive"
    assert not [a for a in alerts if a["mmsi"] == FERRY.mmsi], "the ferry is not watchlisted"

    _, _, dark, back, call = (a for a in alerts if a["mmsi"] == ANGARA.mmsi)
    assert dark["imo"] == ANGARA.imo and dark["vessel_name"] == "ANGARA"
    assert dark["details"]["watchlist"]["key"] == "imo:9179842"
    assert dark["details"]["watchlist"]["match"] == "imo"
    last_seen = datetime.fromisoformat(dark["details"]["last_seen"])
    assert abs(dark["lat"] - OFF_RAJIN[0]) < 0.05 and abs(dark["lon"] - OFF_RAJIN[1]) < 0.1
    assert datetime.fromisoformat(dark["occurred_at"]) == last_seen + timedelta(hours=6)
    assert dark["details"]["nearest_port"] is not None

    gap = back["details"]["gap_seconds"] / 3600
    assert 60 < gap < 80, f"about three days dark, got {gap:.1f} h"
    assert back["details"]["distance_nm"] < 5  # it came back out where it went in
    assert back["details"]["implausible_speed"] is False

    candidates = call["details"]["candidates"]
    assert candidates[0]["name"] == call["place"]
    # Rajin leads or follows Chongjin closely. By sea Chongjin is 73 nm from where the ship went silent
    # (the old great circle x 1.3 said 89) and its last course (251, set for the waypoint off Rajin) points
    # nearer Chongjin (245) than Rajin (269), so on these positions alone the two are close calls.
    assert [c["name"] for c in candidates[:2]] in (["Rajin", "Chongjin"], ["Chongjin", "Rajin"]), candidates
    assert call["details"]["distance_basis"].startswith("sea route")
    assert all(c["min_sailing_hours"] * 3600 < back["details"]["gap_seconds"] for c in candidates)


def test_replaying_again_raises_nothing_new(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Alerts have deterministic keys: the same recording replayed twice is the same alerts, once."""
    legs = [Leg(*OFF_RAJIN, speed_kn=12), Leg(*RAJIN, speed_kn=10, dark=True, stay=timedelta(hours=20)),
            Leg(42.5, 132.3, speed_kn=12)]
    path = tmp_path / "twice.nmea"
    write_feed(path, legs)
    db = f"sqlite:///{tmp_path / 'twice.db'}"
    replay(db, path, capsys)
    first = asyncio.run(stored_alerts(db))
    replay(db, path, capsys)
    assert asyncio.run(stored_alerts(db)) == first
    dark_kinds = [a["kind"] for a in first if a["kind"] in ("went_dark", "reappeared")]
    assert dark_kinds == ["went_dark", "reappeared"]


def test_a_feed_outage_is_not_a_dark_ship(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole feed stops for 8 hours (longer than the 6 h dark threshold): one feed_outage and its
    feed_restored, and no went_dark for the watched ship, which was only as silent as the feed."""
    before = merged(voyage(ANGARA, T0, *VOSTOCHNY, [Leg(*OFF_RAJIN, speed_kn=12)]), ferry(timedelta(hours=7)))
    restart = T0 + timedelta(hours=15)
    after = merged(voyage(ANGARA, restart, *OFF_RAJIN, [Leg(42.5, 132.3, speed_kn=12)]),
                   voyage(FERRY, restart, 43.10, 131.89, [Leg(43.10, 131.89, 1.0, stay=timedelta(hours=3))]))
    path = tmp_path / "outage.nmea"
    path.write_text("\n".join(before + after) + "\n")
    db = f"sqlite:///{tmp_path / 'outage.db'}"
    replay(db, path, capsys)
    alerts = asyncio.run(stored_alerts(db))
    assert [a["kind"] for a in alerts] == ["feed_outage", "feed_restored"], alerts
    outage, restored = alerts
    assert outage["place"] == restored["place"] == "replay:outage.nmea"
    assert 7.5 * 3600 < restored["details"]["outage_seconds"] < 8.5 * 3600


def test_a_short_coverage_hole_raises_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Silent for 4 hours (under the 6 h threshold) while the feed is alive: no alert at all."""
    legs = [Leg(*OFF_RAJIN, speed_kn=12), Leg(42.30, 130.90, speed_kn=5, dark=True, stay=timedelta(hours=2)),
            Leg(42.5, 132.3, speed_kn=12)]
    path = tmp_path / "hole.nmea"
    write_feed(path, legs)
    db = f"sqlite:///{tmp_path / 'hole.db'}"
    replay(db, path, capsys)
    assert asyncio.run(stored_alerts(db)) == []
