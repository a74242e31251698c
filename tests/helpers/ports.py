"""Ports as the dark rules see them (anything with an id, a name, a country, a reference point and
aliases), without loading the bundled geofences."""

from __future__ import annotations

from dataclasses import dataclass

from ais_watch.detectors.dark_rules import PortLike
from ais_watch.geo import distance_nm


@dataclass(frozen=True, slots=True)
class Port:
    id: str
    name: str
    country: str
    ref_lat: float
    ref_lon: float
    aliases: tuple[str, ...] = ()


RAJIN = Port("KPRJN", "Rajin", "KP", 42.2333, 130.3, ("NAJIN",))
VOSTOCHNY = Port("RUVYP", "Vostochny", "RU", 42.75, 133.0833)


class DetourEstimate:
    """Sea distances as the great circle times a detour factor: the rules' estimate before sea routes,
    kept as a stand-in whose numbers a test can work out by hand (the real routes: test_sea_routes.py)."""

    basis = "great circle x 1.3 (test stand-in)"

    def __init__(self, factor: float = 1.3) -> None:
        self.factor = factor

    def to_port(self, lat: float, lon: float, port: PortLike) -> float:
        return distance_nm(lat, lon, port.ref_lat, port.ref_lon) * self.factor

    def between(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        return distance_nm(lat1, lon1, lat2, lon2) * self.factor


SEA = DetourEstimate()
