"""Ports as the dark rules see them (anything with an id, a name, a country, a reference point and
aliases), without loading the bundled geofences."""

from __future__ import annotations

from dataclasses import dataclass


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
