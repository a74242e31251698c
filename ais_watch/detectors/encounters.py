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
from array import array
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from ais_watch.alerts.model import AlertAmendment, AlertDraft, Severity, iso
from ais_watch.detectors.encounter_rules import EncounterRules, Loitering, LoiteringRules, Meeting
from ais_watch.detectors.watchlist_match import WatchlistEnricher, watchlist_details
from ais_watch.geo import Places, distance_nm, nearest
from ais_watch.land import LandMask
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, Services, StageBase, StartServices, VesselRow
from ais_watch.watchlist.index import Match
from ais_watch.world_ports import WorldPorts

log = logging.getLogger(__name__)
DETECTOR = "encounters"  # detector_state: "<a>:<b>" a qualified meeting, "loiter:<mmsi>" a reported spell
EARTH_RADIUS_M = 6_371_008.8
M_PER_NM = 1852.0
MIN_IMPLIED_SECONDS = 30.0  # closer fixes are noise for a speed; the vessel keeps its last one
CELL_DEG = 0.02  # the grid round loitering vessels: ~2.2 km north-south
COLUMNS = round(360 / CELL_DEG)  # column numbers wrap at the antimeridian
PLACE_RETRY_SECONDS = 600.0


class EncounterStage(StageBase):
    name = "encounters"

    def __init__(self, enricher: WatchlistEnricher, rules: EncounterRules | None = None,
                 loitering: LoiteringRules | None = None, *, recent_seconds: float = 600.0,
                 places: Places | None = None, land: LandMask | None = None,
                 near_port: Callable[[float, float, float], bool] | None = None,
                 world_ports: WorldPorts | None = None) -> None:
        self.enricher = enricher
        self.rules = rules or EncounterRules()
        self.loitering = loitering or LoiteringRules()
        self.recent = recent_seconds
        self.places = places or Places()
        self.land = land
        self.near_port = near_port or (lambda lat, lon, km: False)
        self.world_ports = world_ports
        # A row per vessel, in typed arrays: each position touches its row with plain Python numbers (a
        # numpy scalar costs several times as much, and every position comes through here), and a tick
        # reads whole columns as numpy views of the same memory (`column`), without a copy.
        self.slot: dict[int, int] = {}  # mmsi -> row
        self.mmsis = array("q")
        self.lat = array("d")
        self.lon = array("d")
        self.time = array("d")  # epoch seconds of its last believed position
        self.speed = array("d")  # knots implied by its last two positions
        self.in_port = array("b")
        self._at_sea_cache: dict[tuple[int, int], bool] = {}
        self.watched: set[int] = set()
        self.meetings: dict[int, Meeting] = {}  # by pair_key
        self.loiters: dict[int, Loitering] = {}
        self._shore_cache: dict[tuple[int, int], float | None] = {}
        # The grid cells within `neighbour_km` of each loitering vessel: every position is looked up in
        # it (one dict lookup), so a vessel passing near is seen at its first fix there, and no index of
        # every vessel is kept.
        self.near_loiterers: dict[int, list[int]] = {}  # cell -> loitering MMSIs
        self.covered: dict[int, tuple[int, list[int]]] = {}  # loitering MMSI -> (its cell, cells covered)

    # ------------------------------------------------------------------------------------ restart
    def _save_meeting(self, meeting: Meeting, services: Services) -> None:
        """A qualified meeting is kept across a restart: its alert is amended, not raised again."""
        services.save_state(DETECTOR, f"{meeting.a}:{meeting.b}", {
            "start": iso(meeting.start), "last_together": iso(meeting.last_together),
            "distances_m": meeting.distances_m, "speeds_kn": meeting.speeds_kn,
            "min_distance_m": meeting.min_distance_m, "lat_sum": meeting.lat_sum, "lon_sum": meeting.lon_sum,
            "samples": meeting.samples, "stride": meeting.stride, "alert_keys": meeting.alert_keys,
            "ended_at": iso(meeting.ended_at)})

    async def start(self, services: StartServices) -> None:
        for key, state in (await services.load_state(DETECTOR)).items():
            if key.startswith("loiter:"):
                mmsi = int(key.removeprefix("loiter:"))
                self.loiters[mmsi] = Loitering(
                    mmsi, start=_time(state["start"]), last_slow=_time(state["last_slow"]), lat=state["lat"],
                    lon=state["lon"], neighbours=set(state["neighbours"]), alert_key=state["alert_key"])
                continue
            a, _, b = key.partition(":")
            distances = list(state["distances_m"])
            self.meetings[pair_key(int(a), int(b))] = Meeting(
                int(a), int(b), start_s=_epoch(state["start"]), last_s=_epoch(state["last_together"]),
                distances_m=distances, speeds_kn=list(state["speeds_kn"]),
                # Saved before these were kept: the kept samples are all the samples.
                min_distance_m=state.get("min_distance_m", min(distances, default=math.inf)),
                lat_sum=state["lat_sum"], lon_sum=state["lon_sum"],
                samples=state.get("samples", len(distances)), stride=state.get("stride", 1), qualified=True,
                alert_keys=list(state["alert_keys"]),
                ended_s=_epoch(state["ended_at"]) if state["ended_at"] else None)

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
        first = seconds == math.inf
        if first:
            # Its first fix: its reported speed until a second fix says better.
            self.speed[i] = report.sog if report.sog is not None else math.inf
        elif seconds >= MIN_IMPLIED_SECONDS:
            miles = distance_nm(self.lat[i], self.lon[i], report.lat, report.lon)
            self.speed[i] = miles / (seconds / 3600)
        if seconds >= MIN_IMPLIED_SECONDS or first:
            self.lat[i], self.lon[i], self.time[i] = report.lat, report.lon, when
        self.in_port[i] = bool(ctx.zones) and any(z.is_port for z in ctx.zones)
        if self.near_loiterers:
            near = self.near_loiterers.get(_cell(report.lat, report.lon))
            if near:
                self._seen_near(mmsi, report.lat, report.lon, near)

    def _seen_near(self, mmsi: int, lat: float, lon: float, loiterers: list[int]) -> None:
        km = self.loitering.neighbour_km
        for other in loiterers:
            i = self.slot[other]
            if other != mmsi and distance_nm(lat, lon, self.lat[i], self.lon[i]) * 1.852 <= km:
                self.loiters[other].neighbours.add(mmsi)

    def _new_slot(self, mmsi: int) -> int:
        i = self.slot[mmsi] = len(self.slot)
        self.mmsis.append(mmsi)
        self.lat.append(0.0)
        self.lon.append(0.0)
        self.time.append(-math.inf)
        self.speed.append(math.inf)
        self.in_port.append(0)
        return i

    @staticmethod
    def column(values: array[Any]) -> npt.NDArray[Any]:
        """A column as a numpy view of the same memory. Only for the length of a tick: a row cannot be
        added while a view is alive (the array cannot move)."""
        return np.frombuffer(values, dtype=np.int64 if values.typecode == "q" else
                             np.int8 if values.typecode == "b" else np.float64)

    # -------------------------------------------------------------------------------- the search
    def candidates(self, now: datetime) -> npt.NDArray[np.intp]:
        """Rows of the vessels heard recently, slow, and not in a port or anchorage."""
        recent = self.column(self.time) >= now.timestamp() - self.recent
        # Twice the limit: a slow vessel's speed between two fixes wanders; the median over the meeting
        # is what must be under it.
        slow = self.column(self.speed) < 2 * self.rules.max_speed_kn
        return np.flatnonzero(recent & slow & (self.column(self.in_port) == 0))

    def pairs(self, rows: npt.NDArray[np.intp], metres: float) -> npt.NDArray[np.intp]:
        """Every pair of these rows within `metres` of each other (indices into `rows`): a k-d tree over
        the positions as points on the unit sphere, where the straight-line (chord) distance orders
        pairs as the great-circle one does, anywhere on Earth."""
        if len(rows) < 2:
            return np.empty((0, 2), dtype=np.intp)
        lat, lon = np.radians(self.column(self.lat)[rows]), np.radians(self.column(self.lon)[rows])
        xyz = np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))
        chord = 2 * math.sin(metres / EARTH_RADIUS_M / 2)
        tree = cKDTree(xyz, balanced_tree=False, compact_nodes=False)
        found: npt.NDArray[np.intp] = tree.query_pairs(chord, output_type="ndarray")
        return found

    def tick(self, now: datetime, services: Services) -> None:
        rows = self.candidates(now)
        found = self.pairs(rows, self.rules.max_distance_m)
        now_s = now.timestamp()
        if len(found):
            self._sample(rows[found[:, 0]], rows[found[:, 1]], now_s, services)
        over = []  # no list of every meeting: that many new objects a tick set off the collector
        for key, meeting in self.meetings.items():
            if meeting.last_s == now_s:
                continue
            if meeting.qualified and meeting.ended(now_s, self.rules):
                self._ended(meeting, services)
            if meeting.over(now_s, self.rules):
                over.append(key)
        for key in over:
            meeting = self.meetings.pop(key)
            if meeting.qualified:
                services.save_state(DETECTOR, f"{meeting.a}:{meeting.b}", None)
        self._loiter(rows, now, services)

    def _sample(self, i: npt.NDArray[np.intp], j: npt.NDArray[np.intp], now_s: float,
                services: Services) -> None:
        """One sample of each pair of rows found together at this tick: the figures in numpy for every
        pair at once, then a short loop that files each under its meeting (thousands a tick at 200,000
        vessels, so it does no more than append)."""
        mmsis, lats, lons = self.column(self.mmsis), self.column(self.lat), self.column(self.lon)
        a, b = mmsis[i], mmsis[j]
        swap = a > b
        i, j = np.where(swap, j, i), np.where(swap, i, j)
        a, b = mmsis[i], mmsis[j]
        lat1, lat2 = np.radians(lats[i]), np.radians(lats[j])
        dlat, dlon = lat2 - lat1, np.radians(lons[j] - lons[i])
        hav = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
        metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(hav, 1.0)))
        mid_lat, mid_lon = (lats[i] + lats[j]) / 2, (lons[i] + lons[j]) / 2
        speeds = self.column(self.speed)
        keys = (a << 30) | b  # pair_key, for every pair at once
        meetings, rules = self.meetings, self.rules
        merge_gap, min_duration = rules.merge_gap.total_seconds(), rules.min_duration.total_seconds()
        for key, metres_, speed_a, speed_b, lat, lon in zip(
                keys.tolist(), metres.tolist(), speeds[i].tolist(), speeds[j].tolist(),
                mid_lat.tolist(), mid_lon.tolist(), strict=True):
            meeting = meetings.get(key)
            if meeting is None or now_s - meeting.last_s > merge_gap:
                meeting = meetings[key] = Meeting(key >> 30, key & (2**30 - 1), start_s=now_s, last_s=now_s)
            elif meeting.last_s == now_s and meeting.samples:
                continue  # sampled this tick already
            meeting.add(now_s, metres_, speed_a, speed_b, lat, lon)
            if not meeting.qualified and now_s - meeting.start_s >= min_duration \
                    and now_s >= meeting.place_retry_s:
                self._qualify(meeting, now_s, services)

    def _qualify(self, meeting: Meeting, now_s: float, services: Services) -> None:
        """Long enough: slow enough, and where a transfer could be?"""
        if not meeting.long_and_slow(self.rules):
            return
        lat, lon = meeting.position
        if not self._at_sea(lat, lon):
            # Ships moored together stay so for days: their place is judged again in a while, not on
            # every tick (each look at the coast costs milliseconds).
            meeting.place_retry_s = now_s + PLACE_RETRY_SECONDS
            return
        meeting.qualified = True
        self._qualified(meeting, services)

    def _at_sea(self, lat: float, lon: float) -> bool:
        """Where a transfer could be: away from ports (geofences and the world's ports), not on land,
        and off the coast. Kept per 0.001-degree cell (~100 m): ships moored together are asked about
        again and again, and the answer does not change within a cell but at the limits' edges."""
        key = (round(lat * 1000), round(lon * 1000))
        found = self._at_sea_cache.get(key)
        if found is None:
            if len(self._at_sea_cache) > 100_000:
                self._at_sea_cache.clear()
            found = self._at_sea_cache[key] = self._judge_place(lat, lon)
        return found

    def _judge_place(self, lat: float, lon: float) -> bool:
        rules = self.rules
        if self.near_port(lat, lon, rules.min_port_distance_km):
            return False
        if self.world_ports is not None and self.world_ports.within_km(lat, lon, rules.min_port_distance_km):
            return False
        if self.land is None:
            return True
        if self.land.inland(lat, lon):
            return False  # a "meeting" on land is two bad fixes, not a transfer
        return rules.min_shore_distance_nm <= 0 or \
            self.land.land.shore_distance_nm(lat, lon) >= rules.min_shore_distance_nm

    # ------------------------------------------------------------------------------- encounters
    def _qualified(self, meeting: Meeting, services: Services) -> None:
        vessels = {m: services.vessel(m) for m in (meeting.a, meeting.b)}
        matches = {m: (self.enricher.match(v) if v is not None else None) for m, v in vessels.items()}
        services.record_encounter(self._row(meeting, any(matches.values())))
        for mmsi, partner in ((meeting.a, meeting.b), (meeting.b, meeting.a)):
            match, vessel = matches[mmsi], vessels[mmsi]
            if match is None or vessel is None:
                continue
            draft = self._draft(meeting, mmsi, vessel, match, partner, vessels[partner], matches[partner])
            meeting.alert_keys.append(draft.dedup_key())
            services.raise_alert(draft)
        self._save_meeting(meeting, services)

    def _ended(self, meeting: Meeting, services: Services) -> None:
        meeting.ended_s = meeting.last_s
        self._save_meeting(meeting, services)
        services.record_encounter(self._row(meeting, bool(meeting.alert_keys), ended=True))
        for key in meeting.alert_keys:
            services.amend_alert(AlertAmendment(key, self._figures(meeting, ended=True)))

    def _figures(self, meeting: Meeting, *, ended: bool = False) -> dict[str, Any]:
        return {"start": iso(meeting.start), "end": iso(meeting.last_together) if ended else None,
                "duration_seconds": meeting.duration.total_seconds(),
                "min_distance_m": round(meeting.min_distance_m, 1),
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
                          severity=None if match.strong else Severity.LOW, details=details,
                          tags=tuple(match.entry.tags))

    # -------------------------------------------------------------------------------- loitering
    def _loiter(self, rows: npt.NDArray[np.intp], now: datetime, services: Services) -> None:
        rules = self.loitering
        candidate = np.zeros(len(self.slot), dtype=bool)
        candidate[rows] = True  # a copy of the mask: no view of the arrays outlives the tick
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
                self._cover(mmsi, None)
        if not slow_now:
            return
        for mmsi, row in slow_now.items():
            lat, lon = float(self.lat[row]), float(self.lon[row])
            spell = self.loiters.get(mmsi) or self.loiters.setdefault(
                mmsi, Loitering(mmsi, start=now, last_slow=now, lat=lat, lon=lon))
            spell.last_slow = now
            self._cover(mmsi, (lat, lon))
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
                    lat=lat, lon=lon, severity=None if match.strong else Severity.LOW,
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

    def _cover(self, mmsi: int, where: tuple[float, float] | None) -> None:
        """Put the loitering vessel in the cells within `neighbour_km` of where it is (None: out of all)."""
        cell = _cell(*where) if where is not None else None
        covered = self.covered.get(mmsi)
        if covered is not None and covered[0] == cell:
            return
        for key in covered[1] if covered is not None else ():
            near = self.near_loiterers[key]
            near.remove(mmsi)
            if not near:
                del self.near_loiterers[key]
        if where is None or cell is None:
            self.covered.pop(mmsi, None)
            return
        lat, lon = where
        km = self.loitering.neighbour_km
        rows_span = math.ceil(km / (CELL_DEG * 111.2))
        cols_span = min(math.ceil(km / (CELL_DEG * 111.2 * max(math.cos(math.radians(abs(lat) + CELL_DEG)),
                                                                  0.01))), COLUMNS // 2)
        row, col = math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)
        keys = [_cell_key(r, c) for r in range(row - rows_span, row + rows_span + 1)
                for c in range(col - cols_span, col + cols_span + 1)]
        for key in keys:
            self.near_loiterers.setdefault(key, []).append(mmsi)
        self.covered[mmsi] = (cell, keys)


def _cell_key(row: int, col: int) -> int:
    return row * COLUMNS + col % COLUMNS


def _cell(lat: float, lon: float) -> int:
    return _cell_key(math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _epoch(text: str) -> float:
    return _time(text).timestamp()


def pair_key(a: int, b: int) -> int:
    """One int for the pair (a < b): MMSIs have nine digits, under 2**30."""
    return (a << 30) | b
