"""The offline basemap: land, coastline, country borders and country names from Natural Earth 1:10m (the
countries `land.py` loads, shared with the sea routes), cut into GeoJSON tiles addressed as web-map tiles
are (`z/x/y`, web mercator, x east from 180°W, y south from 85.05°N), so the dashboard shows land and
sea with no tile server and nothing leaving the machine.

- **Land** is the countries merged (their shared borders are no coast), clipped at `LAT_LIMIT` (past the
  map's edge at 85.05°, so Antarctica's cut is off the map) and projected once onto the unit web-mercator
  square. Natural Earth splits a few islands and Chukotka at 180°; those halves are joined, so no coast
  runs along the antimeridian.
- **Levels**: the land simplified for the zooms in `LEVEL_ZOOMS` (half a pixel there, each part on its
  own, rings kept valid), parts smaller than `MIN_AREA_PX` pixels left out; past the last level the land
  as it comes. Built once, in a few seconds (see `bench/basemap.py`).
- **A tile** is cut from the level at or just finer than its zoom: the parts an STRtree finds, clipped
  to the tile plus `BUFFER_PX` pixels round it (the cut edges fall outside the tile, so the polygon's
  drawn outline is the coast), from the world's copies on both sides near the antimeridian; then
  simplified to half a pixel, small parts dropped, at most `MAX_VERTICES` vertices (the tolerance doubles
  until it fits), coordinates rounded to a sixteenth of a pixel. Zooms past `MAX_ZOOM` are drawn by the
  dashboard from that zoom's tiles: 1:10m holds no finer detail.
- **Borders**: the edges two countries share (Natural Earth's countries share their vertices exactly),
  merged into lines and simplified the same way. The package ships the "deu" edition, whose borders
  are those Germany recognises (Crimea is Ukraine's).
- **Names**: each country's name at its label point (Natural Earth's LABEL_X/Y), in the tile the point
  falls in, at the zooms Natural Earth gives it (MIN_LABEL to MAX_LABEL), with its rank (LABELRANK).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from ais_watch.land import natural_earth_files, shared_land

log = logging.getLogger(__name__)

MAX_ZOOM = 10  # tiles are served up to this zoom; the dashboard scales them past it (basemap.js)
DISPLAY_MAX_ZOOM = 18  # the dashboard's deepest zoom: coordinates at MAX_ZOOM are rounded for it
# Simplified once at start; a tile starts from the first at or above its zoom, past the last from the land
# as it comes. Without them a zoom-0 tile took 1.1 s to cut and zoom 2 175 ms (p95); with them 15-30 ms.
LEVEL_ZOOMS = (0, 2, 4)
TILE_PX = 256
TOLERANCE_PX = 0.5  # simplification: at most half a pixel off, invisible
BUFFER_PX = 4.0  # a tile is cut this far beyond its edges: the cut is off the tile, under no stroke
MIN_AREA_PX = 0.5  # land parts smaller than this many square pixels are left out (a dot at most)
MAX_VERTICES = 8_000  # in one tile's land and borders: bounds its size (about 20 bytes a vertex)
LAT_LIMIT = 89.5  # land is clipped here before projection: beyond the map's edge, finite in mercator
_EDGE = 1e-9

Geoms = npt.NDArray[Any]  # an array of shapely geometries


class TileError(ValueError):
    """A tile address that is not one: the message says which part and what is allowed."""


def parse_tile(z: str, x: str, y: str) -> tuple[int, int, int]:
    """`z/x/y` as given in a URL, checked: whole numbers, z from 0 to MAX_ZOOM, x and y from 0 to
    2^z - 1 (x wraps round the world in the client, never here; y stops at the map's edge)."""
    def whole(name: str, value: str) -> int:
        if not (value.isascii() and value.isdigit() and len(value) <= 7):
            raise TileError(f"basemap tile: {name} must be a whole number, got {value[:20]!r}")
        return int(value)

    zoom = whole("z", z)
    if zoom > MAX_ZOOM:
        raise TileError(f"basemap tile: z must be 0 to {MAX_ZOOM} (deeper zooms are drawn from "
                        f"zoom {MAX_ZOOM}), got {zoom}")
    col, row, last = whole("x", x), whole("y", y), 2 ** zoom - 1
    for name, value in (("x", col), ("y", row)):
        if value > last:
            raise TileError(f"basemap tile: {name} must be 0 to {last} at zoom {zoom}, got {value}")
    return zoom, col, row


def to_unit(lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(lon, lat) degrees to the unit web-mercator square: x 0..1 east from 180°W, y 0..1 south from
    85.05°N (beyond 0..1 past it)."""
    x = (lonlat[:, 0] + 180.0) / 360.0
    y = (1.0 - np.arcsinh(np.tan(np.radians(lonlat[:, 1]))) / math.pi) / 2.0
    return np.stack([x, y], axis=1)


def from_unit(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lon = xy[:, 0] * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(math.pi * (1.0 - 2.0 * xy[:, 1]))))
    return np.stack([lon, lat], axis=1)


def pixel(z: int) -> float:
    """One pixel of zoom z in unit-square lengths."""
    return 1.0 / float(TILE_PX * 2 ** z)


def decimals(z: int) -> int:
    """Digits kept in a tile's degrees: a sixteenth of a pixel at the equator (an eighth at 60°), for the
    deepest zoom the tile is drawn at; at most 6 (0.1 m), far finer than the data."""
    drawn_at = DISPLAY_MAX_ZOOM if z >= MAX_ZOOM else z
    return min(6, math.ceil(math.log10(16 * TILE_PX * 2 ** drawn_at / 360.0)))


@dataclass(frozen=True)
class CountryLabel:
    name: str
    lon: float
    lat: float
    x: float  # in the unit square
    y: float
    min_zoom: int
    max_zoom: float
    rank: int  # Natural Earth's LABELRANK: 1 the most prominent; names are placed in this order


@dataclass(frozen=True)
class Level:
    """The land and borders simplified for one zoom (or as they come), with their indexes."""

    zoom: int | None  # None: not simplified
    land: Geoms
    land_tree: shapely.STRtree
    borders: Geoms
    borders_tree: shapely.STRtree


class Basemap:
    """Natural Earth land, borders and country names, cut into tiles on request. Immutable once built:
    tiles may be cut in several threads at once."""

    def __init__(self, countries: Geoms, labels: list[CountryLabel]) -> None:
        """`countries`: country polygons in (lon, lat) degrees that share their borders' vertices."""
        land = _unit_land(countries)
        borders = _unit_borders(countries)
        self.levels = [_level(land, borders, z) for z in LEVEL_ZOOMS] + [_level(land, borders, None)]
        self.labels = labels
        self._label_xy = np.array([(label.x, label.y) for label in labels]).reshape(-1, 2)

    @classmethod
    def natural_earth(cls) -> Basemap:
        return cls(shared_land().polygons, country_labels())

    @property
    def vertices(self) -> int:
        """How many vertices the levels hold."""
        return sum(_vertices(level.land) + _vertices(level.borders) for level in self.levels)

    def level_for(self, z: int) -> Level:
        for level in self.levels:
            if level.zoom is None or level.zoom >= z:
                return level
        raise AssertionError("the last level is not simplified")  # pragma: no cover

    def tile(self, z: int, x: int, y: int) -> bytes:
        """The tile as GeoJSON (a FeatureCollection, UTF-8): a MultiPolygon of land (`"layer": "land"`),
        a MultiLineString of borders (`"borders"`) and a Point per country name (`"label"`, with its
        `name`), each only where there is one. (z, x, y) as `parse_tile` checks them."""
        level = self.level_for(z)
        size, buffer = 1.0 / 2 ** z, BUFFER_PX * pixel(z)
        box = (x * size - buffer, y * size - buffer, (x + 1) * size + buffer, (y + 1) * size + buffer)
        land = _cut(level.land, level.land_tree, box, polygons=True)
        borders = _cut(level.borders, level.borders_tree, box, polygons=False)
        # Coarser pixels until it fits: twice the tolerance, four times the smallest part (and a border
        # piece shorter than the tolerance goes), so a few rounds always get there.
        size = pixel(z)
        while True:
            land_now = _simplified(land, TOLERANCE_PX * size, MIN_AREA_PX * size * size, polygons=True)
            borders_now = _simplified(borders, TOLERANCE_PX * size, TOLERANCE_PX * size, polygons=False)
            if _vertices(land_now) + _vertices(borders_now) <= MAX_VERTICES:
                break
            size *= 2
        digits = decimals(z)
        features: list[str] = []
        if len(land_now):
            features.append(_feature("land", shapely.multipolygons(_degrees(land_now, digits))))
        if len(borders_now):
            features.append(_feature("borders", shapely.multilinestrings(_degrees(borders_now, digits))))
        features.extend(self._labels(z, x, y))
        return ('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}").encode()

    def _labels(self, z: int, x: int, y: int) -> list[str]:
        n = 2 ** z
        inside = ((np.floor(self._label_xy[:, 0] * n) == x) & (np.floor(self._label_xy[:, 1] * n) == y))
        out = []
        for i in np.flatnonzero(inside):
            label = self.labels[i]
            if label.min_zoom <= z <= label.max_zoom:
                point = {"type": "Point", "coordinates": [round(label.lon, 4), round(label.lat, 4)]}
                properties = {"layer": "label", "name": label.name, "rank": label.rank}
                out.append(json.dumps({"type": "Feature", "properties": properties, "geometry": point},
                                      ensure_ascii=False, separators=(",", ":")))
        return out


def _feature(layer: str, geometry: Any) -> str:
    return ('{"type":"Feature","properties":{"layer":"' + layer + '"},"geometry":'
            + str(shapely.to_geojson(geometry)) + "}")


def _unit_land(countries: Geoms) -> Geoms:
    """The countries merged into land, in the unit square, one polygon per part; parts Natural Earth cut
    at 180° joined across it (they then reach past x = 1)."""
    land = shapely.coverage_union_all(countries)  # a coverage: shared borders vanish, 0.4 s for 1:10m
    land = shapely.clip_by_rect(land, -180.0, -LAT_LIMIT, 180.0, LAT_LIMIT)
    parts: Geoms = shapely.get_parts(shapely.transform(land, lambda xy: to_unit(_on_meridian(xy))))
    bounds = shapely.bounds(parts)
    at_west, at_east = bounds[:, 0] <= _EDGE, bounds[:, 2] >= 1.0 - _EDGE
    west, east = at_west & ~at_east, at_east & ~at_west  # not Antarctica, which wraps the whole world
    if not (west.any() and east.any()):
        return parts
    moved = _shifted(parts[west], 1.0)
    joined = shapely.get_parts(shapely.union_all(np.concatenate([parts[east], moved])))
    return np.concatenate([parts[~(west | east)], joined])


def _on_meridian(lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Longitudes a hair off ±180° (Natural Earth has -179.99999999999991) put on it, so the halves of
    land cut there meet exactly once moved together."""
    lon = lonlat[:, 0]
    snapped = np.where(np.abs(np.abs(lon) - 180.0) < 1e-7, np.copysign(180.0, lon), lon)
    return np.stack([snapped, lonlat[:, 1]], axis=1)


def _unit_borders(countries: Geoms) -> Geoms:
    """Country borders as lines in the unit square, in pieces of at most 256 vertices: the ring edges
    that two polygons share (each edge counted by its two vertices' ids, either way round), except the
    180° meridian, where Natural Earth cuts a country in two."""
    coords, ring = shapely.get_coordinates(shapely.get_rings(countries), return_index=True)
    vertices, vertex_id = np.unique(np.ascontiguousarray(coords).view(np.complex128)[:, 0],
                                    return_inverse=True)
    starts = np.flatnonzero(ring[1:] == ring[:-1])  # an edge from each vertex to the next of its ring
    first, second = vertex_id[starts].astype(np.int64), vertex_id[starts + 1].astype(np.int64)
    keys = np.minimum(first, second) * len(vertices) + np.maximum(first, second)
    unique, counts = np.unique(keys, return_counts=True)
    shared = unique[counts >= 2]
    ends = np.stack([vertices[shared // len(vertices)], vertices[shared % len(vertices)]], axis=1)
    segments = np.stack([ends.real, ends.imag], axis=2)  # (edge, end, lon/lat)
    segments = segments[~np.all(np.abs(segments[:, :, 0]) == 180.0, axis=1)]
    if not len(segments):
        return np.array([], dtype=object)
    lines = shapely.line_merge(shapely.multilinestrings(shapely.linestrings(segments)))
    pieces: list[Any] = []
    for line in shapely.get_parts(shapely.transform(lines, to_unit)):
        line_coords = np.asarray(line.coords)
        pieces.extend(shapely.linestrings(line_coords[i : i + 257])
                      for i in range(0, len(line_coords) - 1, 256))
    return np.array(pieces, dtype=object)


def _level(land: Geoms, borders: Geoms, zoom: int | None) -> Level:
    if zoom is not None:
        size = pixel(zoom)
        land = shapely.simplify(land[shapely.area(land) >= MIN_AREA_PX * size * size],
                                TOLERANCE_PX * size, preserve_topology=True)
        land = land[~shapely.is_empty(land)]
        borders = shapely.simplify(borders, TOLERANCE_PX * size, preserve_topology=False)
        borders = borders[~shapely.is_empty(borders)]
    return Level(zoom, land, shapely.STRtree(land), borders, shapely.STRtree(borders))


def _cut(geoms: Geoms, tree: shapely.STRtree, box: tuple[float, float, float, float], *,
         polygons: bool) -> Geoms:
    """What of `geoms` lies in the box, from the world's copies west and east of it too (the box may
    reach past x = 0 or x = 1, and joined land past x = 1); land from more than one copy is merged."""
    found: list[Geoms] = []
    for shift in (-1.0, 0.0, 1.0):  # the copy of the world `shift` to the east
        x0, y0, x1, y1 = box[0] - shift, box[1], box[2] - shift, box[3]
        hits = tree.query(shapely.box(x0, y0, x1, y1))
        if not len(hits):
            continue
        clipped = shapely.clip_by_rect(geoms[hits], x0, y0, x1, y1)
        clipped = clipped[~shapely.is_empty(clipped)]
        if len(clipped):
            found.append(_shifted(clipped, shift) if shift else clipped)
    if not found:
        return np.array([], dtype=object)
    pieces = np.concatenate([shapely.get_parts(piece) for piece in found])
    if polygons:
        pieces = pieces[shapely.get_type_id(pieces) == 3]  # a cut may leave a line or point: not land
        if len(found) > 1:  # the same land from two copies meets at x = 0 or 1: one polygon, no seam
            bounds = shapely.bounds(pieces)
            seam = np.zeros(len(pieces), dtype=bool)
            for meridian in (0.0, 1.0):
                seam |= (bounds[:, 0] <= meridian + _EDGE) & (bounds[:, 2] >= meridian - _EDGE)
            if seam.sum() > 1:
                joined = shapely.get_parts(shapely.union_all(pieces[seam]))
                pieces = np.concatenate([pieces[~seam], joined])
    else:
        pieces = pieces[shapely.get_type_id(pieces) == 1]
    return pieces


def _shifted(geoms: Geoms, dx: float) -> Geoms:
    """The geometries moved `dx` east (in the unit square: 1 is once round the world)."""
    offset = np.array([dx, 0.0])
    moved: Geoms = shapely.transform(geoms, lambda xy: xy + offset)
    return moved


def _vertices(geoms: Geoms) -> int:
    return int(shapely.get_num_coordinates(geoms).sum()) if len(geoms) else 0


def _simplified(geoms: Geoms, tolerance: float, smallest: float, *, polygons: bool) -> Geoms:
    """Simplified within `tolerance`, without the pieces smaller than `smallest` (an area for polygons,
    a length for lines)."""
    if not len(geoms):
        return geoms
    out = shapely.simplify(geoms, tolerance, preserve_topology=polygons)
    out = out[~shapely.is_empty(out)]
    return out[(shapely.area(out) if polygons else shapely.length(out)) >= smallest]


def _degrees(geoms: Geoms, digits: int) -> Geoms:
    return shapely.transform(geoms, lambda xy: np.round(from_unit(xy), digits))


def country_labels() -> list[CountryLabel]:
    """Each country's name (the shorter of Natural Earth's NAME and NAME_EN: "North Korea", not "Dem.
    Rep. Korea"; "China", not "People's Republic of China") at its label point."""
    import shapefile  # pyshp, as land.py reads the shapes

    labels = []
    with shapefile.Reader(dbf=natural_earth_files()["dbf"]) as reader:
        for record in reader.iterRecords(fields=["NAME", "NAME_EN", "LABEL_X", "LABEL_Y", "MIN_LABEL",
                                                 "MAX_LABEL", "LABELRANK"]):
            names = [str(n).strip() for n in (record["NAME"], record["NAME_EN"]) if str(n or "").strip()]
            if not names or record["LABEL_X"] is None or record["LABEL_Y"] is None:
                continue
            lon, lat = float(record["LABEL_X"]), float(record["LABEL_Y"])
            x, y = to_unit(np.array([[lon, lat]]))[0]
            labels.append(CountryLabel(min(names, key=len), lon, lat, float(x), float(y),
                                       math.floor(float(record["MIN_LABEL"])), float(record["MAX_LABEL"]),
                                       int(record["LABELRANK"] or 10)))
    return labels


_SHARED_LOCK = threading.Lock()
_BUILDER_LOCK = threading.Lock()
_builder: threading.Thread | None = None
_built: list[Basemap] = []  # the shared basemap once built (read without a lock: a list append is atomic)
_failed: list[BaseException] = []


def _build_shared() -> Basemap:
    with _SHARED_LOCK:
        if not _built:
            started = time.perf_counter()
            basemap = Basemap.natural_earth()
            log.info("basemap built in %.2f s (%d vertices)", time.perf_counter() - started, basemap.vertices)
            _built.append(basemap)
        return _built[0]


def shared_basemap() -> Basemap:
    """The basemap, built on first use (a few seconds; `serve` starts it in the background at start-up)
    and shared by everything in the process."""
    return _built[0] if _built else _build_shared()


def prepare() -> None:
    """Build the shared basemap now, and hand back to the system what the build freed: about 100 MB of
    GEOS's working memory that glibc would otherwise keep in the thread's arena for the process.
    Elsewhere than glibc, nothing to hand back."""
    shared_basemap()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def prepare_in_background() -> None:
    """Start building the shared basemap (once) in a daemon thread: `serve` calls it at start-up, so the
    dashboard's first view waits for nothing, and a service stopped meanwhile does not wait for the build
    (an executor's thread would hold the exit back by seconds)."""
    global _builder
    with _BUILDER_LOCK:
        if _builder is not None or _built:
            return

        def build() -> None:
            try:
                prepare()
            except Exception as err:  # told to whoever waits for it (basemap_ready)
                log.exception("basemap: the build failed")
                _failed.append(err)

        _builder = threading.Thread(target=build, name="basemap build", daemon=True)
        _builder.start()


def leave_if_building(code: int) -> None:
    """Exit at once if the build is still under way in its daemon thread when the command is done: the
    interpreter's finalisation would pull Python out from under GEOS mid-call (a segfault, exit -11, seen
    when the demo was stopped in its first seconds). Everything that matters is closed by then; logs and
    output are flushed first."""
    if _builder is not None and _builder.is_alive():
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def basemap_ready() -> bool:
    """Whether the shared basemap is built; raises what its build raised, if it failed."""
    if _failed:
        raise RuntimeError("the basemap could not be built") from _failed[0]
    return bool(_built)
