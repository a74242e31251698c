"""A day and a half of a watched ship at sea off North Korea, as a CSV a replay reads: every alert kind a
ship at sea can raise, each where a port's name alone would mislead.

ANGARA (IMO 9179842, in the default watchlist; a made-up MMSI) drifts with a tanker ~77 nm SE of Rajin
(an encounter), stays there slow once it has gone (loitering), sails into the North Korean territorial
sea off Chongjin (zone entry), falls silent there for 19 hours (went dark, then reappeared outside the
zone: zone exit, and a possible dark port call at Chongjin), sends one fix 200 nm away (a position
anomaly), renames itself (an identity change) and reports a deeper draught (a draught change). A filler
ship far south reports throughout, so the replay's event-time clock runs through the silence."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2023, 9, 12, tzinfo=UTC)
ANGARA, TANKER, FILLER = 273355410, 352222222, 440123456
ANGARA_IMO = 9179842
AT_SEA = (41.40, 131.60)  # ~77 nm SE of Rajin
IN_TERRITORIAL_SEA = (41.65, 129.95)  # ~9 nm SE of Chongjin, in kp-territorial-sea
BACK = (41.60, 130.05)  # where it is heard again, just outside it
FALSE_FIX = (41.0, 134.5)  # ~200 nm from its track
TERRITORIAL_SEA = "North Korea territorial sea (approximate)"
HEADER = ("mmsi", "time", "lat", "lon", "sog", "name", "imo", "draught")

# Every kind the voyage raises; the at-sea ones are placed "at sea, N nm DIR of PORT".
AT_SEA_KINDS = ("encounter", "loitering", "went_dark", "reappeared", "position_anomaly", "identity_change",
                "draught_change")
ZONE_KINDS = ("zone_entry", "zone_exit")
PORT_KINDS = ("possible_dark_port_call",)


def _drift(origin: tuple[float, float], minute: int, metres_east: float = 0.0) -> tuple[float, float]:
    """Drifting north at half a knot from `origin`, `metres_east` of it."""
    lat0, lon0 = origin
    return lat0 + 0.5 * minute / 3600, lon0 + metres_east / (111_320 * math.cos(math.radians(lat0)))


def write_voyage(path: Path) -> Path:
    rows: list[tuple[int, list[object]]] = []

    def fix(mmsi: int, minute: int, at: tuple[float, float], sog: float, name: str = "", imo: object = "",
            draught: object = "") -> None:
        when = (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
        rows.append((minute, [mmsi, when, f"{at[0]:.6f}", f"{at[1]:.6f}", sog, name, imo, draught]))

    sailed = 400 + 5 * 72  # minute it arrives in the territorial sea, and falls silent
    back = sailed + 19 * 60  # heard again 19 hours later (past the longest dark threshold, 18 h)
    for minute in range(0, back + 24 * 5 + 200, 10):
        fix(FILLER, minute, (35.0, 129.5), 0.1, "FILLER")
    for minute in range(0, 400, 5):  # together 2.5 hours, then alone: slow for 6.6 hours in all
        fix(ANGARA, minute, _drift(AT_SEA, minute), 0.5, "ANGARA", ANGARA_IMO, 6.1)
        fix(TANKER, minute, _drift(AT_SEA, minute, 300) if minute < 150 else (40.0, 133.0), 0.5, "TANKER")
    start = _drift(AT_SEA, 395)
    for i in range(1, 73):  # six hours at ~12 kn into the territorial sea
        f = i / 72
        at = (start[0] + (IN_TERRITORIAL_SEA[0] - start[0]) * f,
              start[1] + (IN_TERRITORIAL_SEA[1] - start[1]) * f)
        fix(ANGARA, 400 + 5 * i, at, 12.0, "ANGARA", ANGARA_IMO, 6.1)
    for k in range(24):  # two hours east at 10 kn, then silent again
        minute = back + 5 * k
        if k == 6:
            fix(ANGARA, minute - 2, FALSE_FIX, 10.0, "ANGARA", ANGARA_IMO, 6.1)
        fix(ANGARA, minute, (BACK[0], BACK[1] + 0.02 * k), 10.0, "ANGARA II" if k >= 12 else "ANGARA",
            ANGARA_IMO, 9.8 if k >= 18 else 6.1)
    rows.sort(key=lambda row: row[0])
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(row for _, row in rows)
    return path
