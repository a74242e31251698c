"""Simulated voyages as real NMEA, encoded by pyais, for tests and the demo. Clearly not real traffic:
every line carries the tag-block station `s:SIMULATED`.

A voyage is a start point and legs: sail to a point at a speed (optionally with the transponder off),
then optionally stay there (moored) for a while. Positions go out every `interval` while under way and
every `moored_interval` in port, with a type 5 static message every hour, as a Class A ship sends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import xor

from pyais import encode_dict
from pyais.encode import DATA_DICT

from ais_watch.geo import bearing_deg, distance_nm

STATION = "SIMULATED"


@dataclass(frozen=True, slots=True)
class Leg:
    lat: float
    lon: float
    speed_kn: float = 12.0
    dark: bool = False  # transponder off for the whole leg and the stay after it
    stay: timedelta = timedelta(0)  # moored at the end of the leg
    destination: str | None = None  # a new destination sent (type 5) from this leg on; None: unchanged


@dataclass(frozen=True, slots=True)
class Ship:
    mmsi: int
    name: str
    imo: int | None = None
    call_sign: str = ""
    destination: str = ""
    ship_type: int = 70  # cargo


def tag_block(when: datetime, station: str = STATION) -> str:
    body = f"s:{station},c:{int(when.timestamp())}"
    return f"\\{body}*{reduce(xor, body.encode(), 0):02X}\\"


def _lines(fields: DATA_DICT, when: datetime) -> list[str]:
    sentences = encode_dict(fields, talker_id="AI", sentence_type="VDM", radio_channel="A", seq_id=1)
    return [tag_block(when) + sentence for sentence in sentences]


def static_lines(ship: Ship, when: datetime, destination: str | None = None) -> list[str]:
    return _lines({"type": 5, "mmsi": ship.mmsi, "imo": ship.imo or 0, "shipname": ship.name,
                   "callsign": ship.call_sign, "ship_type": ship.ship_type, "to_bow": 80, "to_stern": 20,
                   "to_port": 8, "to_starboard": 8, "draught": 6.5,
                   "destination": destination if destination is not None else ship.destination}, when)


def position_lines(ship: Ship, when: datetime, lat: float, lon: float, sog: float, cog: float,
                   status: int) -> list[str]:
    return _lines({"type": 1, "mmsi": ship.mmsi, "status": status, "speed": round(sog, 1), "lon": lon,
                   "lat": lat, "course": round(cog, 1) % 360, "heading": round(cog) % 360,
                   "second": when.second, "accuracy": 1}, when)


def voyage(ship: Ship, start: datetime, lat: float, lon: float, legs: Iterable[Leg], *,
           interval: timedelta = timedelta(minutes=2), moored_interval: timedelta = timedelta(minutes=10),
           static_every: timedelta = timedelta(hours=1),
           final_fix: bool = True) -> Iterator[tuple[datetime, str]]:
    """(time, NMEA line) pairs of one ship's voyage, in time order. `final_fix`: a last, stopped position
    where the voyage ends (off for a voyage that carries on, as the demo's loop does)."""
    when = start
    next_static = start
    destination = ship.destination
    for leg in legs:
        if leg.destination is not None and leg.destination != destination:
            destination = leg.destination
            next_static = when  # a ship sends its new destination at once
        miles = distance_nm(lat, lon, leg.lat, leg.lon)
        course = bearing_deg(lat, lon, leg.lat, leg.lon) if miles > 0 else 0.0
        duration = timedelta(hours=miles / leg.speed_kn) if leg.speed_kn > 0 else timedelta(0)
        steps = max(1, int(duration / interval))
        for i in range(steps):
            t = when + duration * (i / steps)
            if leg.dark:
                continue
            if t >= next_static:
                yield from ((t, line) for line in static_lines(ship, t, destination))
                next_static = t + static_every
            f = i / steps
            yield from ((t, line) for line in position_lines(
                ship, t, lat + (leg.lat - lat) * f, lon + (leg.lon - lon) * f, leg.speed_kn, course, 0))
        when += duration
        lat, lon = leg.lat, leg.lon
        stay_end = when + leg.stay
        t = when
        while t < stay_end:
            if not leg.dark:
                yield from ((t, line) for line in position_lines(ship, t, lat, lon, 0.0, course, 5))
            t += moored_interval
        when = stay_end
    if final_fix:
        yield from ((when, line) for line in position_lines(ship, when, lat, lon, 0.0, 0.0, 5))


def merged(*streams: Iterable[tuple[datetime, str]]) -> list[str]:
    """Several ships' lines as one feed, in time order."""
    return [line for _, line in sorted((pair for stream in streams for pair in stream), key=lambda p: p[0])]


# ------------------------------------------------------------------- the demo's simulated voyage
# A fictitious ship, not a real one, for the `serve` demo: its name says so, 273999999 is at the very end of
# Russia's MMSI block and 1234567 (check digit valid) is below the 5000000 the IMO ship numbers begin at.
DEMO_SHIP = Ship(mmsi=273999999, name="SIMULATED DEMO SHIP", imo=1234567, call_sign="SIMDEMO",
                 destination="RAJIN", ship_type=70)
DEMO_START = (42.145, 130.425)  # at sea south-east of Rajin, just outside the approaches zone
# Every waypoint and every straight line between them is at sea (checked against the GSHHG shoreline).
# About 31 hours a loop: Rajin port call, 8.75 hours dark (past the 6-hour threshold), Vostochny port
# call, back to the start with the transponder on.
DEMO_LEGS = (
    Leg(42.175, 130.301, 12.0),  # to the mouth of Rajin (Najin) bay
    Leg(42.228, 130.302, 12.0, stay=timedelta(hours=4)),  # moored at Rajin: port_call after 30 min
    Leg(42.175, 130.301, 8.0, destination="VOSTOCHNY"),  # out of the port: port_departure
    Leg(42.06, 130.56, 12.0),  # out to sea
    Leg(42.50, 132.85, 12.0, dark=True),  # transponder off for 105 nm: went_dark, then reappeared
    Leg(42.745, 133.00, 12.0),  # Nakhodka Gulf, through Vostochny roads
    Leg(42.757, 133.06, 8.0, stay=timedelta(hours=4)),  # moored at Vostochny: port_call
    Leg(42.745, 133.00, 8.0, destination="RAJIN"),  # out again: port_departure
    Leg(42.60, 132.90, 12.0),
    Leg(42.35, 131.30, 12.0),
    Leg(*DEMO_START, 12.0),  # back where the loop starts
)


def demo_voyage(start: datetime) -> list[tuple[datetime, str]]:
    """One loop of the demo ship's voyage from `start`: (time, NMEA line) pairs, in time order. It ends
    under way, one report interval short of DEMO_START, where the next loop begins."""
    return list(voyage(DEMO_SHIP, start, *DEMO_START, DEMO_LEGS, final_fix=False))

