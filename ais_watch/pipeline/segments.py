"""The segments step: each vessel's positions split into tracks it could physically have sailed, and
which of its fixes the detectors may believe.

The way Global Fishing Watch's segmenter (gpsdio-segment) does it: a fix joins the segment it could have
been reached from (the distance from the segment's last fix within `max_speed_kn` times the time between,
plus `jump_tolerance_nm` for GNSS noise and receiver clocks); one that no segment could reach starts a
segment of its own. Here one segment is the vessel's *main* segment, its believed track. A fix off it is
stored, marked with its segment and a reason, but goes no further than the integrity alerts: it never makes
a zone entry, a port call or a reappearance.

- `impossible_speed`: a fix that the main track could not reach (a spoofed position, a GPS jump);
- `track_conflict`: fixes off the main track interleaved with fixes on it (one MMSI, two transmitters);
- `on_land`: a fix on land by the land mask (beyond its tolerance, outside every port geofence) that the
  main track could not have reached: a jump inland. A fix the track reaches by sailing is believed on land
  too, and so is a vessel's first fix: ships are heard in harbours, canals and rivers that the land data
  draws as land (on the bundled Danish recording, 79 vessels had fixes more than 1 km inland by
  Natural Earth, most of them in the Kiel Canal and the Limfjord);
- `gnss_interference`: jumps of several vessels to the same spot in the same minutes (`Interference`).

The main segment moves to another only when that one has carried on for `confirm_after` while the main
one was silent (a transponder moved to another hull, a receiver's position source fixed) and it is not a
GNSS interference spot. Until then, with too little history, the first fixes heard are the main track.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ais_watch.geo import NM_PER_DEGREE_BOUND, distance_nm
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, StageBase, StartServices

KEEP_SEGMENT = timedelta(hours=24)  # a segment off the main track unheard this long is forgotten
MAX_OTHER_SEGMENTS = 8  # per vessel: a transmitter spraying positions costs bounded memory
KM_PER_NM = 1.852


class LandTest(Protocol):
    def inland(self, lat: float, lon: float) -> bool:
        """On land, beyond the mask's tolerance from the coast."""


@dataclass(frozen=True, slots=True)
class SegmentOptions:
    max_speed_kn: float = 50.0
    jump_tolerance_nm: float = 1.0
    confirm_after: timedelta = timedelta(hours=6)
    gnss_min_vessels: int = 3
    gnss_radius_km: float = 10.0
    gnss_window: timedelta = timedelta(minutes=15)


@dataclass(slots=True)
class Segment:
    """One physically possible track of a vessel."""

    id: int  # epoch seconds of its first fix (one vessel's segments never share one)
    first_time: datetime
    first_lat: float
    first_lon: float
    last_time: datetime
    last_lat: float
    last_lon: float
    count: int = 1
    # Off the main track: where the main track was when this one started (the real position), and the
    # implied speed of the jump; whether main fixes came between its fixes (two transmitters).
    origin: tuple[datetime, float, float] | None = None
    jump_speed_kn: float | None = None
    main_heard_since: bool = False
    conflict: bool = False
    gnss: Area | None = None
    reported: bool = False  # its episode was decided (alert raised or not) by the integrity alerts

    def add(self, when: datetime, lat: float, lon: float) -> None:
        self.count += 1
        if when >= self.last_time:  # a late fix is history: the segment's end stays where it is
            self.last_time, self.last_lat, self.last_lon = when, lat, lon


@dataclass(slots=True)
class LandEpisode:
    first_time: datetime
    lat: float
    lon: float
    last_time: datetime
    count: int = 1
    segment: int = 0
    ended: bool = False
    reported: bool = False
    final: bool = False  # its alert has the whole episode (reported once over, or amended since)
    alert_key: str | None = None
    gnss: Area | None = None


@dataclass(slots=True)
class Track:
    """A vessel's segments: the main one and the others still heard of."""

    main: Segment
    others: list[Segment] = field(default_factory=list)
    land: LandEpisode | None = None
    switched_from: Segment | None = None  # the main segment it last moved away from, until reported

    def open_episodes(self) -> bool:
        land = self.land
        return (any(not s.reported for s in self.others) or self.switched_from is not None
                or (land is not None and (not land.reported
                                          or (land.alert_key is not None and not land.final))))


@dataclass(slots=True)
class Area:
    """A spot several vessels jumped to in the same minutes: GNSS interference."""

    lat: float
    lon: float
    first_time: datetime
    last_time: datetime
    mmsis: set[int] = field(default_factory=set)
    reported: bool = False
    reported_vessels: int = 0  # how many vessels its alert has said so far


class Interference:
    """Jumps off the main track, kept for `window`: when `min_vessels` vessels jumped within `radius_km`
    of the same spot, that spot is GNSS interference (one area, not one anomaly per ship)."""

    def __init__(self, options: SegmentOptions) -> None:
        self.options = options
        self.jumps: deque[tuple[datetime, float, float, int, Segment | LandEpisode]] = deque()
        self.areas: list[Area] = []

    def jump(self, mmsi: int, when: datetime, lat: float, lon: float, what: Segment | LandEpisode
             ) -> Area | None:
        window, radius_nm = self.options.gnss_window, self.options.gnss_radius_km / KM_PER_NM
        while self.jumps and when - self.jumps[0][0] > window:
            self.jumps.popleft()
        self.areas = [a for a in self.areas if when - a.last_time <= window or not a.reported]
        area = next((a for a in self.areas if when - a.last_time <= window
                     and distance_nm(a.lat, a.lon, lat, lon) <= radius_nm), None)
        self.jumps.append((when, lat, lon, mmsi, what))
        near = [j for j in self.jumps if distance_nm(j[1], j[2], lat, lon) <= radius_nm]
        if area is None and len({j[3] for j in near}) < self.options.gnss_min_vessels:
            return None
        if area is None:
            area = Area(lat=lat, lon=lon, first_time=min(j[0] for j in near), last_time=when)
            self.areas.append(area)
        area.last_time = max(area.last_time, when)
        for _when, _lat, _lon, other, jumped in near:
            area.mmsis.add(other)
            jumped.gnss = area
        return area

    def take_news(self) -> Iterator[tuple[bool, Area]]:
        """Areas found (True) or joined by more vessels (False) since last asked: the integrity alerts
        raise one alert for each area and add the later vessels to it."""
        for area in self.areas:
            if not area.reported or len(area.mmsis) > area.reported_vessels:
                new = not area.reported
                area.reported, area.reported_vessels = True, len(area.mmsis)
                yield new, area


class Segmenter(StageBase):
    """Sets ctx.segment (the fix's segment) and ctx.anomaly (why it is not believed, or None)."""

    name = "segments"

    def __init__(self, options: SegmentOptions | None = None, *, land: LandTest | None = None,
                 in_port: Callable[[float, float], bool] | None = None) -> None:
        self.options = options or SegmentOptions()
        self.land = land
        self.in_port = in_port or (lambda lat, lon: False)
        self.tracks: dict[int, Track] = {}
        self.interference = Interference(self.options)
        self.pending: set[int] = set()  # vessels with an episode the integrity alerts have not decided

    async def start(self, services: StartServices) -> None:
        """Each vessel's main segment carries on from where it was last believed to be."""
        for vessel in services.vessels():
            if vessel["last_seen"] is not None and vessel["last_lat"] is not None:
                segment = vessel.get("segment") or int(vessel["last_seen"].timestamp())
                self.tracks[vessel["mmsi"]] = Track(_segment(segment, vessel["last_seen"], vessel["last_lat"],
                                                             vessel["last_lon"]))

    def handle(self, report: Report, ctx: Context) -> None:
        if not isinstance(report, PositionReport):
            return
        mmsi, when, lat, lon = report.mmsi, report.time, report.lat, report.lon
        track = self.tracks.get(mmsi)
        if track is None:
            # Its first fix starts the believed track, wherever it is: a ship first heard in a harbour or
            # a canal that the land data draws as land is no anomaly (most on-land fixes are).
            self.tracks[mmsi] = Track(_segment(int(when.timestamp()), when, lat, lon))
            ctx.segment = self.tracks[mmsi].main.id
            return
        main = track.main
        if self._reaches(main, when, lat, lon):
            # A fix the believed track could reach is believed, on land or not: rivers and canals the
            # land data draws as land (the Kiel Canal, the Limfjord) are sailed into from the sea.
            if track.land is not None and not track.land.ended:
                track.land.ended = True  # back on its track: the episode on land is over
            main.add(when, lat, lon)
            for other in track.others:
                if when > other.first_time:
                    other.main_heard_since = True
            ctx.segment = main.id
            return
        if self._inland(lat, lon):
            ctx.segment = main.id
            ctx.anomaly = "on_land"
            self._on_land(mmsi, track, when, lat, lon)
            return
        segment = self._off_main(mmsi, track, when, lat, lon)
        ctx.segment = segment.id
        if self._confirmed(mmsi, track, segment):
            ctx.anomaly = None  # the track the vessel is now believed to sail
            return
        ctx.anomaly = ("gnss_interference" if segment.gnss is not None
                       else "track_conflict" if segment.conflict else "impossible_speed")

    def _inland(self, lat: float, lon: float) -> bool:
        return self.land is not None and self.land.inland(lat, lon) and not self.in_port(lat, lon)

    def _reaches(self, segment: Segment, when: datetime, lat: float, lon: float) -> bool:
        hours = abs((when - segment.last_time).total_seconds()) / 3600
        reach = self.options.max_speed_kn * hours + self.options.jump_tolerance_nm
        # No trigonometry for the usual fix, a few hundred metres from the last: the way along the
        # meridian, then along the parallel, is no shorter than the great circle, and a degree of either
        # is at most 60.04 nm, so a fix within that bound of the last is within reach.
        if (abs(lat - segment.last_lat) + abs(lon - segment.last_lon)) * NM_PER_DEGREE_BOUND <= reach:
            return True
        return distance_nm(segment.last_lat, segment.last_lon, lat, lon) <= reach

    def _off_main(self, mmsi: int, track: Track, when: datetime, lat: float, lon: float) -> Segment:
        """The segment off the main track this fix joins, or a new one."""
        track.others = [s for s in track.others if when - s.last_time <= KEEP_SEGMENT or not s.reported]
        near = [s for s in track.others if self._reaches(s, when, lat, lon)]
        if near:
            segment = min(near, key=lambda s: distance_nm(s.last_lat, s.last_lon, lat, lon))
            segment.add(when, lat, lon)
            if segment.main_heard_since and not segment.conflict:
                segment.conflict = True  # off, on, off again: two transmitters, one MMSI
                self.pending.add(mmsi)
            if segment.gnss is not None:
                segment.gnss.last_time = max(segment.gnss.last_time, when)
            return segment
        main = track.main
        ids = {main.id, *(s.id for s in track.others)}
        segment_id = int(when.timestamp())
        while segment_id in ids:
            segment_id += 1
        segment = _segment(segment_id, when, lat, lon)
        segment.origin = (main.last_time, main.last_lat, main.last_lon)
        hours = abs((when - main.last_time).total_seconds()) / 3600
        jump = distance_nm(main.last_lat, main.last_lon, lat, lon)
        segment.jump_speed_kn = round(jump / hours, 1) if hours > 0 else None
        track.others.append(segment)
        if len(track.others) > MAX_OTHER_SEGMENTS:
            track.others.remove(min(track.others, key=lambda s: s.last_time))
        self.interference.jump(mmsi, when, lat, lon, segment)
        self.pending.add(mmsi)
        return segment

    def _confirmed(self, mmsi: int, track: Track, segment: Segment) -> bool:
        """Whether the segment has become the main one: it carried on for `confirm_after` with the main
        segment silent all along, and it is no GNSS interference spot."""
        main = track.main
        if (segment.gnss is not None or segment.conflict or main.last_time >= segment.first_time
                or segment.last_time - segment.first_time < self.options.confirm_after):
            return False
        track.others.remove(segment)
        track.main, track.switched_from = segment, main
        self.pending.add(mmsi)
        return True

    def _on_land(self, mmsi: int, track: Track, when: datetime, lat: float, lon: float) -> None:
        episode = track.land
        if episode is None or episode.ended:
            episode = track.land = LandEpisode(first_time=when, lat=lat, lon=lon, last_time=when,
                                               segment=track.main.id)
            self.interference.jump(mmsi, when, lat, lon, episode)
            self.pending.add(mmsi)
        else:
            episode.count += 1
            episode.last_time = max(episode.last_time, when)


def _segment(segment_id: int, when: datetime, lat: float, lon: float) -> Segment:
    return Segment(id=segment_id, first_time=when, first_lat=lat, first_lon=lon, last_time=when,
                   last_lat=lat, last_lon=lon)
