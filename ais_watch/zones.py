"""Geofences: port, anchorage and zone polygons from GeoJSON files, and fast "which zones is this ship in".

Zones come from GeoJSON FeatureCollections: the ones bundled in the repository's top-level ``geofences/``
(the wheel carries them as ``ais_watch/geofences/``; see the SOURCES.md there: approximate polygons, not
surveyed) plus any ``*.geojson`` in user directories. Every feature is a Polygon or MultiPolygon with
these properties:

``id`` (stable slug, unique across all files), ``name``, ``aliases`` (list), ``country`` (ISO 3166-1
alpha-2), ``kind`` ("port", "anchorage" or "zone"), ``wpi`` (World Port Index number or null),
``locode`` (UN/LOCODE or null), ``ref_point`` ([lon, lat]) and ``source`` (what the polygon is drawn from
and how accurate it is). Other properties are allowed and ignored.

A bad file is refused whole with a `ZoneError` naming the file and the feature. `ZoneRegistry` reloads
changed files and, when a changed file is bad, keeps serving the previous zones.

Distances use a local equirectangular approximation (longitudes scaled by cos(latitude) at the point,
spherical Earth of mean radius 6371 km): better than 0.5% out to a few tens of km, which is all exit
hysteresis needs. There is no pyproj here on purpose.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from ais_watch import shipped_dir
from ais_watch.errors import AisWatchError

__all__ = ["BUNDLED_DIR", "KINDS", "PORT_KINDS", "Zone", "ZoneError", "ZoneIndex", "ZoneRegistry",
           "load_zone_file", "load_zones"]

log = logging.getLogger(__name__)

BUNDLED_DIR = shipped_dir("geofences", "SOURCES.md")  # the top-level geofences/ of the repository
KINDS = ("port", "anchorage", "zone")
PORT_KINDS = ("port", "anchorage")
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180.0

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
_EMPTY: tuple[int, ...] = ()
# What a zone file looked like: (path, mtime_ns, size), or (directory, "unreadable", why) for a bad directory.
_FileStamp = tuple[str, int | str, int | str]


class ZoneError(AisWatchError):
    """A geofence file is unreadable or wrong; the message names the file and, where it can, the feature."""


@dataclass(frozen=True)
class Zone:
    """One geofence. `geometry` is a shapely Polygon or MultiPolygon in (lon, lat) degrees."""

    id: str
    name: str
    aliases: tuple[str, ...]
    country: str
    kind: str
    wpi: int | None
    locode: str | None
    source: str = field(repr=False)
    geometry: BaseGeometry = field(repr=False, compare=False)
    ref_lat: float
    ref_lon: float
    file: str

    @property
    def is_port(self) -> bool:
        return self.kind in PORT_KINDS


# ---------------------------------------------------------------------------------------------- loading

def _label(path: Path) -> str:
    """How errors and `Zone.file` name a file: relative for bundled files, the path as given otherwise."""
    try:
        return str(path.resolve().relative_to(BUNDLED_DIR.parent))
    except ValueError:
        return str(path)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_rings(coordinates: Any, geom_type: str) -> str | None:
    """Structure of GeoJSON polygon coordinates: the first problem found, or None."""
    polygons = [coordinates] if geom_type == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        return "coordinates must be a non-empty list"
    for p, rings in enumerate(polygons):
        where = f"polygon {p} " if geom_type == "MultiPolygon" else ""
        if not isinstance(rings, list) or not rings:
            return f"{where}has no rings"
        for r, ring in enumerate(rings):
            if not isinstance(ring, list) or len(ring) < 4:
                return f"{where}ring {r} needs at least 4 positions"
            for position in ring:
                if not isinstance(position, list) or len(position) < 2 or not all(
                        _is_number(v) for v in position[:2]):
                    return f"{where}ring {r} has a bad position {position!r}"
                lon, lat = position[0], position[1]
                if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                    return (f"{where}ring {r} position [{lon}, {lat}] is out of range "
                            "(lon -180..180, lat -90..90)")
            if ring[0][:2] != ring[-1][:2]:
                return f"{where}ring {r} is not closed (first and last positions differ)"
    return None


def _check_properties(props: dict[str, Any]) -> str | None:
    """Required properties and their types: the first problem found, or None."""
    required = ("id", "name", "aliases", "country", "kind", "wpi", "locode", "ref_point", "source")
    missing = [key for key in required if key not in props]
    if missing:
        return f"missing propert{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}"
    if not isinstance(props["id"], str) or not _ID.match(props["id"]):
        return f"id {props['id']!r} must be a slug of lower-case letters, digits, '-' and '_'"
    for key in ("name", "source"):
        if not isinstance(props[key], str) or not props[key].strip():
            return f"{key} must be a non-empty string"
    aliases = props["aliases"]
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        return "aliases must be a list of non-empty strings"
    if not isinstance(props["country"], str) or not _COUNTRY.match(props["country"]):
        return f"country {props['country']!r} must be an ISO 3166-1 alpha-2 code such as 'KP'"
    if props["kind"] not in KINDS:
        return f"kind {props['kind']!r} must be one of {', '.join(KINDS)}"
    wpi = props["wpi"]
    if wpi is not None and (not isinstance(wpi, int) or isinstance(wpi, bool) or wpi <= 0):
        return f"wpi {wpi!r} must be a positive integer or null"
    locode = props["locode"]
    if locode is not None and (not isinstance(locode, str) or not _LOCODE.match(locode)):
        return f"locode {locode!r} must be a five-character UN/LOCODE such as 'RUVVO', or null"
    ref = props["ref_point"]
    if (not isinstance(ref, list) or len(ref) != 2 or not all(_is_number(v) for v in ref)
            or not (-180.0 <= ref[0] <= 180.0 and -90.0 <= ref[1] <= 90.0)):
        return f"ref_point {ref!r} must be [lon, lat] in range"
    return None


def _feature_zone(feature: Any, label: str) -> Zone | str:
    """One feature as a Zone, or the problem with it."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return "is not a GeoJSON Feature"
    props = feature.get("properties")
    if not isinstance(props, dict):
        return "has no properties object"
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or "type" not in geometry:
        return "has no geometry"
    geom_type = geometry["type"]
    if geom_type not in ("Polygon", "MultiPolygon"):
        return f"geometry must be a Polygon or MultiPolygon, not {geom_type}"
    problem = _check_rings(geometry.get("coordinates"), geom_type) or _check_properties(props)
    if problem:
        return problem
    try:
        geom = shapely.from_geojson(json.dumps({"type": geom_type, "coordinates": geometry["coordinates"]}))
    except (GEOSException, ValueError, TypeError) as exc:
        return f"geometry cannot be read: {exc}"
    if geom.is_empty:
        return "geometry is empty"
    reason = shapely.is_valid_reason(geom)
    if reason != "Valid Geometry":
        return f"polygon is not valid: {reason}"
    return Zone(id=props["id"], name=props["name"].strip(),
                aliases=tuple(a.strip() for a in props["aliases"]), country=props["country"],
                kind=props["kind"], wpi=props["wpi"], locode=props["locode"], source=props["source"],
                geometry=geom, ref_lat=float(props["ref_point"][1]), ref_lon=float(props["ref_point"][0]),
                file=label)


def _feature_id(feature: Any) -> str | None:
    """The feature's id for error messages, from its properties or its GeoJSON id, if it has one."""
    if not isinstance(feature, dict):
        return None
    props = feature.get("properties")
    for fid in ((props or {}).get("id") if isinstance(props, dict) else None, feature.get("id")):
        if isinstance(fid, str) and fid:
            return fid
    return None


def load_zone_file(path: Path | str) -> list[Zone]:
    """Every zone in one GeoJSON FeatureCollection; `ZoneError` naming the file and feature if any is bad."""
    path = Path(path)
    label = _label(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneError(f"{label}: cannot be read: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ZoneError(f"{label}: not valid JSON: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ZoneError(f"{label}: not a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise ZoneError(f"{label}: FeatureCollection has no features list")
    zones: list[Zone] = []
    seen: dict[str, int] = {}
    for i, feature in enumerate(features):
        result = _feature_zone(feature, label)
        where = f"{label} feature {i}" + (f" ({fid!r})" if (fid := _feature_id(feature)) else "")
        if isinstance(result, str):
            raise ZoneError(f"{where}: {result}")
        if result.id in seen:
            raise ZoneError(f"{where}: duplicate id, also feature {seen[result.id]} of the same file")
        seen[result.id] = i
        zones.append(result)
    return zones


def _geojson_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ZoneError(f"{directory}: zone directory does not exist")
    return sorted(p for p in directory.glob("*.geojson") if p.is_file())


def _directories(dirs: Iterable[Path | str], include_bundled: bool) -> list[Path]:
    wanted = ([BUNDLED_DIR] if include_bundled else []) + [Path(d) for d in dirs]
    unique: list[Path] = []
    for d in wanted:
        if all(d.resolve() != u.resolve() for u in unique):
            unique.append(d)
    return unique


def load_zones(dirs: Iterable[Path | str] = (), *, include_bundled: bool = True) -> list[Zone]:
    """Zones from every ``*.geojson`` in the bundled directory and then each of `dirs`, in name order.

    An id used twice, in one file or across two, is a `ZoneError` naming both places.
    """
    zones: list[Zone] = []
    first_seen: dict[str, str] = {}
    for directory in _directories(dirs, include_bundled):
        for path in _geojson_files(directory):
            for zone in load_zone_file(path):
                if zone.id in first_seen:
                    raise ZoneError(f"{zone.file}: zone id {zone.id!r} is already defined in "
                                    f"{first_seen[zone.id]}")
                first_seen[zone.id] = zone.file
                zones.append(zone)
    return zones


# ----------------------------------------------------------------------------------------------- index

def _finite_point(lat: Any, lon: Any) -> tuple[float, float] | None:
    """(lat, lon) as floats, or None when either is not a finite number."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    return (lat, lon) if math.isfinite(lat) and math.isfinite(lon) else None


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


class ZoneIndex:
    """Point-in-zone lookups over a fixed set of zones: an STRtree of the geometries, each one prepared.

    A point on a zone's boundary is in the zone (covers). Indices returned by `zones_at_many` are
    positions in `zones`.
    """

    _CELL_LIMIT = 4096  # a zone whose bounding box spans more 1-degree cells is a candidate everywhere

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._geoms = np.array([z.geometry for z in self.zones], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        # Single-point lookups skip the STRtree: building a shapely Point and querying the tree costs
        # ~10-20 us per call, a dict of 1-degree cells and a bounding-box check ~1 us.
        self._bounds: list[tuple[float, float, float, float]] = [
            (x0, y0, x1, y1) for x0, y0, x1, y1 in shapely.bounds(self._geoms).reshape(-1, 4).tolist()]
        self._cells: dict[tuple[int, int], list[int]] = {}
        self._everywhere: list[int] = []
        for i, (x0, y0, x1, y1) in enumerate(self._bounds):
            xs = range(math.floor(x0), math.floor(x1) + 1)
            ys = range(math.floor(y0), math.floor(y1) + 1)
            if len(xs) * len(ys) > self._CELL_LIMIT:
                self._everywhere.append(i)
                continue
            for cx in xs:
                for cy in ys:
                    self._cells.setdefault((cx, cy), []).append(i)
        self._by_id = {z.id: z for z in self.zones}
        self._names: dict[str, list[tuple[int, int]]] = {}
        for i, z in enumerate(self.zones):
            for rank, key in ((0, z.id), (1, z.name), *((2, a) for a in z.aliases)):
                self._names.setdefault(_norm(key), []).append((rank, i))

    def __len__(self) -> int:
        return len(self.zones)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self.zones)

    def zones_at(self, lat: float, lon: float) -> tuple[Zone, ...]:
        """The zones that contain (or have on their boundary) the point, in index order."""
        if (point := _finite_point(lat, lon)) is None:
            return ()
        lat, lon = point
        candidates = self._cells.get((math.floor(lon), math.floor(lat)), ())
        if self._everywhere:
            candidates = sorted({*candidates, *self._everywhere})
        hits = []
        for i in candidates:
            x0, y0, x1, y1 = self._bounds[i]
            if x0 <= lon <= x1 and y0 <= lat <= y1 and shapely.intersects_xy(self._geoms[i], lon, lat):
                hits.append(self.zones[i])
        return tuple(hits)

    def zones_at_many(self, lats: Sequence[float] | np.ndarray,
                      lons: Sequence[float] | np.ndarray) -> list[tuple[int, ...]]:
        """For each point, the indices (into `zones`, ascending) of the zones that contain it.

        Vectorised for replay batches: one bulk STRtree bounding-box query over `shapely.points`, then
        the exact test on the candidate pairs with the zone geometries as the prepared side. That gives
        the same pairs as ``tree.query(points, predicate="intersects")``, which prepares the points
        instead, and is about 1.5x faster here (bench/zone_membership.py).
        """
        lat_arr = np.asarray(lats, dtype=float)
        lon_arr = np.asarray(lons, dtype=float)
        if lat_arr.shape != lon_arr.shape or lat_arr.ndim != 1:
            raise ValueError("lats and lons must be one-dimensional and of the same length")
        n = len(lat_arr)
        result: list[tuple[int, ...]] = [_EMPTY] * n
        if n == 0 or not self.zones:
            return result
        ok = np.isfinite(lat_arr) & np.isfinite(lon_arr)
        points = shapely.points(np.where(ok, lon_arr, 0.0), np.where(ok, lat_arr, 0.0))
        assert isinstance(points, np.ndarray)  # 1-D coordinates give an array, never a single Point
        points[~ok] = None
        point_idx, zone_idx = self._tree.query(points)
        if len(point_idx) == 0:
            return result
        hits = shapely.intersects(self._geoms[zone_idx], points[point_idx])
        point_idx, zone_idx = point_idx[hits], zone_idx[hits]
        order = np.lexsort((zone_idx, point_idx))
        point_idx, zone_idx = point_idx[order], zone_idx[order]
        starts: list[int] = (np.flatnonzero(np.r_[True, point_idx[1:] != point_idx[:-1]]).tolist()
                             if len(point_idx) else [])
        bounds = [*starts, len(point_idx)]
        zone_list = zone_idx.tolist()
        for k in range(len(bounds) - 1):
            a, b = bounds[k], bounds[k + 1]
            result[int(point_idx[a])] = tuple(zone_list[a:b])
        return result

    def distance_km(self, zone: Zone, lat: float, lon: float) -> float:
        """Approximate distance in km from the point to the zone's polygon: 0 inside or on the boundary.

        Local equirectangular projection centred on the point (longitude differences scaled by cos(lat)).
        """
        point = shapely.Point(lon, lat)
        if shapely.intersects(zone.geometry, point):
            return 0.0
        scale_x = KM_PER_DEG * math.cos(math.radians(lat))

        def to_km(coords: np.ndarray) -> np.ndarray:
            dlon = (coords[:, 0] - lon + 180.0) % 360.0 - 180.0
            return np.column_stack((dlon * scale_x, (coords[:, 1] - lat) * KM_PER_DEG))

        local = shapely.transform(zone.geometry, to_km)
        return float(shapely.distance(local, shapely.Point(0.0, 0.0)))

    def within_km(self, lat: float, lon: float, km: float) -> tuple[Zone, ...]:
        """Zones whose polygon lies within `km` of the point (those containing it included), index order."""
        if (point := _finite_point(lat, lon)) is None or not km >= 0:
            return ()
        lat, lon = point
        dlat = km / KM_PER_DEG
        cos_lat = math.cos(math.radians(min(abs(lat) + dlat, 89.9)))
        dlon = min(km / (KM_PER_DEG * cos_lat), 180.0)
        area = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        candidates = sorted(self._tree.query(area).tolist())
        return tuple(self.zones[i] for i in candidates
                     if self.distance_km(self.zones[i], lat, lon) <= km)

    def ports(self) -> tuple[Zone, ...]:
        """The port and anchorage zones."""
        return tuple(z for z in self.zones if z.kind in PORT_KINDS)

    def by_id(self, zone_id: str) -> Zone | None:
        return self._by_id.get(zone_id)

    def find(self, name: str) -> Zone | None:
        """The zone whose id, name or one of whose aliases is `name` (case-insensitive); id beats name
        beats alias, then the first loaded wins."""
        matches = self._names.get(_norm(name))
        return self.zones[min(matches)[1]] if matches else None


# -------------------------------------------------------------------------------------------- registry

class ZoneRegistry:
    """The current `ZoneIndex` over the bundled zones plus user directories, reloaded when files change.

    Construction raises `ZoneError` on a bad file (refuse to start on a broken config); afterwards
    `reload_if_changed` never raises: a bad file is logged and the previous index stays in service.
    """

    def __init__(self, dirs: Iterable[Path | str] = (), *, include_bundled: bool = True) -> None:
        self.dirs = [Path(d) for d in dirs]
        self.include_bundled = include_bundled
        self._signature = self._current_signature()
        self._failed_signature: tuple[_FileStamp, ...] | None = None
        self.index = ZoneIndex(load_zones(self.dirs, include_bundled=include_bundled))
        self.last_error: str | None = None

    def _current_signature(self) -> tuple[_FileStamp, ...]:
        """What the zone files look like now: (path, mtime_ns, size) of each, or a marker for a bad dir."""
        parts: list[_FileStamp] = []
        for directory in _directories(self.dirs, self.include_bundled):
            try:
                for path in _geojson_files(directory):
                    stat = path.stat()
                    parts.append((str(path), stat.st_mtime_ns, stat.st_size))
            except (ZoneError, OSError) as exc:
                parts.append((str(directory), "unreadable", str(exc)))
        return tuple(parts)

    def reload_if_changed(self) -> bool:
        """Reload if any zone file was added, removed or modified; True if a new index is now in service."""
        signature: tuple[_FileStamp, ...] | None = None
        try:
            signature = self._current_signature()
            if signature == self._signature or signature == self._failed_signature:
                return False
            zones = load_zones(self.dirs, include_bundled=self.include_bundled)
            index = ZoneIndex(zones)
        except ZoneError as exc:
            self._failed_signature = signature
            self.last_error = str(exc)
            log.error("zones: not reloaded, keeping the previous %d zones: %s", len(self.index), exc)
            return False
        except Exception as exc:  # a running service must not die of a zone file
            self._failed_signature = signature
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("zones: unexpected error while reloading; keeping the previous %d zones",
                          len(self.index))
            return False
        self.index = index
        self._signature = signature
        self._failed_signature = None
        self.last_error = None
        log.info("zones: reloaded %d zones", len(index))
        return True
