"""The encounter and loitering rules, pure: what one meeting of two vessels, or one slow spell of a
watched vessel, has been so far, and whether it counts. No I/O; the encounters stage feeds them.

Defaults from Global Fishing Watch's published encounters pipeline (pipe-encounters): within 500 m of
each other, for at least 2 h, a median speed implied by successive positions under 2 kn, at least 10 km
from any port or anchorage; meetings of the same pair less than 4 h apart are one encounter.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class EncounterRules:
    max_distance_m: float = 500.0
    min_duration: timedelta = timedelta(hours=2)
    max_speed_kn: float = 2.0
    min_port_distance_km: float = 10.0
    merge_gap: timedelta = timedelta(hours=4)
    # Together no more for this long: the meeting has ended (for now; within merge_gap it may go on).
    apart_after: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class LoiteringRules:
    min_duration: timedelta = timedelta(hours=4)
    max_speed_kn: float = 2.0
    min_shore_distance_nm: float = 20.0
    neighbour_km: float = 2.0


@dataclass(slots=True)
class Meeting:
    """Two vessels (a < b by MMSI) together, sampled on each tick they were."""

    a: int
    b: int
    start: datetime
    last_together: datetime
    distances_m: list[float] = field(default_factory=list)
    speeds_kn: list[float] = field(default_factory=list)  # both vessels' implied speeds, each sample
    lat_sum: float = 0.0
    lon_sum: float = 0.0
    qualified: bool = False
    alert_keys: list[str] = field(default_factory=list)
    ended_at: datetime | None = None  # the last_together already reported as its end

    def add(self, when: datetime, distance_m: float, speed_a: float, speed_b: float, lat: float,
            lon: float) -> None:
        self.last_together = max(self.last_together, when)
        self.distances_m.append(distance_m)
        self.speeds_kn += [speed_a, speed_b]
        self.lat_sum += lat
        self.lon_sum += lon

    @property
    def duration(self) -> timedelta:
        return self.last_together - self.start

    @property
    def position(self) -> tuple[float, float]:
        n = max(len(self.distances_m), 1)
        return self.lat_sum / n, self.lon_sum / n

    def median_speed(self) -> float:
        return statistics.median(self.speeds_kn) if self.speeds_kn else 0.0

    def median_distance(self) -> float:
        return statistics.median(self.distances_m) if self.distances_m else 0.0

    def long_and_slow(self, rules: EncounterRules) -> bool:
        """Together long enough, slowly enough (where it is, ports and land, is the stage's to judge)."""
        return self.duration >= rules.min_duration and self.median_speed() < rules.max_speed_kn

    def ended(self, now: datetime, rules: EncounterRules) -> bool:
        """Apart for `apart_after` since they were last together, and that end not yet reported."""
        return now - self.last_together >= rules.apart_after and self.ended_at != self.last_together

    def over(self, now: datetime, rules: EncounterRules) -> bool:
        """Apart for longer than `merge_gap`: a later meeting of the pair is another encounter."""
        return now - self.last_together > rules.merge_gap


@dataclass(slots=True)
class Loitering:
    """A watched vessel slow since `start`, away from ports, with the vessels seen near it meanwhile."""

    mmsi: int
    start: datetime
    last_slow: datetime
    lat: float
    lon: float
    neighbours: set[int] = field(default_factory=set)
    checked: datetime | None = None  # when its neighbours were last looked for
    alert_key: str | None = None
    ended: bool = False

    @property
    def duration(self) -> timedelta:
        return self.last_slow - self.start
