"""The encounters stage: ship-to-ship meetings of every vessel, and loitering of watched ones, live.

Every believed position updates its vessel's row in flat arrays (position, time, speed implied by its
last two positions, in a port or not). On each tick of the pipeline clock (replay and live alike) the
pair search takes the vessels heard within `recent` that are slow and not in a port or anchorage, and
finds every pair within `max_distance_m` through a k-d tree over their positions (scipy, in C): a spatial
index, as Global Fishing Watch keys its second shuffle by cell, since MMSI order cannot find pairs. Each
pair found is a sample of its `Meeting`; the rules (`encounter_rules.py`) say when it counts.

- An encounter is recorded (`encounters`, every vessel) once it qualifies and again when it ends; when
  one side is watched it raises `encounter` at once, with the partner in `details.partner`, and the
  alert is amended (end, duration, distances) when the two part.
- `loitering`: a watched vessel slow for `min_duration`, `min_shore_distance_nm` from shore, not in a
  port or anchorage; with the vessels seen within `neighbour_km` meanwhile (none seen is how a transfer
  with a dark partner looks).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from ais_watch.alerts.model import AlertAmendment, AlertDraft, iso
from ais_watch.detectors.associations import associate
from ais_watch.detectors.encounter_rules import EncounterRules, Loitering, LoiteringRules, Meeting
from ais_watch.detectors.watchlist_match import WatchlistEnricher, alert_severity, watchlist_details
from ais_watch.geo import Places, distance_nm, nearest
from ais_watch.land import LandMask
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, Services, StageBase, StartServices, VesselRow
from ais_watch.watchlist.index import Match

log = logging.getLogger(__name__)
DETECTOR = "encounters"  # detector_state: "<a>:<b>" a qualified meeting, "loiter:<mmsi>" a reported spell
EARTH_RADIUS_M = 6_371_008.8
M_PER_NM = 1852.0
MIN_IMPLIED_SECONDS = 30.0  # closer fixes are noise for a speed; the vessel keeps its last one
CELL_DEG = 0.02  # the neighbour grid: ~2.2 km north-south
# How often a loitering vessel's neighbours are looked for: a ship passing within 2 km at 12 kn is in
# that circle for ten minutes.
NEIGHBOUR_EVERY = timedelta(minutes=5)


class EncounterStage(StageBase):
    name = "encounters"

    def __init__(self, enricher: WatchlistEnricher, rules: EncounterRules | None = None,
                 loitering: LoiteringRules | None = None, *, recent_seconds: float = 600.0,
                 places: Places | None = None, land: LandMask | None = None,
                 near_port: Callable[[float, float, float], bool] | None = None) -> None:
        self.enricher = enricher
        self.rules = rules or EncounterRules()
        self.loitering = loitering or LoiteringRules()
        self.recent = recent_seconds
        self.places = places or Places()
        self.land = land
        self.near_port = near_port or (lambda lat, lon, km: False)
        self.slot: dict[int, int] = {}  # mmsi -> row in the arrays
        self.mmsis = np.zeros(1024, dtype=np.int64)
        self.lat = np.zeros(1024)
        self.lon = np.zeros(1024)
        self.time = np.full(1024, -np.inf)  # epoch seconds of its last believed position
        self.speed = np.full(1024, np.inf)  # knots implied by its last two positions
        self.in_port = np.zeros(1024, dtype=bool)
        self.watched: set[int] = set()
        self.meetings: dict[tuple[int, int], Meeting] = {}
        self.loiters: dict[int, Loitering] = {}
        self._shore_cache: dict[tuple[int, int], float | None] = {}
        # Every vessel by grid cell, for the vessels near a loitering one (cells, not MMSI order, find
        # neighbours).
        self.cells: dict[tuple[int, int], set[int]] = {}
        self.cell_of: dict[int, tuple[int, int]] = {}

    # ------------------------------------------------------------------------------------ restart
    def _save_meeting(self, meeting: Meeting, services: Services) -> None:
        """A qualified meeting is kept across a restart: its alert is amended, not raised again."""
        services.save_state(DETECTOR, f"{meeting.a}:{meeting.b}", {
            "start": iso(meeting.start), "last_together": iso(meeting.last_together),
            "distances_m": meeting.distances_m, "speeds_kn": meeting.speeds_kn, "lat_sum": meeting.lat_sum,
            "lon_sum": meeting.lon_sum, "alert_keys": meeting.alert_keys, "ended_at": iso(meeting.ended_at)})

    async def start(self, services: StartServices) -> None:
        for key, state in (await services.load_state(DETECTOR)).items():
            if key.startswith("loiter:"):
                mmsi = int(key.removeprefix("loiter:"))
                self.loiters[mmsi] = Loitering(
                    mmsi, start=_time(state["start"]), last_slow=_time(state["last_slow"]), lat=state["lat"],
                    lon=state["lon"], neighbours=set(state["neighbours"]), alert_key=state["alert_key"])
                continue
            a, _, b = key.partition(":")
            self.meetings[(int(a), int(b))] = Meeting(
                int(a), int(b), start=_time(state["start"]), last_together=_time(state["last_together"]),
                distances_m=list(state["distances_m"]), speeds_kn=list(state["speeds_kn"]),
                lat_sum=state["lat_sum"], lon_sum=state["lon_sum"], qualified=True,
                alert_keys=list(state["alert_keys"]),
                ended_at=_time(state["ended_at"]) if state["ended_at"] else None)

    # ---------------------------------------------------------------------------------- positions
    def handle(self, report: Report, ctx: Context) -> None:
        if not isinstance(report, PositionReport) or ctx.late:
            return
        mmsi = report.mmsi
        if ctx.watch is not None:
            self.watched.add(mmsi)
        else:
            self.watched.discard(mmsi)
        i = self.slot.get(mmsi)
        if i is None:
            i = self._new_slot(mmsi)
        when = report.time.timestamp()
        seconds = when - self.time[i]
        first = not math.isfinite(seconds)
        if first:
            # Its first fix: its reported speed until a second fix says better.
            self.speed[i] = report.sog if report.sog is not None else np.inf
        elif seconds >= MIN_IMPLIED_SECONDS:
            miles = distance_nm(self.lat[i], self.lon[i], report.lat, report.lon)
            self.speed[i] = miles / (seconds / 3600)
        if seconds >= MIN_IMPLIED_SECONDS or first:
            self.lat[i], self.lon[i], self.time[i] = report.lat, report.lon, when
        self.in_port[i] = any(z.is_port for z in ctx.zones)
        cell = (math.floor(report.lat / CELL_DEG), math.floor(report.lon / CELL_DEG))
        previous = self.cell_of.get(mmsi)
        if previous != cell:
            if previous is not None:
                self.cells[previous].discard(mmsi)
                if not self.cells[previous]:
                    del self.cells[previous]
            self.cells.setdefault(cell, set()).add(mmsi)
            self.cell_of[mmsi] = cell

    def _new_slot(self, mmsi: int) -> int:
        i = len(self.slot)
        if i == len(self.mmsis):
            grow = len(self.mmsis)
            self.mmsis = np.concatenate([self.mmsis, np.zeros(grow, dtype=np.int64)])
            self.lat = np.concatenate([self.lat, np.zeros(grow)])
            self.lon = np.concatenate([self.lon, np.zeros(grow)])
            self.time = np.concatenate([self.time, np.full(grow, -np.inf)])
            self.speed = np.concatenate([self.speed, np.full(grow, np.inf)])
            self.in_port = np.concatenate([self.in_port, np.zeros(grow, dtype=bool)])
        self.slot[mmsi] = i
        self.mmsis[i] = mmsi
        return i

    # -------------------------------------------------------------------------------- the search
    def candidates(self, now: datetime) -> npt.NDArray[np.intp]:
        """Rows of the vessels heard recently, slow, and not in a port or anchorage."""
        n = len(self.slot)
        recent = self.time[:n] >= now.timestamp() - self.recent
        # Twice the limit: a slow vessel's speed between two fixes wanders; the median over the meeting
        # is what must be under it.
        slow = self.speed[:n] < 2 * self.rules.max_speed_kn
        return np.flatnonzero(recent & slow & ~self.in_port[:n])

    def pairs(self, rows: npt.NDArray[np.intp], metres: float) -> npt.NDArray[np.intp]:
        """Every pair of these rows within `metres` of each other (indices into `rows`): a k-d tree over
        the positions as points on the unit sphere, where the straight-line (chord) distance orders
        pairs as the great-circle one does, anywhere on Earth."""
        if len(rows) < 2:
            return np.empty((0, 2), dtype=np.intp)
        lat, lon = np.radians(self.lat[rows]), np.radians(self.lon[rows])
        xyz = np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))
        chord = 2 * math.sin(metres / EARTH_RADIUS_M / 2)
        tree = cKDTree(xyz, balanced_tree=False, compact_nodes=False)
        found: npt.NDArray[np.intp] = tree.query_pairs(chord, output_type="ndarray")
        return found

    def tick(self, now: datetime, services: Services) -> None:
        rows = self.candidates(now)
        found = self.pairs(rows, self.rules.max_distance_m)
        if len(found):
            i, j = rows[found[:, 0]], rows[found[:, 1]]
            a, b = self.mmsis[i], self.mmsis[j]
            swap = a > b
            i, j = np.where(swap, j, i), np.where(swap, i, j)
            lat1, lat2 = np.radians(self.lat[i]), np.radians(self.lat[j])
            dlat, dlon = lat2 - lat1, np.radians(self.lon[j] - self.lon[i])
            hav = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
            metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(hav, 1.0)))
            mid_lat, mid_lon = (self.lat[i] + self.lat[j]) / 2, (self.lon[i] + self.lon[j]) / 2
            for row in zip(self.mmsis[i].tolist(), self.mmsis[j].tolist(), metres.tolist(),
                           self.speed[i].tolist(), self.speed[j].tolist(), mid_lat.tolist(), mid_lon.tolist(),
                           strict=True):
                self._together(now, services, *row)
        for key, meeting in list(self.meetings.items()):
            if meeting.last_together == now:
                continue
            if meeting.qualified and meeting.ended(now, self.rules):
                self._ended(meeting, services)
            if meeting.over(now, self.rules):
                del self.meetings[key]
                if meeting.qualified:
                    services.save_state(DETECTOR, f"{meeting.a}:{meeting.b}", None)
        self._loiter(rows, now, services)

    def _together(self, now: datetime, services: Services, a: int, b: int, metres: float, speed_a: float,
                  speed_b: float, lat: float, lon: float) -> None:
        """One sample of the pair (a < b) found together at this tick."""
        meeting = self.meetings.get((a, b))
        if meeting is None or meeting.over(now, self.rules):
            meeting = self.meetings[(a, b)] = Meeting(a, b, start=now, last_together=now)
        elif meeting.last_together == now:
            return  # sampled this tick already
        meeting.add(now, metres, speed_a, speed_b, lat, lon)
        if not meeting.qualified and meeting.long_and_slow(self.rules):
            lat, lon = meeting.position
            if self.near_port(lat, lon, self.rules.min_port_distance_km):
                return
            if self.land is not None and self.land.inland(lat, lon):
                return  # a "meeting" on land is two bad fixes, not a transfer
            meeting.qualified = True
            self._qualified(meeting, services)

    # ------------------------------------------------------------------------------- encounters
    def _qualified(self, meeting: Meeting, services: Services) -> None:
        vessels = {m: services.vessel(m) for m in (meeting.a, meeting.b)}
        matches = {m: (self.enricher.match(v) if v is not None else None) for m, v in vessels.items()}
        services.record_encounter(self._row(meeting, any(matches.values())))
        keys: dict[int, str] = {}
        for mmsi, partner in ((meeting.a, meeting.b), (meeting.b, meeting.a)):
            match, vessel = matches[mmsi], vessels[mmsi]
            if match is None or vessel is None:
                continue
            draft = self._draft(meeting, mmsi, vessel, match, partner, vessels[partner], matches[partner])
            meeting.alert_keys.append(keys.setdefault(mmsi, draft.dedup_key()))
            services.raise_alert(draft)
        # The unwatched partner of a listed ship is watched from now on (after its alert: it met a
        # listed ship, it was not one).
        associate(self.enricher, services, self.places, start=meeting.start, lat=meeting.position[0],
                  lon=meeting.position[1], vessels=vessels, matches=matches, alert_keys=keys)
        self._save_meeting(meeting, services)

    def _ended(self, meeting: Meeting, services: Services) -> None:
        meeting.ended_at = meeting.last_together
        self._save_meeting(meeting, services)
        services.record_encounter(self._row(meeting, bool(meeting.alert_keys), ended=True))
        for key in meeting.alert_keys:
            services.amend_alert(AlertAmendment(key, self._figures(meeting, ended=True)))

    def _figures(self, meeting: Meeting, *, ended: bool = False) -> dict[str, Any]:
        return {"start": iso(meeting.start), "end": iso(meeting.last_together) if ended else None,
                "duration_seconds": meeting.duration.total_seconds(),
                "min_distance_m": round(min(meeting.distances_m), 1),
                "median_distance_m": round(meeting.median_distance(), 1),
                "median_speed_kn": round(meeting.median_speed(), 2)}

    def _where(self, lat: float, lon: float) -> dict[str, Any]:
        found = nearest(self.places.ports, lat, lon)
        return {"shore_distance_nm": self._shore(lat, lon),
                "nearest_port": ({"name": found[0].name, "distance_nm": round(found[1], 1)}
                                 if found is not None else None)}

    def _shore(self, lat: float, lon: float) -> float | None:
        if self.land is None:
            return None
        key = (math.floor(lat * 20), math.floor(lon * 20))  # 0.05-degree cells: ~3 nm
        if key not in self._shore_cache:
            self._shore_cache[key] = round(self.land.land.shore_distance_nm(lat, lon), 1)
        return self._shore_cache[key]

    def _row(self, meeting: Meeting, watched: bool, *, ended: bool = False) -> dict[str, Any]:
        lat, lon = meeting.position
        where = self._where(lat, lon)
        figures = self._figures(meeting, ended=ended)
        port = where["nearest_port"]
        return {"mmsi_a": meeting.a, "mmsi_b": meeting.b, "start": meeting.start,
                "end": meeting.last_together if ended else None, "last_together": meeting.last_together,
                **{k: figures[k] for k in ("duration_seconds", "min_distance_m", "median_distance_m",
                                           "median_speed_kn")},
                "lat": lat, "lon": lon, "shore_distance_nm": where["shore_distance_nm"],
                "nearest_port": port["name"] if port else None,
                "port_distance_nm": port["distance_nm"] if port else None, "watched": watched}

    def _draft(self, meeting: Meeting, mmsi: int, vessel: VesselRow, match: Match, partner: int,
               partner_vessel: VesselRow | None, partner_match: Match | None) -> AlertDraft:
        lat, lon = meeting.position
        other = partner_vessel or {}
        details = {
            "partner": {"mmsi": partner, "imo": other.get("imo"), "name": other.get("name"),
                        "flag": other.get("flag"), "ship_type": other.get("ship_type"),
                        "watched": partner_match is not None,
                        "why": watchlist_details(partner_match)["watchlist"] if partner_match else None},
            **self._figures(meeting), "lat": lat, "lon": lon, **self._where(lat, lon),
            "flag": vessel.get("flag"), **watchlist_details(match),
        }
        return AlertDraft(kind="encounter", occurred_at=meeting.last_together,
                          event_key=f"{partner}|{iso(meeting.start)}",
                          mmsi=mmsi, imo=vessel.get("imo"), vessel_name=vessel.get("name"),
                          place=self.places.name(lat, lon), lat=lat, lon=lon,
                          severity=alert_severity(match, "encounter"), details=details,
                          tags=tuple(match.entry.tags))

    # -------------------------------------------------------------------------------- loitering
    def _loiter(self, rows: npt.NDArray[np.intp], now: datetime, services: Services) -> None:
        rules = self.loitering
        candidate = np.zeros(len(self.slot), dtype=bool)
        candidate[rows] = True
        slow_now = {m: i for m in self.watched if (i := self.slot.get(m)) is not None
                    and candidate[i] and self.speed[i] < rules.max_speed_kn}
        for mmsi, spell in list(self.loiters.items()):
            if mmsi not in slow_now:
                if spell.alert_key is not None and not spell.ended:
                    spell.ended = True
                    services.amend_alert(AlertAmendment(spell.alert_key, {
                        "end": iso(spell.last_slow), "duration_seconds": spell.duration.total_seconds(),
                        "neighbours": sorted(spell.neighbours), "others_seen": bool(spell.neighbours)}))
                if spell.alert_key is not None:
                    services.save_state(DETECTOR, f"loiter:{mmsi}", None)
                del self.loiters[mmsi]
        if not slow_now:
            return
        for mmsi, row in slow_now.items():
            lat, lon = float(self.lat[row]), float(self.lon[row])
            spell = self.loiters.get(mmsi) or self.loiters.setdefault(
                mmsi, Loitering(mmsi, start=now, last_slow=now, lat=lat, lon=lon))
            spell.last_slow = now
            if spell.checked is None or now - spell.checked >= NEIGHBOUR_EVERY:
                spell.checked = now
                spell.neighbours |= self._neighbours(mmsi, lat, lon, now, rules.neighbour_km)
            if spell.alert_key is None and spell.duration >= rules.min_duration:
                shore = self._shore(lat, lon)
                if shore is not None and shore < rules.min_shore_distance_nm:
                    continue
                vessel = services.vessel(mmsi)
                match = self.enricher.match(vessel) if vessel is not None else None
                if vessel is None or match is None:
                    continue
                draft = AlertDraft(
                    kind="loitering", occurred_at=now, event_key=iso(spell.start) or "", mmsi=mmsi,
                    imo=vessel.get("imo"), vessel_name=vessel.get("name"), place=self.places.name(lat, lon),
                    lat=lat, lon=lon, severity=alert_severity(match, "loitering"),
                    details={"start": iso(spell.start), "end": None,
                             "duration_seconds": spell.duration.total_seconds(),
                             "neighbours": sorted(spell.neighbours), "others_seen": bool(spell.neighbours),
                             "neighbour_km": rules.neighbour_km,
                             **self._where(lat, lon), "flag": vessel.get("flag"), **watchlist_details(match)},
                    tags=tuple(match.entry.tags))
                spell.alert_key = draft.dedup_key()
                services.raise_alert(draft)
                services.save_state(DETECTOR, f"loiter:{mmsi}", {
                    "start": iso(spell.start), "last_slow": iso(spell.last_slow), "lat": lat, "lon": lon,
                    "neighbours": sorted(spell.neighbours), "alert_key": spell.alert_key})

    def _neighbours(self, mmsi: int, lat: float, lon: float, now: datetime, km: float) -> set[int]:
        """Vessels heard recently within `km` of the point, from the grid cells round it."""
        rows_span = math.ceil(km / (CELL_DEG * 111.2))
        cols_span = math.ceil(km / (CELL_DEG * 111.2 * max(math.cos(math.radians(abs(lat))), 0.05)))
        row, col = math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)
        since = now.timestamp() - self.recent
        found = set()
        for r in range(row - rows_span, row + rows_span + 1):
            for c in range(col - cols_span, col + cols_span + 1):
                for other in self.cells.get((r, c), ()):
                    i = self.slot[other]
                    if other != mmsi and self.time[i] >= since and \
                            distance_nm(lat, lon, self.lat[i], self.lon[i]) * 1.852 <= km:
                        found.add(other)
        return found


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
