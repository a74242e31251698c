"""Distances and bearings on the sphere (nautical miles, degrees true). Accurate to ~0.5%: ample for
"could this ship have reached that port", which is all the detectors ask of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import asin, atan2, cos, degrees, pi, radians, sin, sqrt
from typing import Protocol, TypeVar

import numpy as np

EARTH_RADIUS_NM = 3440.065
# A degree of latitude, or of longitude at the equator, in nautical miles, 0.1% over for rounding: an upper
# bound for a quick "within reach" test that needs no trigonometry (segments.Segmenter._reaches).
NM_PER_DEGREE_BOUND = EARTH_RADIUS_NM * pi / 180 * 1.001


def distance_nm(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in nautical miles."""
    p1, p2 = radians(lat1), radians(lat2)
    dp, dl = p2 - p1, radians(lon2 - lon1)
    a = sin(dp / 2) ** 2 + cos(p1) * cos(p2) * sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_NM * asin(min(1.0, sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing from the first point to the second, 0-360 degrees true."""
    p1, p2 = radians(lat1), radians(lat2)
    dl = radians(lon2 - lon1)
    x = sin(dl) * cos(p2)
    y = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl)
    return (degrees(atan2(x, y)) + 360.0) % 360.0


def angle_between(a: float, b: float) -> float:
    """Smallest difference between two bearings, 0-180 degrees."""
    diff = abs(a - b) % 360.0
    return 360.0 - diff if diff > 180.0 else diff


COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def compass_point(bearing: float) -> str:
    """The nearest of the eight compass points to a bearing (degrees true)."""
    return COMPASS[round(bearing % 360 / 45) % 8]


class NamedPoint(Protocol):
    """A place to describe positions from (a port's reference point)."""

    @property
    def name(self) -> str: ...
    @property
    def ref_lat(self) -> float: ...
    @property
    def ref_lon(self) -> float: ...


P = TypeVar("P", bound=NamedPoint)


def describe_place(lat: float, lon: float, ports: Sequence[NamedPoint], *, where: str = "at sea"
                   ) -> str | None:
    """Where a position at sea is, for a person: "at sea, 35 nm SE of Rajin" from the nearest port
    (distance and bearing from the port, great circle). A port name alone would mislead for a ship a
    thousand miles from it. `where` says what kind of place it is ("on land" for a false fix). None
    without ports."""
    found = nearest(ports, lat, lon)
    return None if found is None else _from_port(*found, lat, lon, where)


def _from_port(port: NamedPoint, miles: float, lat: float, lon: float, where: str) -> str:
    if miles < 1:
        return f"{where}, off {port.name}"
    direction = compass_point(bearing_deg(port.ref_lat, port.ref_lon, lat, lon))
    return f"{where}, {miles:,.0f} nm {direction} of {port.name}"


class Places:
    """Names a position for an alert: the port or anchorage it is in, else where it is from the nearest
    port ("at sea, 35 nm SE of Rajin", or "on land, ..." for a fix on land)."""

    def __init__(self, ports: Sequence[NamedPoint] = (),
                 port_at: Callable[[float, float], str | None] | None = None) -> None:
        self.ports = list(ports)
        self.port_at = port_at or (lambda lat, lon: None)

    def name(self, lat: float | None, lon: float | None, *, on_land: bool = False) -> str | None:
        if lat is None or lon is None:
            return None
        return self.port_at(lat, lon) or describe_place(lat, lon, self.ports,
                                                        where="on land" if on_land else "at sea")

    def names(self, points: Sequence[tuple[float, float]]) -> list[str | None]:
        """name() of many positions (lat, lon) at sea or in port at once, the nearest port of each found
        in one numpy pass: the fleet board names thousands of positions a request."""
        if not self.ports or not points:
            return [self.name(lat, lon) for lat, lon in points]
        here = np.radians(np.asarray(points, dtype=float))
        ports = np.radians(np.asarray([(p.ref_lat, p.ref_lon) for p in self.ports], dtype=float))
        lat1, lon1 = ports[:, 0][None, :], ports[:, 1][None, :]
        lat2, lon2 = here[:, 0][:, None], here[:, 1][:, None]
        a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        miles = 2 * EARTH_RADIUS_NM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
        best = miles.argmin(axis=1)
        return [self.port_at(lat, lon) or _from_port(self.ports[int(i)], float(miles[row, i]), lat, lon,
                                                     "at sea")
                for row, ((lat, lon), i) in enumerate(zip(points, best, strict=True))]


def nearest(points: Sequence[P], lat: float, lon: float) -> tuple[P, float] | None:
    """The point nearest to (lat, lon) and its great-circle distance in nautical miles."""
    best = min(points, key=lambda p: distance_nm(p.ref_lat, p.ref_lon, lat, lon), default=None)
    return None if best is None else (best, distance_nm(best.ref_lat, best.ref_lon, lat, lon))
