"""A watched fleet in every state the fleet board tells apart, made the way a real one is: watchlist entries
imported (associations written as the encounter step writes them), then 12 hours of simulated NMEA ending
at the moment asked replayed through `ais-watch replay`, every detector on. What the board then says comes
from the port calls, alerts and dark-detector state the pipeline stored.

- PORTER sails into Rajin and is moored there: in port (a port_call alert, open).
- SAILOR (listed by MMSI only) leaves Vostochny and is at sea: its last port call departed.
- DARKIE is last heard DARK_HOURS before the end, at sea: went_dark, dark.
- SPOOFER sends one fix 200 nm off its track mid-voyage: position_anomaly (impossible_speed), anomalous.
- GHOST is listed and never heard: not heard.
- NAMELY is listed by name only ("Namely One"), heard as "NAMELY ONE": matched by name, at sea.
- PARTNER is associated (met PORTER), at sea; LAPSED was associated until an hour ago: not on the board.
- FERRY is not watched: it keeps the feed alive and must not be on the board.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.cli import main
from ais_watch.simulate import Leg, Ship, merged, position_lines, voyage
from ais_watch.store.schema import watchlist
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.store import upsert
from tests.helpers.db import engine_on

SPAN = timedelta(hours=12)
DARK_HOURS = 8  # DARKIE's silence at the end (went_dark after 6)
RAJIN_BERTH = (42.2333, 130.30)
OFF_RAJIN = (42.15, 130.45)
VOSTOCHNY_BERTH = (42.757, 133.06)

PORTER = Ship(mmsi=273100001, name="PORTER", imo=9300001, call_sign="PORT1")
SAILOR = Ship(mmsi=273100002, name="SAILOR", imo=None, call_sign="SAIL2")
DARKIE = Ship(mmsi=273100003, name="DARKIE", imo=9300013, call_sign="DARK3")
SPOOFER = Ship(mmsi=273100004, name="SPOOFER", imo=9300025, call_sign="SPOF4")
NAMELY = Ship(mmsi=273100008, name="NAMELY ONE", imo=None, call_sign="NAME8")
PARTNER = Ship(mmsi=352000005, name="PARTNER <B>&", imo=None, call_sign="PART5")
LAPSED = Ship(mmsi=352000006, name="LAPSED", imo=None, call_sign="LAPS6")
FERRY = Ship(mmsi=273999001, name="SEA FERRY", imo=None, call_sign="FERRY")
GHOST_IMO = 9300037
SPOOF_AT = (38.50, 135.00)  # SPOOFER's false fix, about 200 nm from its track

ENTRIES = [
    WatchEntry(name="PORTER", imo=PORTER.imo, mmsi=None, flag="Russia", reason="calls at Rajin",
               source="test"),
    WatchEntry(name="SAILOR", imo=None, mmsi=SAILOR.mmsi, flag=None, reason="MMSI only", source="test"),
    WatchEntry(name="DARKIE", imo=DARKIE.imo, mmsi=None, flag="Russia", reason="goes dark", source="test"),
    WatchEntry(name="SPOOFER", imo=SPOOFER.imo, mmsi=None, flag=None, reason="spoofs", source="test"),
    WatchEntry(name="GHOST", imo=GHOST_IMO, mmsi=None, flag="Comoros", reason="never heard", source="test"),
    WatchEntry(name="Namely One", imo=None, mmsi=None, flag=None, reason="a name only", source="test"),
]


def keys() -> dict[str, str]:
    """Each ship's watchlist key, by name."""
    return {"PORTER": f"imo:{PORTER.imo}", "SAILOR": f"mmsi:{SAILOR.mmsi}", "DARKIE": f"imo:{DARKIE.imo}",
            "SPOOFER": f"imo:{SPOOFER.imo}", "GHOST": f"imo:{GHOST_IMO}", "NAMELY": "name:NAMELY ONE",
            "PARTNER": f"mmsi:{PARTNER.mmsi}", "LAPSED": f"mmsi:{LAPSED.mmsi}"}


def association(partner: Ship, met: datetime) -> dict[str, Any]:
    """What an association records (as the encounter step writes it): who it met, and the encounter."""
    return {"met": {"key": keys()["PORTER"], "mmsi": PORTER.mmsi, "name": PORTER.name},
            "encounter": {"start": met.isoformat(), "lat": 41.9, "lon": 131.2},
            "partner": {"mmsi": partner.mmsi, "name": partner.name}}


async def watch_fleet(engine: AsyncEngine, end: datetime) -> None:
    """The listed entries imported; PARTNER associated until a day after `end`, LAPSED until an hour
    before it (both met PORTER two days before)."""
    await upsert(engine, ENTRIES)
    stamp = datetime.now(UTC)
    rows = [
        {"key": keys()[name], "name": ship.name, "imo": None, "mmsi": ship.mmsi, "flag": None,
         "reason": f"met {PORTER.name}", "source": "association", "aliases": [], "tags": ["associated"],
         "association": association(ship, end - timedelta(days=2)), "expires_at": expires,
         "created_at": stamp, "updated_at": stamp}
        for name, ship, expires in (("PARTNER", PARTNER, end + timedelta(days=1)),
                                    ("LAPSED", LAPSED, end - timedelta(hours=1)))]
    async with engine.begin() as conn:
        await conn.execute(insert(watchlist), rows)


def fleet_lines(end: datetime) -> list[str]:
    """The fleet's NMEA from SPAN before `end` to `end`, in time order."""
    t0 = end - SPAN
    porter = voyage(PORTER, t0, *OFF_RAJIN, [Leg(*RAJIN_BERTH, 8.0, stay=SPAN - timedelta(hours=1))],
                    final_fix=False)
    sailor = voyage(SAILOR, t0, *VOSTOCHNY_BERTH, [Leg(*VOSTOCHNY_BERTH, 0.1, stay=timedelta(hours=3)),
                                                   Leg(42.40, 134.60, 9.0)], final_fix=False)
    darkie = [(t, line) for t, line in voyage(DARKIE, t0, 41.50, 131.60, [Leg(41.50, 133.60, 6.0)])
              if t <= end - timedelta(hours=DARK_HOURS)]
    spoofer = list(voyage(SPOOFER, t0, 40.50, 131.00, [Leg(40.50, 133.50, 10.0)], final_fix=False))
    spoof_time = end - timedelta(hours=3)
    spoof = [(spoof_time, line) for line in position_lines(SPOOFER, spoof_time, *SPOOF_AT, 10.0, 90.0, 0)]
    # The ferry reports every 10 minutes: the feed stays alive, so DARKIE's silence is its own.
    ferry = voyage(FERRY, t0, 43.10, 131.89, [Leg(43.10, 131.89, 1.0, stay=SPAN)],
                   moored_interval=timedelta(minutes=10), final_fix=False)
    at_sea = [voyage(ship, t0, lat, 131.5, [Leg(lat, 133.5, 10.0)], final_fix=False)
              for ship, lat in ((NAMELY, 41.0), (PARTNER, 40.0), (LAPSED, 39.5))]
    lines = [(t, line) for t, line in (*porter, *sailor, *darkie, *spoofer, *spoof, *ferry,
                                        *(pair for stream in at_sea for pair in stream)) if t <= end]
    return merged(lines)


def build_fleet(db_url: str, folder: Path, end: datetime) -> None:
    """The fleet watched and its 12 hours up to `end` replayed into the database."""
    async def watch() -> None:
        async with engine_on(db_url) as engine:
            await watch_fleet(engine, end)

    asyncio.run(watch())
    feed = folder / "fleet.nmea"
    feed.write_text("\n".join(fleet_lines(end)) + "\n")
    code = main(["--db", db_url, "replay", str(feed), "--no-progress"])
    assert code == 0, "the fleet's replay failed"
