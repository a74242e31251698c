"""The offline basemap's tiles (ais_watch/basemap.py) on the real Natural Earth data: land where the land
is and none where it is not, simplification that bounds a tile, the antimeridian and the poles drawn
without false coasts, tile addresses checked, country names and borders; and the tile cache of the
HTTP handler (ais_watch/api/handlers/basemap.py), in process."""

from __future__ import annotations

import asyncio
import json
import math
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from ais_watch import basemap as basemap_module
from ais_watch.api.handlers import basemap as handler
from ais_watch.basemap import (
    MAX_VERTICES,
    MAX_ZOOM,
    Basemap,
    TileError,
    from_unit,
    parse_tile,
    shared_basemap,
    to_unit,
)
from ais_watch.land import LandMask, shared_land
from tests.helpers.paths import REPO

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def basemap() -> Basemap:
    return shared_basemap()


def tile_at(lat: float, lon: float, z: int) -> tuple[int, int, int]:
    x, y = to_unit(np.array([[lon, lat]]))[0]
    return z, int(x * 2 ** z), int(y * 2 ** z)


def features(basemap: Basemap, z: int, x: int, y: int) -> dict[str, Any]:
    """The tile's features by layer (labels as a list)."""
    out: dict[str, Any] = {"label": []}
    for feature in json.loads(basemap.tile(z, x, y))["features"]:
        layer = feature["properties"]["layer"]
        if layer == "label":
            out["label"].append(feature)
        else:
            assert layer not in out, f"two {layer} features"
            out[layer] = shape(feature["geometry"])
    return out


def tile_box(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """west, south, east, north of the tile itself, in degrees."""
    n = 2 ** z
    (west, north), (east, south) = from_unit(np.array([[x / n, y / n], [(x + 1) / n, (y + 1) / n]]))
    return west, south, east, north


def vertices(geometry: Any) -> int:
    return int(shapely.get_num_coordinates(geometry))


# ------------------------------------------------------------------------------------------ land
INLAND = {"North Korea, 25 km from Chongjin": (41.8, 129.5), "Russia, north of Nakhodka": (43.3, 132.9),
          "the Tumen valley": (42.9, 130.0)}
AT_SEA = {"Sea of Japan, off Rajin": (41.5, 131.5), "Sea of Japan, off Vladivostok": (42.0, 133.0)}


@pytest.mark.parametrize("z", [4, 6, 8, 10])
def test_a_tile_over_the_sea_of_japan_has_land_where_korea_and_russia_are(basemap: Basemap, z: int) -> None:
    mask = LandMask(shared_land(), tolerance_km=5.0)  # the points are well off the coast by the data too
    for name, (lat, lon) in {**INLAND, **AT_SEA}.items():
        tile = features(basemap, *tile_at(lat, lon, z))
        on_land = name in INLAND
        assert mask.inland_exact(lat, lon) is on_land, f"{name}: the test's point is not where it says"
        drawn = "land" in tile and tile["land"].contains(shapely.Point(lon, lat))
        assert drawn is on_land, f"{name} ({lat}, {lon}) at zoom {z}: land drawn {drawn}"


def test_a_tile_of_open_pacific_has_nothing(basemap: Basemap) -> None:
    # Between Hawaii and California: no land, no border, no name; the tile with Hawaii has land.
    empty = {"type": "FeatureCollection", "features": []}
    assert json.loads(basemap.tile(*tile_at(30.0, -140.0, 5))) == empty
    hawaii = features(basemap, *tile_at(19.6, -155.5, 5))
    assert hawaii["land"].contains(shapely.Point(-155.5, 19.6))


def test_the_coast_is_the_outline_of_land_not_of_countries(basemap: Basemap) -> None:
    # The Tumen river border between North Korea, China and Russia is no coast: one piece of land across
    # it, and the border a line of its own.
    tile = features(basemap, *tile_at(42.42, 130.65, 8))
    border_point = shapely.Point(130.65, 42.42)
    assert tile["land"].contains(border_point.buffer(0.02))
    assert tile["borders"].distance(border_point) < 0.05


# ------------------------------------------------------------------------------- simplification
def test_low_zoom_tiles_are_simplified_and_bounded(basemap: Basemap) -> None:
    raw = sum(vertices(part) for part in basemap.levels[-1].land)
    world = features(basemap, 0, 0, 0)
    assert vertices(world["land"]) < raw / 50, "the whole world at zoom 0 is a few thousand vertices"
    assert world["land"].contains(shapely.Point(127.5, 40.0)), "North Korea still there"
    for z in range(0, 4):
        for x in range(2 ** z):
            for y in range(2 ** z):
                body = basemap.tile(z, x, y)
                tile = features(basemap, z, x, y)
                count = sum(vertices(tile[layer]) for layer in ("land", "borders") if layer in tile)
                assert count <= MAX_VERTICES, (z, x, y, count)
                assert len(body) < 150_000, (z, x, y, len(body))


def test_the_vertex_bound_holds_by_coarser_simplification(basemap: Basemap,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert vertices(features(basemap, 0, 0, 0)["land"]) > 500  # the bound below is what limits it
    monkeypatch.setattr(basemap_module, "MAX_VERTICES", 500)
    tile = features(basemap, 0, 0, 0)
    assert vertices(tile["land"]) + vertices(tile.get("borders", shapely.LineString())) <= 500
    assert tile["land"].contains(shapely.Point(100.0, 60.0)), "Siberia, coarser, still there"


def test_deeper_zooms_keep_more_of_the_coast(basemap: Basemap) -> None:
    # The coast round Rajin in one zoom-10 tile: the zoom-10 tile draws it with more vertices than the
    # zoom-6 tile has in that same box, and its simplification stays within a pixel of the raw land.
    z, x, y = tile_at(42.2, 130.3, 10)
    west, south, east, north = tile_box(z, x, y)
    deep = features(basemap, z, x, y)["land"]
    shallow_tile = features(basemap, *tile_at(42.2, 130.3, 6))["land"]
    shallow = shapely.clip_by_rect(shallow_tile, west, south, east, north)
    assert vertices(shapely.clip_by_rect(deep, west, south, east, north)) > 2 * vertices(shallow)
    raw = shapely.clip_by_rect(shared_land().land_near(south - 0.1, north + 0.1, west - 0.1, east + 0.1),
                               west, south, east, north)
    pixel_deg = (east - west) / 256
    assert shapely.hausdorff_distance(raw.boundary, shapely.clip_by_rect(deep, west, south, east, north)
                                      .boundary) < 2 * pixel_deg


def test_coordinates_are_rounded_to_the_zoom(basemap: Basemap) -> None:
    def most_decimals(body: bytes) -> int:
        return max(len(m) for m in re.findall(r"\.(\d+)", body.decode()))

    assert most_decimals(basemap.tile(0, 0, 0)) <= 2
    assert most_decimals(basemap.tile(*tile_at(42.2, 130.3, 6))) <= 4
    deepest = basemap.tile(*tile_at(42.2, 130.3, MAX_ZOOM))  # drawn up to zoom 18 by the dashboard
    assert 5 <= most_decimals(deepest) <= 6
    assert all(Decimal(v).as_tuple().exponent >= -6 for v in re.findall(r"-?\d+\.\d+", deepest.decode()))


# ------------------------------------------------------------------------- antimeridian and poles
def _runs_along(boundary: Any, line: Any) -> float:
    return float(shapely.intersection(boundary, line).length)


@pytest.mark.parametrize("z", [1, 3, 4, 6])
def test_land_across_the_antimeridian_has_no_coast_along_it(basemap: Basemap, z: int) -> None:
    z, _, y = tile_at(66.0, 179.0, z)  # Chukotka, which Natural Earth cuts at 180°
    east, west = features(basemap, z, 2 ** z - 1, y), features(basemap, z, 0, y)
    _, south, _, north = tile_box(z, 0, y)
    for lon, tile in ((180.0, east), (-180.0, west)):
        meridian = shapely.LineString([(lon, south), (lon, north)])
        assert tile["land"].intersects(meridian), f"land reaches {lon} in the tile"
        assert _runs_along(tile["land"].boundary, meridian) == 0.0, f"a coast drawn along {lon}"
    # The data itself is cut there: it is the tiling that joins it.
    raw = shared_land().land_near(south, north, 170.0, 181.0)  # past 180: its own cut is not the box's
    assert _runs_along(raw.boundary, shapely.LineString([(180.0, south), (180.0, north)])) > 1.0


def test_the_poles_rows_draw_no_false_coast(basemap: Basemap) -> None:
    z = 2
    for x in range(4):  # Antarctica along the bottom of the map: land to the edge, no coast on it
        _, south, _, _ = tile_box(z, x, 3)
        bottom = features(basemap, z, x, 3)["land"]
        edge = shapely.LineString([(-180.0 + 90 * x, south), (-90.0 + 90 * x, south)])
        assert bottom.intersects(edge)
        assert _runs_along(bottom.boundary, edge) == 0.0
    assert features(basemap, z, 1, 0)["land"].contains(shapely.Point(-42.0, 75.0)), "Greenland, top row"
    assert parse_tile("2", "3", "3") == (2, 3, 3)


# ------------------------------------------------------------------------------- tile addresses
@pytest.mark.parametrize(("z", "x", "y", "says"), [
    ("11", "0", "0", "z must be 0 to 10"),
    ("-1", "0", "0", "z must be a whole number, got '-1'"),
    ("a", "0", "0", "z must be a whole number"),
    ("1.5", "0", "0", "z must be a whole number"),
    ("", "0", "0", "z must be a whole number"),
    ("٣", "0", "0", "z must be a whole number"),  # an Arabic-Indic three: isdigit(), but not ASCII
    ("3", "8", "0", "x must be 0 to 7 at zoom 3, got 8"),
    ("3", "0", "8", "y must be 0 to 7 at zoom 3, got 8"),
    ("0", "1", "0", "x must be 0 to 0 at zoom 0, got 1"),
    ("10", "99999999", "0", "x must be a whole number"),
    ("10", "0", "1e3", "y must be a whole number"),
])
def test_a_bad_tile_address_says_what_is_wrong(z: str, x: str, y: str, says: str) -> None:
    with pytest.raises(TileError, match=re.escape(says)):
        parse_tile(z, x, y)


def test_every_edge_tile_is_a_tile() -> None:
    for z in range(MAX_ZOOM + 1):
        last = str(2 ** z - 1)
        assert parse_tile(str(z), last, last) == (z, 2 ** z - 1, 2 ** z - 1)
        assert parse_tile(str(z), "0", "0") == (z, 0, 0)


# --------------------------------------------------------------------------- names and borders
def test_country_names_in_the_tile_of_their_label_point_at_their_zooms(basemap: Basemap) -> None:
    def names(z: int) -> list[str]:
        return [label["properties"]["name"] for x in range(2 ** z) for y in range(2 ** z)
                for label in features(basemap, z, x, y)["label"]]

    at_4 = names(4)
    assert at_4.count("North Korea") == 1, "once per zoom, by its shorter name (not 'Dem. Rep. Korea')"
    assert "Dem. Rep. Korea" not in at_4 and "South Korea" in at_4 and "Japan" in at_4
    assert "North Korea" not in names(2), "Natural Earth names it from zoom 3"
    label = next(f for f in features(basemap, *tile_at(39.885, 126.445, 6))["label"]
                 if f["properties"]["name"] == "North Korea")
    assert label["properties"]["rank"] == 3 and label["geometry"]["coordinates"] == [126.4445, 39.8853]


def test_no_border_along_the_antimeridian(basemap: Basemap) -> None:
    # Russia's two halves share their cut at 180°: that is no border between countries.
    z, _, y = tile_at(66.0, 179.0, 5)
    tile = features(basemap, z, 2 ** z - 1, y)
    _, south, _, north = tile_box(z, 2 ** z - 1, y)
    assert _runs_along(tile.get("borders", shapely.LineString()),
                       shapely.LineString([(180.0, south), (180.0, north)])) == 0.0


def test_the_dashboard_knows_the_deepest_zoom() -> None:
    script = (REPO / "ais_watch/api/dashboard/basemap.js").read_text(encoding="utf-8")
    assert re.search(r"const MAX_ZOOM = (\d+);", script).group(1) == str(MAX_ZOOM)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------- tile cache
def _fake_tile(size: int) -> handler.EncodedTile:
    return handler.EncodedTile(b"x" * size, b"g" * size, '"t"')


async def test_the_tile_cache_cuts_a_tile_once_and_drops_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    cut: list[tuple[int, int, int]] = []

    def encode(z: int, x: int, y: int) -> handler.EncodedTile:
        cut.append((z, x, y))
        return _fake_tile(100)

    monkeypatch.setattr(handler, "encode_tile", encode)
    cache = handler.TileCache(max_bytes=450)  # two tiles of 200 bytes
    first, second = await asyncio.gather(cache.get((1, 0, 0)), cache.get((1, 0, 0)))
    assert first is second and cut == [(1, 0, 0)], "asked twice at once, cut once"
    await cache.get((1, 1, 0))
    await cache.get((1, 0, 0))  # used again: (1, 1, 0) is now the oldest
    await cache.get((1, 0, 1))
    assert len(cache) == 2 and cache.bytes == 400
    await cache.get((1, 0, 0))
    assert cut == [(1, 0, 0), (1, 1, 0), (1, 0, 1)], "(1, 0, 0) kept"
    await cache.get((1, 1, 0))
    assert cut[-1] == (1, 1, 0), "(1, 1, 0) was dropped, cut again"


async def test_a_failed_cut_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def encode(z: int, x: int, y: int) -> handler.EncodedTile:
        calls.append(z)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return _fake_tile(10)

    monkeypatch.setattr(handler, "encode_tile", encode)
    cache = handler.TileCache()
    with pytest.raises(RuntimeError):
        await cache.get((0, 0, 0))
    assert len(cache) == 0
    assert (await cache.get((0, 0, 0))).body == b"x" * 10


def test_an_encoded_tile_is_gzipped_with_an_etag_of_its_body() -> None:
    tile = handler.encode_tile(0, 0, 0)
    import gzip

    assert gzip.decompress(tile.gzipped) == tile.body
    assert len(tile.gzipped) < len(tile.body) / 2
    assert tile.etag == handler.encode_tile(0, 0, 0).etag != handler.encode_tile(1, 0, 0).etag
    assert math.isclose(len(json.loads(tile.body)["features"]), 2)  # land and borders, no name at zoom 0
    empty = handler.encode_tile(*tile_at(30.0, -140.0, 5))  # open Pacific: gzip would only add bytes
    assert empty.gzipped == b"" and json.loads(empty.body)["features"] == []
