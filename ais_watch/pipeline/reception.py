"""Reception: which receiving stations and which areas are being heard, and how.

A feed is many receivers. When the one station that covers a harbour dies, every ship there falls silent
at once while the feed carries on; that is a reception loss, not a fleet going dark. This step keeps, per
source:

- **stations**, where the feed names one (NMEA 4 tag block `s:`, Gatehouse, USCG `r...`): traffic per
  window, the area its positions usually fall in, the vessels last heard through it;
- **areas** (grid cells of `reception.cell_degrees`) for traffic that names no station (aisstream.io):
  the same, and the vessels whose latest position was in the cell;
- for every area, how its vessels are heard: the gaps between one vessel's reports there, which tell a
  terrestrial area (minutes) from one heard only on satellite passes (tens of minutes to hours).

A station or area whose usual traffic stops (silent past `reception.min_silence` and a few usual gaps)
or collapses (a window under 5% of the usual count) while the rest of its feed goes on is in outage:
one `reception_loss` alert for it, `reception_restored` when it is heard again. An area counts only when
at least `reception.min_vessels` vessels fell silent in it together (ships that sailed on are not
silent). The time a station or area was down is nobody's silence: the dark rules ask `outage_intervals`.

Pure state, no I/O; times are the step's clock (event time in a replay, receive time live), like feed
health's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ais_watch.alerts.model import AlertDraft, iso
from ais_watch.geo import NamedPoint, describe_place, nearest
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.feed_health import FeedHealth
from ais_watch.pipeline.stage import Context, Services, StageBase
from ais_watch.pipeline.traffic import KEEP_OUTAGES, Interval, TrafficWindow, overlap

# Log2 buckets of the gap between one vessel's reports in an area, in minutes: <1, 1-2, 2-4, ... >=256.
GAP_BUCKETS = 10
SAMPLE_LIMIT = 2000  # gap samples per area before the histogram is halved: it follows a changing area
MIN_SAMPLES = 20  # gap samples before an area's reception is judged
VESSELS_LISTED = 20  # vessels named in a reception_loss alert (the count is always whole)
NOTABLE_SILENCE = timedelta(minutes=1)  # shorter silences of a station or area are not remembered
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ReceptionOptions:
    window: timedelta = timedelta(minutes=10)
    min_silence: timedelta = timedelta(minutes=30)
    min_usual: float = 20.0  # messages per window below which a station or area is too quiet to judge
    min_vessels: int = 3
    cell_degrees: float = 1.0
    satellite_gap: timedelta = timedelta(minutes=20)
    learn: timedelta = timedelta(hours=2)  # how long a station or area is heard before it is judged


@dataclass(eq=False, slots=True)
class Coverage:
    """One station, or one area of one source, and what is known of its reception."""

    key: str
    kind: str  # "station" or "area"
    source: str
    label: str  # the station's id, or the area's south-west corner
    window: TrafficWindow
    first_message: datetime | None = None
    last_message: datetime | None = None
    # The step's clock when it was last heard: later than its last message's own time when its clock runs
    # behind the feed's (a satellite's detection times among receive times). Its silence is measured from
    # here, so a station heard all along is never silent however its clock is set.
    last_heard: datetime | None = None
    down_since: datetime | None = None  # its last message before the current outage
    collapsed: bool = False  # the current outage is a rate collapse (a trickle still arrives)
    quiet: bool = False  # silent past the threshold but judged no outage (its feed was down, its ships moved)
    outages: list[Interval] = field(default_factory=list)
    bounds: list[float] | None = None  # south, west, north, east of the positions heard through it
    vessels: dict[int, datetime] = field(default_factory=dict)  # whose latest report came through it
    gaps: list[int] = field(default_factory=lambda: [0] * GAP_BUCKETS)  # areas: one vessel's report gaps
    gap_count: int = 0  # sum(gaps)
    # Its own silences (at least a minute) over the last day, outside outages: a satellite's footprint
    # is heard in passes, with an hour or more between them, which is its normal, not an outage.
    long_silences: list[tuple[datetime, float]] = field(default_factory=list)  # (when it ended, seconds)

    def silence_ended(self, when: datetime, silence: timedelta) -> None:
        if silence >= NOTABLE_SILENCE:
            self.long_silences = [(w, s) for w, s in self.long_silences if when - w <= DAY]
            self.long_silences.append((when, silence.total_seconds()))

    def longest_silence(self, now: datetime) -> timedelta | None:
        recent = [s for w, s in self.long_silences if now - w <= DAY]
        return timedelta(seconds=max(recent)) if recent else None

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def heard_at(self, lat: float, lon: float) -> None:
        b = self.bounds
        if b is None:
            self.bounds = [lat, lon, lat, lon]
        else:
            # Comparisons, not min/max: this runs for every position heard through a station.
            if lat < b[0]:
                b[0] = lat
            elif lat > b[2]:
                b[2] = lat
            if lon < b[1]:
                b[1] = lon
            elif lon > b[3]:
                b[3] = lon

    def add_gap(self, gap: timedelta) -> None:
        minutes = gap.total_seconds() / 60
        bucket = 0 if minutes < 1 else min(GAP_BUCKETS - 1, int(math.log2(minutes)) + 1)
        self.gaps[bucket] += 1
        self.gap_count += 1  # kept, not summed: this runs for most positions
        if self.gap_count > SAMPLE_LIMIT:
            self.gaps = [n // 2 for n in self.gaps]
            self.gap_count = sum(self.gaps)

    def long_gap(self) -> timedelta | None:
        """The upper quartile of the gaps between one vessel's reports here (the upper edge of its
        bucket). Not the median: a satellite hears a ship two or three times in one pass, minutes apart,
        so half its gaps are short, and only the long half tells it from a terrestrial station."""
        total = self.gap_count
        if total < MIN_SAMPLES:
            return None
        seen = 0
        for bucket, n in enumerate(self.gaps):
            seen += n
            if seen * 4 >= total * 3:
                return timedelta(minutes=2 ** bucket)
        return None  # unreachable: the buckets add up to the total


class Reception(StageBase):
    """The step (before vessel state: it reads nothing of the vessel's own state)."""

    name = "reception"
    fleet_wide = False  # each instance judges the receivers of its own feeds, as with feed health

    def __init__(self, options: ReceptionOptions, feed: FeedHealth, *, event_time: bool,
                 ports: Sequence[NamedPoint] = ()) -> None:
        self.options = options
        self.feed = feed
        self.event_time = event_time
        self.ports = list(ports)
        self.coverages: dict[str, Coverage] = {}
        # The same coverages by tuple: looked up for every report, where building a key string costs more
        # than the rest of the step.
        self._by_station: dict[tuple[str, str], Coverage] = {}
        self._by_cell: dict[tuple[str, int, int], Coverage] = {}
        # mmsi -> the station its latest report came through, and the area its latest position was in
        self._station_of: dict[int, Coverage] = {}
        self._area_of: dict[int, Coverage] = {}
        self._clock: datetime | None = None  # the newest time seen: the step's clock

    # ------------------------------------------------------------------------------------- keys
    def cell(self, lat: float, lon: float) -> tuple[int, int]:
        size = self.options.cell_degrees
        return math.floor(lat / size), math.floor(lon / size)

    def _new(self, key: str, kind: str, source: str, label: str) -> Coverage:
        window = TrafficWindow(self.options.window)
        coverage = self.coverages[key] = Coverage(key, kind, source, label, window)
        return coverage

    def station(self, source: str, station: str) -> Coverage:
        found = self._by_station.get((source, station))
        if found is None:
            found = self._by_station[source, station] = self._new(
                f"station:{source}:{station}", "station", source, station)
        return found

    def area(self, source: str, lat: float, lon: float) -> Coverage:
        size = self.options.cell_degrees
        south, west = math.floor(lat / size), math.floor(lon / size)  # self.cell(), without the call
        found = self._by_cell.get((source, south, west))
        if found is None:
            label = f"{_degrees(south * size, 'N', 'S')} {_degrees(west * size, 'E', 'W')}"
            found = self._by_cell[source, south, west] = self._new(
                f"area:{source}:{south}:{west}", "area", source, label)
            found.bounds = [south * size, west * size, (south + 1) * size, (west + 1) * size]  # the cell
        return found

    # ---------------------------------------------------------------------------------- reports
    def handle(self, report: Report, ctx: Context) -> None:
        when = report.time if self.event_time else report.received_at
        if self._clock is None or when > self._clock:
            self._clock = when
        services = ctx.services
        station = None
        if report.station is not None:  # the lookup of self.station(), and the call only for a new one
            station = (self._by_station.get((report.source, report.station))
                       or self.station(report.source, report.station))
        if station is not None:
            self._heard(station, when, services)
        if not isinstance(report, PositionReport):
            return
        area = self.area(report.source, report.lat, report.lon)
        if station is None:  # an area is judged only for traffic that names no station
            self._heard(area, when, services)
        previous = area.vessels.get(report.mmsi)
        if previous is not None and when > previous:
            area.add_gap(when - previous)  # consecutive reports of one vessel in this area
        self._latest(self._area_of, area, report.mmsi, when)
        if station is not None and self._latest(self._station_of, station, report.mmsi, when):
            station.heard_at(report.lat, report.lon)

    @staticmethod
    def _latest(where: dict[int, Coverage], coverage: Coverage, mmsi: int, when: datetime) -> bool:
        """Make `coverage` the one the vessel was last heard through, unless the report is older than
        the vessel's latest there; True if it is."""
        before = where.get(mmsi)
        if before is not None and before is not coverage:
            last = before.vessels.get(mmsi)
            if last is not None and when < last:
                return False  # a late report: history, not where the vessel is heard now
            before.vessels.pop(mmsi, None)
        elif before is coverage and when < coverage.vessels.get(mmsi, when):
            return False
        coverage.vessels[mmsi] = when
        where[mmsi] = coverage
        return True

    def _heard(self, coverage: Coverage, when: datetime, services: Services) -> None:
        if coverage.window.add(when):
            self._close_window(coverage, when, services)
        coverage.quiet = False
        last = coverage.last_message
        if coverage.down_since is not None and not coverage.collapsed and when > coverage.down_since:
            services.raise_alert(self._restored(coverage, when))
        elif last is not None and when > last and coverage.down_since is None:
            coverage.silence_ended(when, when - last)
        if last is None or when > last:
            coverage.last_message = when
        coverage.last_heard = self._clock
        if coverage.first_message is None or when < coverage.first_message:
            coverage.first_message = when

    def _close_window(self, coverage: Coverage, when: datetime, services: Services) -> None:
        window = coverage.window
        if coverage.collapsed:
            if window.recovered():
                coverage.collapsed = False
                services.raise_alert(self._restored(coverage, when))
        elif (coverage.down_since is None and window.collapsed(self.options.min_usual)
              and coverage.first_message is not None and when - coverage.first_message >= self.options.learn
              and self._heard_without_pauses(coverage, when)
              and self._feed_carried_on(coverage, window.start or when, when)):
            assert window.start is not None and window.usual is not None
            coverage.collapsed = True
            services.raise_alert(self._loss(coverage, window.start, when, reason="rate collapsed",
                                            count=window.count))
        window.close(when, healthy=not coverage.collapsed)

    # ------------------------------------------------------------------------------------ ticks
    def silence_threshold(self, coverage: Coverage, now: datetime) -> timedelta | None:
        """How long its silence must last to be an outage: at least `min_silence`, a few of its usual
        gaps, and twice its longest silence of the last day (a satellite's passes); None when its traffic
        is too thin to judge."""
        usual = coverage.window.usual
        if usual is None or usual < self.options.min_usual:
            return None
        longest = coverage.longest_silence(now) or timedelta(0)
        return max(self.options.min_silence, 3 * self.options.window / usual, 2 * longest)

    def _heard_without_pauses(self, coverage: Coverage, now: datetime) -> bool:
        """Its traffic is continuous (no silence as long as a window over the last day): only then does a
        thin window mean a collapse, and not the gap between two satellite passes."""
        longest = coverage.longest_silence(now)
        return longest is None or longest < self.options.window

    def tick(self, now: datetime, services: Services) -> None:
        for coverage in self.coverages.values():
            last, first, heard = coverage.last_message, coverage.first_message, coverage.last_heard
            if (coverage.down_since is not None or coverage.quiet or last is None or first is None
                    or heard is None):
                continue
            if now - first < self.options.learn:
                continue  # its normal (a satellite's passes) is not known yet: judged once it is
            threshold = self.silence_threshold(coverage, now)
            if threshold is None or now - heard <= threshold or now - last <= threshold:
                continue
            if not self._feed_carried_on(coverage, last, now) or (
                    coverage.kind == "area" and len(coverage.vessels) < self.options.min_vessels):
                coverage.quiet = True  # judged once per silence: a message clears it
                continue
            services.raise_alert(self._loss(coverage, last, last + threshold, reason="no messages"))

    def _feed_carried_on(self, coverage: Coverage, since: datetime, now: datetime) -> bool:
        """The rest of its feed was heard through the silence: the feed delivered well after `since`,
        and was in outage for at most half the silence (a dead feed is a feed outage, not this)."""
        feed = self.feed.feeds.get(coverage.source)
        heard_after = since + self.options.min_silence / 2
        if feed is None or feed.last_message is None or feed.last_message < heard_after:
            return False
        return self.feed.outage_overlap(coverage.source, since, now) <= (now - since) / 2

    # -------------------------------------------------------------------------- the dark rules
    def outage_intervals(self, source: str | None, station: str | None, lat: float | None,
                         lon: float | None) -> list[Interval]:
        """When the station a vessel was last heard through, or else the area it was last in, was down."""
        if source is None:
            return []
        if station is not None:
            found = self._by_station.get((source, station))
        elif lat is not None and lon is not None:
            south, west = self.cell(lat, lon)
            found = self._by_cell.get((source, south, west))
        else:
            found = None
        return list(found.outages) if found is not None else []

    def area_reception(self, source: str | None, lat: float | None, lon: float | None
                       ) -> tuple[str, timedelta | None]:
        """How vessels in this area are heard: "terrestrial", "satellite" (only on satellite passes) or
        "unknown" (too few reports to tell), with the upper-quartile gap between one vessel's reports
        there."""
        if source is None or lat is None or lon is None:
            return "unknown", None
        south, west = self.cell(lat, lon)
        found = self._by_cell.get((source, south, west))
        return self._classify(found) if found is not None else ("unknown", None)

    def _classify(self, area: Coverage) -> tuple[str, timedelta | None]:
        long_gap = area.long_gap()
        if long_gap is None:
            return "unknown", None
        return ("satellite" if long_gap > self.options.satellite_gap else "terrestrial"), long_gap

    # ----------------------------------------------------------------------------------- alerts
    def _where_is(self, coverage: Coverage) -> tuple[str, float | None, float | None, dict[str, Any] | None]:
        """A person's description of the area it covers, its centre, and the nearest port."""
        centre = _centre(coverage.bounds)
        if centre is None:
            return coverage.label, None, None, None
        lat, lon = centre
        found = nearest(self.ports, lat, lon)
        port = None if found is None else {"name": found[0].name, "distance_nm": round(found[1], 1)}
        return describe_place(lat, lon, self.ports) or coverage.label, lat, lon, port

    def _loss(self, coverage: Coverage, since: datetime, occurred: datetime, *, reason: str,
              count: int | None = None) -> AlertDraft:
        coverage.down_since = since
        coverage.outages.append((since, None))
        del coverage.outages[:-KEEP_OUTAGES]
        place, lat, lon, port = self._where_is(coverage)
        silent = list(coverage.vessels)
        details: dict[str, Any] = {
            "coverage": coverage.kind, "source": coverage.source, "reason": reason,
            "station": coverage.label if coverage.kind == "station" else None,
            "area": dict(zip(("south", "west", "north", "east"), coverage.bounds, strict=True))
            if coverage.bounds else None,
            "nearest_port": port, "since": iso(since),
            "vessels_last_heard": len(silent), "vessels": sorted(silent)[:VESSELS_LISTED],
            "usual_per_window": round(coverage.window.usual or 0.0, 1),
            "window_seconds": self.options.window.total_seconds(),
        }
        if count is not None:
            details["messages_in_window"] = count
        return AlertDraft(kind="reception_loss", occurred_at=occurred, event_key=iso(since) or "",
                          place=f"{coverage.kind} {coverage.label} ({coverage.source})", lat=lat, lon=lon,
                          details={**details, "where": place})

    def _restored(self, coverage: Coverage, when: datetime) -> AlertDraft:
        down_since = coverage.down_since
        assert down_since is not None
        coverage.outages[-1] = (down_since, when)
        coverage.down_since = None
        place, lat, lon, _ = self._where_is(coverage)
        return AlertDraft(kind="reception_restored", occurred_at=when, event_key=iso(down_since) or "",
                          place=f"{coverage.kind} {coverage.label} ({coverage.source})", lat=lat, lon=lon,
                          details={"coverage": coverage.kind, "source": coverage.source, "where": place,
                                   "down_since": iso(down_since),
                                   "outage_seconds": (when - down_since).total_seconds()})

    # ------------------------------------------------------------------------------------- view
    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every station and area with its state and rates, for the API and the dashboard."""
        out: dict[str, list[dict[str, Any]]] = {"stations": [], "areas": []}
        for c in self.coverages.values():
            reception, long_gap = self._classify(c) if c.kind == "area" else (None, None)
            out["stations" if c.kind == "station" else "areas"].append({
                "id": c.key, "source": c.source, "label": c.label,
                "state": "outage" if c.is_down else "ok", "since": iso(c.down_since),
                "last_message": iso(c.last_message),
                "per_hour": None if c.window.usual is None
                else round(c.window.usual * timedelta(hours=1) / self.options.window, 1),
                "bounds": list(c.bounds) if c.bounds else None, "vessels": len(c.vessels),
                "reception": reception, "cell": list(c.bounds) if c.kind == "area" and c.bounds else None,
                # Judged at all: an area whose traffic all names a station is the station's to judge, and
                # a station or area too quiet (or still being learnt) is not judged either.
                "judged": c.last_message is not None and c.window.usual is not None
                and c.window.usual >= self.options.min_usual,
                "long_gap_seconds": long_gap.total_seconds() if long_gap is not None else None,
            })
        return out


def not_heard(feed: FeedHealth, reception: Reception | None, source: str | None, start: datetime,
              end: datetime, *, station: str | None = None, lat: float | None = None,
              lon: float | None = None) -> timedelta:
    """How much of [start, end] a vessel last heard on `source` (through `station`, or at lat/lon) could
    not have been heard: its feed, its station (or else its area) or the service itself was down."""
    intervals = feed.outage_intervals(source)
    if reception is not None:
        intervals += reception.outage_intervals(source, station, lat, lon)
    return overlap(intervals, start, end)


def _centre(bounds: list[float] | None) -> tuple[float, float] | None:
    return None if bounds is None else ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)


def _degrees(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):g}°{positive if value >= 0 else negative}"
