"""The land mask (`ais_watch/land.py`) over the real Natural Earth land: open sea, deep inland, a quay's
width inside a coast, and the per-cell answers against the per-point reference.

The land loads once per process (under a second) and is shared by the tests here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from ais_watch import land as land_module
from ais_watch.geo import distance_nm
from ais_watch.land import KM_PER_NM, Land, LandMask, shared_land

pytestmark = pytest.mark.unit

NORTH_SEA = (55.0, 5.0)
GERMANY = (51.0, 10.0)
HELSINGOR = (56.02, 12.59)  # on land, a few hundred metres inside the coast at Helsingør
CZECH_BORDER = (50.25, 12.10)  # in Germany, under a km from the Czech border, ~300 km from the sea


@pytest.fixture(scope="module")
def land() -> Land:
    return shared_land()


def coast_km(land: Land, lat: float, lon: float) -> float:
    """Distance to the sea's edge the slow way: the merged land's outline cut into ~50 m steps, the nearest
    vertex by haversine. Independent of how the mask measures."""
    near = land.land_near(lat - 0.2, lat + 0.2, lon - 0.35, lon + 0.35)
    coords = shapely.get_coordinates(shapely.segmentize(shapely.boundary(near), 0.0005))
    return min(distance_nm(lat, lon, y, x) for x, y in coords) * KM_PER_NM


def on_land(land: Land, lat: float, lon: float) -> bool:
    return bool(land.contains(np.array([lat]), np.array([lon]))[0])


def test_open_sea_is_not_inland(land: Land) -> None:
    assert not on_land(land, *NORTH_SEA)
    for tolerance in (0.0, 1.0, 5.0):
        mask = LandMask(land, tolerance)
        assert not mask.inland(*NORTH_SEA) and not mask.inland_exact(*NORTH_SEA)


def test_deep_inland_is_inland(land: Land) -> None:
    for tolerance in (0.0, 1.0, 5.0):
        mask = LandMask(land, tolerance)
        assert mask.inland(*GERMANY) and mask.inland_exact(*GERMANY)


def test_a_quays_width_inside_the_coast_is_not_inland_but_is_with_no_tolerance(land: Land) -> None:
    assert on_land(land, *HELSINGOR)
    assert 0.2 < coast_km(land, *HELSINGOR) < 0.6
    assert not LandMask(land, 1.0).inland(*HELSINGOR)
    assert not LandMask(land, 1.0).inland_exact(*HELSINGOR)
    assert LandMask(land, 0.01).inland(*HELSINGOR)
    assert LandMask(land, 0.01).inland_exact(*HELSINGOR)


@pytest.mark.parametrize("point", [HELSINGOR, (55.46, 8.48), (57.72, 10.57), (55.31, 10.79)])
def test_either_side_of_the_tolerance(land: Land, point: tuple[float, float]) -> None:
    """Inland just under its distance from the coast, not inland just over it: the tolerance is in km."""
    distance = coast_km(land, *point)
    assert on_land(land, *point) and distance < 1.0
    for tolerance, expected in ((distance * 0.97, True), (distance * 1.03, False)):
        mask = LandMask(land, tolerance)
        assert mask.inland(*point) is expected, (tolerance, distance)
        assert mask.inland_exact(*point) is expected, (tolerance, distance)


def test_a_land_border_is_no_coast(land: Land) -> None:
    """Natural Earth's countries share their borders; only the edge of the land as a whole is coast."""
    point = shapely.Point(CZECH_BORDER[1], CZECH_BORDER[0])
    outline = land.coast[land.coast_tree.query_nearest(point)[0]]  # the countries' outlines
    x, y = shapely.get_coordinates(shapely.shortest_line(point, outline))[1]
    assert distance_nm(*CZECH_BORDER, y, x) * KM_PER_NM < 1.0, "the test needs a border within 1 km"
    assert LandMask(land, 1.0).inland(*CZECH_BORDER)
    assert LandMask(land, 1.0).inland_exact(*CZECH_BORDER)


@pytest.mark.parametrize("tolerance", [0.01, 0.5, 1.0, 2.0])
def test_the_cells_agree_with_the_exact_test_in_the_danish_straits(land: Land, tolerance: float) -> None:
    """Random points over Funen, Zealand, the Belts and their islands: land, sea and a lot of coast."""
    rng = np.random.default_rng(13)
    lats, lons = rng.uniform(54.9, 55.9, 3000), rng.uniform(9.6, 12.8, 3000)
    # A third on the cells' edges and corners, as AIS positions can be (56.02 is 33,612,000 / 600,000).
    lats[:1000], lons[1000:2000] = np.round(lats[:1000], 2), np.round(lons[1000:2000], 2)
    lats[2000:2300], lons[2000:2300] = np.round(lats[2000:2300], 2), np.round(lons[2000:2300], 2)
    mask = LandMask(land, tolerance)
    cached = [mask.inland(float(lat), float(lon)) for lat, lon in zip(lats, lons, strict=True)]
    again = [mask.inland(float(lat), float(lon)) for lat, lon in zip(lats, lons, strict=True)]
    exact = [mask.inland_exact(float(lat), float(lon)) for lat, lon in zip(lats, lons, strict=True)]
    # The points test all three kinds of cell, and both answers inside the coastal ones.
    kinds = [mask.cell_kind(float(lat), float(lon)) for lat, lon in zip(lats, lons, strict=True)]
    coastal = [answer for kind, answer in zip(kinds, exact, strict=True) if kind == "coast"]
    assert "sea" in kinds and "land" in kinds
    assert len(coastal) > 100 and any(coastal) and not all(coastal)
    differ = [(float(lat), float(lon))
              for lat, lon, a, b in zip(lats, lons, cached, exact, strict=True) if a != b]
    assert differ == [] and cached == again


def test_the_cache_is_bounded(land: Land, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(land_module, "MAX_CELLS", 50)
    mask = LandMask(land, 1.0)
    points = [(55.0 + i * 0.021, 10.0 + i * 0.013) for i in range(120)]
    answers = [mask.inland(*p) for p in points]
    assert mask.cells_cached <= 50
    assert answers == [mask.inland_exact(*p) for p in points]


def test_made_cheaply_and_loaded_on_use() -> None:
    mask = LandMask(tolerance_km=2.0)
    assert mask.cells_cached == 0
    mask.prepare()
    assert mask.land is shared_land()
    assert mask.inland(*GERMANY)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_bad_tolerance_is_refused_in_one_line(bad: float) -> None:
    with pytest.raises(ValueError, match="tolerance_km must be a finite distance") as raised:
        LandMask(tolerance_km=bad)
    assert "\n" not in str(raised.value)


def test_the_land_is_the_polygons_pyshp_describes(land: Land) -> None:
    """The polygons are built from pyshp's rings with array calls (issue 17: the first position that
    needs the land waited for every coordinate to be walked in Python); they are exactly the geometries
    shapely.geometry.shape makes of pyshp's description of each country."""
    import shapefile

    parts = land_module.natural_earth_files()
    expected = []
    with shapefile.Reader(shp=parts["shp"], shx=parts["shx"], dbf=parts["dbf"]) as reader:
        for shape in reader.iterShapes():
            geom = shapely.geometry.shape(shape.__geo_interface__)
            expected.extend(g for g in getattr(geom, "geoms", [geom]) if not g.is_empty)
    assert len(land.polygons) == len(expected) > 4000
    assert all(shapely.equals_exact(land.polygons, np.array(expected, dtype=object), tolerance=0))
    assert sum(len(p.interiors) for p in expected) > 0, "holes are kept"
