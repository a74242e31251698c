"""Incidents end to end through `ais-watch replay`: a watchlisted ship (ANGARA, IMO 9179842, in the default
watchlist) leaves Vostochny, goes silent 40 nm short of Rajin for about three days, longer than the 48 h
incident window, and comes back; the went_dark, reappeared and possible_dark_port_call it raises are one
incident, and the same recording replayed into another database gives the same incidents."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ais_watch.cli import main
from ais_watch.simulate import Leg, Ship, merged, voyage
from ais_watch.store.schema import alerts
from tests.helpers.db import fetch

pytestmark = pytest.mark.integration

T0 = datetime(2023, 9, 1, tzinfo=UTC)
ANGARA = Ship(mmsi=273111111, name="ANGARA", imo=9179842, call_sign="UBXX", destination="")
FERRY = Ship(mmsi=273222222, name="SEA FERRY", destination="VLADIVOSTOK")
VOSTOCHNY = (42.75, 133.08)
OFF_RAJIN = (42.25, 131.20)
RAJIN = (42.24, 130.31)
LEGS = [
    Leg(*VOSTOCHNY, speed_kn=0.1, stay=timedelta(hours=3)),
    Leg(*OFF_RAJIN, speed_kn=12),  # visible until 40 nm short of Rajin
    Leg(*RAJIN, speed_kn=10, dark=True, stay=timedelta(hours=60)),  # dark: into Rajin, loads
    Leg(*OFF_RAJIN, speed_kn=10, dark=True),  # dark: back out
    Leg(42.5, 132.3, speed_kn=12),  # seen again, heading home
]


def write_feed(path: Path) -> None:
    """ANGARA's voyage, and a ferry moored at Vladivostok all along, so the feed stays alive."""
    ship = list(voyage(ANGARA, T0, *VOSTOCHNY, LEGS))
    ferry = voyage(FERRY, T0, 43.10, 131.89, [Leg(43.10, 131.89, 1.0, stay=ship[-1][0] - T0)],
                   moored_interval=timedelta(minutes=10))
    path.write_text("\n".join(merged(ship, ferry)) + "\n")


def grouping(db: str) -> list[tuple[str, Any, Any]]:
    rows = asyncio.run(fetch(db, select(alerts.c.kind, alerts.c.occurred_at, alerts.c.incident_id)
                             .where(alerts.c.mmsi == ANGARA.mmsi).order_by(alerts.c.id)))
    return [(r.kind, r.occurred_at, r.incident_id) for r in rows]


def test_a_dark_call_at_rajin_is_one_incident_whatever_the_silence_and_a_replay_gives_the_same(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "angara.nmea"
    write_feed(path)
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("first.db", "second.db"))
    for db in (first, second):
        assert main(["--db", db, "replay", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    got = grouping(first)
    kinds = [kind for kind, _, _ in got]
    assert {"went_dark", "reappeared", "possible_dark_port_call"} <= set(kinds), kinds
    dark_at = next(at for kind, at, _ in got if kind == "went_dark")
    back_at = next(at for kind, at, _ in got if kind == "reappeared")
    assert back_at - dark_at > timedelta(hours=48)  # longer than the window: the silence rule joins them
    assert len({incident for _, _, incident in got}) == 1, got
    assert grouping(second) == got

    assert main(["--db", first, "incidents", "--vessel", str(ANGARA.mmsi)]) == 0
    (incident,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert incident["title"] == "ANGARA" and incident["alert_count"] == len(got)
    assert incident["severity"] == "critical" and incident["state"] == "open"
