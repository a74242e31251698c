"""The encounter and loitering rules, pure: what one meeting of two vessels, or one slow spell of a
watched vessel, has been so far, and whether it counts. No I/O; the encounters stage feeds them.

Defaults from Global Fishing Watch's published encounters pipeline (pipe-encounters): within 500 m of
each other, for at least 2 h, a median speed implied by successive positions under 2 kn, at least 10 km
from any port or anchorage; meetings of the same pair less than 4 h apart are one encounter.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class EncounterRules:
    max_distance_m: float = 500.0
    min_duration: timedelta = timedelta(hours=2)
    max_speed_kn: float = 2.0
    min_port_distance_km: float = 10.0
    # Not GFW's: its anchorages (every place ships gather, learnt from AIS) place every harbour; the
    # coastline does that here. Nearer is a quay, a harbour basin or a river.
    min_shore_distance_nm: float = 1.0
    merge_gap: timedelta = timedelta(hours=4)
    # Together no more for this long: the meeting has ended (for now; within merge_gap it may go on).
    apart_after: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class LoiteringRules:
    min_duration: timedelta = timedelta(hours=4)
    max_speed_kn: float = 2.0
    min_shore_distance_nm: float = 20.0
    neighbour_km: float = 2.0


# Samples a meeting keeps for its medians: past this, every other one is dropped and only every other
# later one is kept (the medians of an evenly thinned sample), so a pair anchored together for weeks
# costs a fixed few kilobytes.
MAX_SAMPLES = 1024


@dataclass(slots=True)
class Meeting:
    """Two vessels (a < b by MMSI) together, sampled on each tick they were. Times are epoch seconds
    (the pair search's hot path compares them thousands of times a tick); `start` and `last_together`
    are the datetimes."""

    a: int
    b: int
    start_s: float
    last_s: float
    distances_m: list[float] = field(default_factory=list)
    speeds_kn: list[float] = field(default_factory=list)  # both vessels' implied speeds, each kept sample
    min_distance_m: float = math.inf
    lat_sum: float = 0.0
    lon_sum: float = 0.0
    samples: int = 0  # every sample, kept or not (the position is their mean)
    stride: int = 1  # keep one sample in `stride` for the medians
    qualified: bool = False
    place_retry_s: float = -math.inf  # its place was no transfer's: judged again from then
    alert_keys: list[str] = field(default_factory=list)
    ended_s: float | None = None  # the last_s already reported as its end

    def add(self, when_s: float, distance_m: float, speed_a: float, speed_b: float, lat: float,
            lon: float) -> None:
        if when_s > self.last_s:
            self.last_s = when_s
        if distance_m < self.min_distance_m:
            self.min_distance_m = distance_m
        self.lat_sum += lat
        self.lon_sum += lon
        self.samples += 1
        if self.samples % self.stride:
            return
        distances, speeds = self.distances_m, self.speeds_kn
        distances.append(distance_m)
        speeds.append(speed_a)
        speeds.append(speed_b)
        if len(distances) > MAX_SAMPLES:
            del distances[::2]  # keeps the odd samples, and their two speeds (order is no matter to a median)
            self.speeds_kn = speeds[2::4] + speeds[3::4]
            self.stride *= 2

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_s, UTC)

    @property
    def last_together(self) -> datetime:
        return datetime.fromtimestamp(self.last_s, UTC)

    @property
    def ended_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.ended_s, UTC) if self.ended_s is not None else None

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.last_s - self.start_s)

    @property
    def position(self) -> tuple[float, float]:
        n = max(self.samples, 1)
        return self.lat_sum / n, self.lon_sum / n

    def median_speed(self) -> float:
        return statistics.median(self.speeds_kn) if self.speeds_kn else 0.0

    def median_distance(self) -> float:
        return statistics.median(self.distances_m) if self.distances_m else 0.0

    def long_and_slow(self, rules: EncounterRules) -> bool:
        """Together long enough, slowly enough (where it is, ports and land, is the stage's to judge)."""
        return (self.last_s - self.start_s >= rules.min_duration.total_seconds()
                and self.median_speed() < rules.max_speed_kn)

    def ended(self, now_s: float, rules: EncounterRules) -> bool:
        """Apart for `apart_after` since they were last together, and that end not yet reported."""
        return now_s - self.last_s >= rules.apart_after.total_seconds() and self.ended_s != self.last_s

    def over(self, now_s: float, rules: EncounterRules) -> bool:
        """Apart for longer than `merge_gap`: a later meeting of the pair is another encounter."""
        return now_s - self.last_s > rules.merge_gap.total_seconds()


@dataclass(slots=True)
class Loitering:
    """A watched vessel slow since `start`, away from ports, with the vessels seen near it meanwhile."""

    mmsi: int
    start: datetime
    last_slow: datetime
    lat: float
    lon: float
    neighbours: set[int] = field(default_factory=set)
    alert_key: str | None = None
    ended: bool = False

    @property
    def duration(self) -> timedelta:
        return self.last_slow - self.start
