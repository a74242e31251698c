"""Which of a vessel's positions on a day a thinned day keeps: the track's shape and the evidence.

- **The shape**: Douglas-Peucker (shapely's, i.e. GEOS's) over the vessel's believed fixes of the day, in
  Web Mercator, the projection the dashboard draws in: a segment between two kept fixes is the straight
  line Leaflet draws between them, and every fix left out is within `tolerance_m` metres of the segment
  that replaces it. Mercator stretches ground distances by 1/cos(latitude); the tolerance is converted at
  the track's lowest latitude, where the stretch is least, so it holds for every fix of the day. Each
  vertex carries its index as its Z value, which GEOS keeps: the kept fixes are read back as indices, with
  no matching of coordinates (a moored ship sends the same coordinates again and again).
- **The evidence**: every fix the service's alerts, port calls and encounters stand on (`Evidence`),
  every marked (anomaly) fix, the first and last fix of the day.
- **No silence that was not there**: at most `max_gap` seconds between two kept fixes wherever the vessel
  was heard more often, and both fixes either side of every longer silence. A straight passage drawn from
  two fixes would otherwise read, in a vessel's list of silences or to an analyst, as hours unheard.

Pure: no I/O. `ais_watch.store.retention` reads the rows and the evidence and writes what is kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from ais_watch.geo import distance_nm

MERCATOR_RADIUS_M = 6_378_137.0  # Web Mercator's sphere (EPSG:3857), as Leaflet projects
METRES_PER_NM = 1852.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Alert details that name a fix's time: the last fix before a silence (went_dark, reappeared,
# possible_dark_port_call), the start and end of a loitering or an encounter.
ALERT_TIME_KEYS = ("last_seen", "start", "end")

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: fix times compared exactly (a float second would round)."""
    return (moment - EPOCH) // MICROSECOND


@dataclass(frozen=True, slots=True)
class ThinningRule:
    tolerance_m: float = 10.0  # the most a fix left out may be from the thinned track
    max_gap: float = 3600.0  # seconds; the longest between kept fixes where the full track had none; 0: off


@dataclass(slots=True)
class Evidence:
    """One vessel's evidence on one day, as times (microseconds since the epoch)."""

    anchors: list[int] = field(default_factory=list)  # keep the fix at or just before, and at or just after
    windows: list[tuple[int, int]] = field(default_factory=list)  # keep every fix from .. to (inclusive)


class EvidenceBook:
    """The evidence of one day, by vessel, built from the rows the service wrote about it."""

    def __init__(self) -> None:
        self.vessels: dict[int, Evidence] = {}

    def of(self, mmsi: int) -> Evidence:
        return self.vessels.setdefault(mmsi, Evidence())

    def anchor(self, mmsi: int, moment: datetime | None) -> None:
        if moment is not None:
            self.of(mmsi).anchors.append(micros(moment))

    def window(self, mmsi: int, start: datetime, end: datetime) -> None:
        self.of(mmsi).windows.append((micros(start), micros(end)))
        self.anchor(mmsi, start)  # and the fixes either side of it: how the ships came and went
        self.anchor(mmsi, end)

    def alert(self, mmsi: int, occurred_at: datetime, details: Mapping[str, Any]) -> None:
        """Any alert about a vessel: the fixes either side of when it happened (for went_dark, the last fix
        before the silence and the first after it), and of the times its details name. A ship that
        reappeared under another MMSI was last seen under the old one (`previous_mmsi`)."""
        self.anchor(mmsi, occurred_at)
        for key in ALERT_TIME_KEYS:
            moment = _as_time(details.get(key))
            if moment is not None:
                owner = details.get("previous_mmsi") if key == "last_seen" else None
                self.anchor(int(owner) if owner else mmsi, moment)

    def port_call(self, mmsi: int, arrival: datetime, established_at: datetime,
                  departure: datetime | None) -> None:
        """The first and last fix of the call, and the one that established it."""
        for moment in (arrival, established_at, departure):
            self.anchor(mmsi, moment)

    def encounter(self, mmsi_a: int, mmsi_b: int, start: datetime, end: datetime) -> None:
        """Every fix of both ships while they were together."""
        for mmsi in (mmsi_a, mmsi_b):
            self.window(mmsi, start, end)


def _as_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------- geometry
def mercator(lats: Floats, lons: Floats) -> tuple[Floats, Floats]:
    """Web Mercator metres. Longitudes are unwrapped first, so a track across the antimeridian stays one
    line rather than a jump round the world."""
    lon = np.unwrap(np.radians(lons))
    lat = np.radians(np.clip(lats, -85.0, 85.0))
    return MERCATOR_RADIUS_M * lon, MERCATOR_RADIUS_M * np.log(np.tan(np.pi / 4 + lat / 2))


def inverse_mercator(x: Floats, y: Floats) -> tuple[Floats, Floats]:
    lat = np.degrees(2 * np.arctan(np.exp(y / MERCATOR_RADIUS_M)) - np.pi / 2)
    lon = (np.degrees(x / MERCATOR_RADIUS_M) + 180.0) % 360.0 - 180.0
    return lat, lon


def douglas_peucker(lats: Floats, lons: Floats, tolerance_m: float, fixed: Mask) -> Mask:
    """`fixed` and the fixes Douglas-Peucker keeps of this track (in time order). The track is simplified
    piece by piece between the fixed fixes, so every fix left out is within the tolerance of the segment
    that replaces it in the end (a vertex added afterwards on a track that doubles back on itself could
    otherwise cut a corner by far more)."""
    kept = fixed.copy()
    kept[[0, len(lats) - 1]] = True
    bounds = np.flatnonzero(kept)
    starts, ends = bounds[:-1], bounds[1:]
    wide = ends - starts > 1  # a piece with fixes between its ends
    starts, ends = starts[wide], ends[wide]
    if not len(starts):
        return kept
    lengths = ends - starts + 1  # each piece with both its ends: a fixed fix ends one piece, starts the next
    index = np.arange(int(lengths.sum())) + np.repeat(starts - np.cumsum(np.r_[0, lengths[:-1]]), lengths)
    x, y = mercator(lats, lons)
    stretch = 1.0 / math.cos(math.radians(min(float(np.min(np.abs(lats))), 85.0)))
    pieces = shapely.linestrings(x[index], y[index], index.astype(np.float64),
                                 indices=np.repeat(np.arange(len(lengths)), lengths))
    simple = shapely.simplify(pieces, tolerance_m * stretch, preserve_topology=False)
    kept[shapely.get_coordinates(simple, include_z=True)[:, 2].astype(np.int64)] = True
    return kept


# ------------------------------------------------------------------------------------------- selection
def evidence_mask(times: Ints, evidence: Evidence | None) -> Mask:
    """The fixes the evidence stands on. `times` in order (microseconds)."""
    mask = np.zeros(len(times), dtype=np.bool_)
    if evidence is None or not len(times):
        return mask
    if evidence.anchors:
        anchors = np.asarray(evidence.anchors, dtype=np.int64)
        before = np.searchsorted(times, anchors, side="right") - 1  # the last fix at or before
        after = np.searchsorted(times, anchors, side="left")  # the first fix at or after
        mask[before[before >= 0]] = True
        mask[after[after < len(times)]] = True
    for start, end in evidence.windows:
        mask[np.searchsorted(times, start, side="left"):np.searchsorted(times, end, side="right")] = True
    return mask


def silences(times: Ints, max_gap: float) -> Mask:
    """Both fixes either side of every silence longer than `max_gap` seconds."""
    mask = np.zeros(len(times), dtype=np.bool_)
    silent = np.flatnonzero(np.diff(times) > int(max_gap * 1_000_000))
    mask[silent] = mask[silent + 1] = True
    return mask


def fill_gaps(times: Ints, kept: Mask, max_gap: float) -> Mask:
    """`kept` with fixes added so that no two consecutive kept fixes are more than `max_gap` seconds apart
    where the full track had fixes between them (`silences` already kept). Greedy: from each kept fix,
    the last fix within `max_gap` of it."""
    kept = kept.copy()
    gap = int(max_gap * 1_000_000)
    at = np.flatnonzero(kept)
    wide = (np.diff(times[at]) > gap) & (np.diff(at) > 1)  # a silence itself (b = a + 1) is as it was
    for a, b in zip(at[:-1][wide].tolist(), at[1:][wide].tolist(), strict=True):
        while times[b] - times[a] > gap:  # and no silence that long between a and b (both sides kept)
            a = int(np.searchsorted(times, times[a] + gap, side="right")) - 1
            kept[a] = True
    return kept


def keep_mask(times: Ints, lats: Floats, lons: Floats, believed: Mask, rule: ThinningRule,
              evidence: Evidence | None = None) -> Mask:
    """Which of one vessel's fixes of a day (in time order) the thinned day keeps."""
    n = len(times)
    mask = ~believed | evidence_mask(times, evidence)  # a marked fix is evidence of what was wrong with it
    if n:
        mask[[0, n - 1]] = True
    line = np.flatnonzero(believed)  # the track the map draws
    if len(line):
        on_line, at = mask[line], times[line]
        if rule.max_gap > 0:
            on_line |= silences(at, rule.max_gap)
        on_line = douglas_peucker(lats[line], lons[line], rule.tolerance_m, on_line)
        if rule.max_gap > 0:  # then the pieces the added fixes split, simplified again
            on_line = douglas_peucker(lats[line], lons[line], rule.tolerance_m,
                                      fill_gaps(at, on_line, rule.max_gap))
        mask[line[on_line]] = True
    return mask


# ------------------------------------------------------------------------------------------- measuring
def deviations_m(lats: Floats, lons: Floats, kept: Mask) -> Floats:
    """For each fix left out of a track (believed fixes, in time order), its distance in metres from the
    thinned track: from the segment between the kept fixes either side of it, as the map draws that
    segment (straight in Web Mercator), measured on the sphere (haversine) to its nearest point."""
    x, y = mercator(lats, lons)
    index = np.arange(len(lats))
    dropped = index[~kept]
    if not len(dropped):
        return np.zeros(0)
    kept_at = index[kept]
    after = kept_at[np.searchsorted(kept_at, dropped)]  # the first and last fix are always kept
    before = kept_at[np.searchsorted(kept_at, dropped) - 1]
    ax, ay, bx, by = x[before], y[before], x[after], y[after]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(length2 > 0, ((x[dropped] - ax) * dx + (y[dropped] - ay) * dy) / length2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    foot_lat, foot_lon = inverse_mercator(ax + t * dx, ay + t * dy)
    return np.array([distance_nm(float(lats[i]), float(lons[i]), float(flat), float(flon)) * METRES_PER_NM
                     for i, flat, flon in zip(dropped, foot_lat, foot_lon, strict=True)])
