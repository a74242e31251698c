"""Geofences: the bundled GeoJSON files, the loader's validation, ZoneIndex lookups and ZoneRegistry reloads.

Distances in these tests are haversine on a sphere of 6371 km (no pyproj); the index itself uses a local
equirectangular approximation, checked against haversine here.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
import shapely

from ais_watch.zones import (
    BUNDLED_DIR,
    KINDS,
    Zone,
    ZoneError,
    ZoneIndex,
    ZoneRegistry,
    load_zone_file,
    load_zones,
)
from tests.helpers.paths import REPO

pytestmark = pytest.mark.unit

PORTS_CSV = REPO / "ais_watch" / "data" / "ports_of_interest.csv"  # the polygons' reference points
NM_KM = 1.852
R_KM = 6371.0088

# The three CSV rows that are Wikipedia town centres, not WPI harbour points.
TOWN_CENTRE_IDS = {"Sinpo": "kp-sinpo", "Dunai (Dunay)": "ru-dunai", "Bolshoy Kamen": "ru-bolshoy-kamen"}
EXPECTED_FILES = {
    "north_korea_ports.geojson": {"kp-rajin", "kp-sonbong", "kp-chongjin", "kp-kimchaek", "kp-hungnam",
                                  "kp-wonsan", "kp-nampo", "kp-songnim", "kp-haeju", "kp-sinpo"},
    "russia_far_east_ports.geojson": {"ru-vostochny", "ru-vostochny-roads", "ru-vladivostok", "ru-nakhodka",
                                      "ru-nakhodka-roads", "ru-dunai", "ru-posyet", "ru-zarubino",
                                      "ru-slavyanka", "ru-bolshoy-kamen", "ru-korsakov", "ru-vanino"},
    "russia_west_ports.geojson": {"ru-novorossiysk", "ru-tuapse", "ru-kavkaz", "ua-sevastopol", "ru-ust-luga",
                                  "ru-baltiysk", "ru-kaliningrad"},
    "zones.geojson": {"kp-territorial-sea", "kp-rajin-approaches"},
}
# Ust-Luga's terminals run ~10 km up the east shore of Luga Bay from the WPI point at the river mouth.
MAX_EXTENT_KM = {"ru-ust-luga": 13.5}


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * R_KM * math.asin(min(1.0, math.sqrt(a)))


def offset(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    """The point `km` from (lat, lon) on initial bearing `bearing` (great circle)."""
    d, b = km / R_KM, math.radians(bearing)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return load_zones()


@pytest.fixture(scope="module")
def index(zones) -> ZoneIndex:
    return ZoneIndex(zones)


@pytest.fixture(scope="module")
def raw_features() -> dict[str, dict]:
    """Bundled features as plain GeoJSON, by id."""
    out = {}
    for path in sorted(BUNDLED_DIR.glob("*.geojson")):
        for feature in json.loads(path.read_text(encoding="utf-8"))["features"]:
            out[feature["properties"]["id"]] = feature
    return out


# ------------------------------------------------------------------------------------------ bundled data

def test_bundled_files_hold_the_expected_features(zones):
    by_file: dict[str, set[str]] = {}
    for z in zones:
        by_file.setdefault(Path(z.file).name, set()).add(z.id)
    assert by_file == EXPECTED_FILES
    assert all(z.file.startswith("geofences/") for z in zones)


def test_every_bundled_feature_is_valid_and_complete(zones, raw_features):
    for z in zones:
        assert z.geometry.is_valid and not z.geometry.is_empty, z.id
        assert z.geometry.geom_type in ("Polygon", "MultiPolygon"), z.id
        assert z.kind in KINDS and z.name and z.source.startswith("approximate"), z.id
        assert len(z.country) == 2 and z.country.isupper(), z.id
        assert all(isinstance(a, str) and a for a in z.aliases), z.id
        assert z.wpi is None or isinstance(z.wpi, int), z.id
        assert z.locode is None or (len(z.locode) == 5 and z.locode.startswith(z.country)), z.id
        props = raw_features[z.id]["properties"]
        assert set(props) >= {"id", "name", "aliases", "country", "kind", "wpi", "locode", "ref_point",
                              "source"}
        # RFC 7946: exterior rings counter-clockwise, holes clockwise; 5 decimals at most.
        for poly in shapely.get_parts(z.geometry):
            assert poly.exterior.is_ccw, z.id
            assert all(not ring.is_ccw for ring in poly.interiors), z.id
        coords = shapely.get_coordinates(z.geometry)
        assert np.allclose(coords, np.round(coords, 5), atol=1e-9), z.id
    kinds = {Path(z.file).name: set() for z in zones}
    for z in zones:
        kinds[Path(z.file).name].add(z.kind)
    assert kinds["zones.geojson"] == {"zone"}
    assert all(k <= {"port", "anchorage"} for name, k in kinds.items() if name != "zones.geojson")


def test_sevastopol_is_ukrainian_with_a_note(index, raw_features):
    sevastopol = index.find("Sevastopol")
    assert sevastopol.country == "UA" and sevastopol.wpi == 43760
    note = raw_features["ua-sevastopol"]["properties"]["note"].lower()
    assert "occupied" in note and "russia" in note


def _csv_rows() -> list[dict[str, str]]:
    with PORTS_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_each_port_polygon_contains_its_reference_point(index, raw_features):
    rows = _csv_rows()
    assert len(rows) == 27
    by_wpi = {z.wpi: z for z in index.ports() if z.kind == "port" and z.wpi is not None}
    seen = set()
    for row in rows:
        lat, lon = float(row["lat"]), float(row["lon"])
        if row["wpi_number"]:
            zone = by_wpi[int(row["wpi_number"])]
            assert zone.geometry.covers(shapely.Point(lon, lat)), f"{zone.id} misses its WPI point"
        else:
            # Town-centre coordinates (Wikipedia): the polygon is on the harbour, and must contain the
            # harbour point recorded in the feature instead; that point must be near the town.
            zone = index.by_id(TOWN_CENTRE_IDS[row["name"]])
            hlon, hlat = raw_features[zone.id]["properties"]["harbour_point"]
            assert zone.geometry.covers(shapely.Point(hlon, hlat)), zone.id
            assert haversine_km(lat, lon, hlat, hlon) < 6.0, zone.id
        assert (zone.ref_lat, zone.ref_lon) == pytest.approx((lat, lon), abs=1e-6), zone.id
        seen.add(zone.id)
    assert seen == {z.id for z in index.ports() if z.kind == "port"}


def test_anchorages_name_their_port_and_lie_near_it(index, raw_features):
    anchorages = [z for z in index.zones if z.kind == "anchorage"]
    assert {z.id for z in anchorages} == {"ru-nakhodka-roads", "ru-vostochny-roads"}
    for z in anchorages:
        port = index.by_id(raw_features[z.id]["properties"]["port"])
        assert port is not None and port.kind == "port"
        assert (z.ref_lat, z.ref_lon) == (port.ref_lat, port.ref_lon)
        assert port.geometry.distance(z.geometry) < 0.02  # adjoining, or nearly


def test_port_polygons_stay_within_a_few_km_of_their_reference_point(index):
    for z in index.ports():
        far = max(haversine_km(z.ref_lat, z.ref_lon, lat, lon)
                  for lon, lat in shapely.get_coordinates(z.geometry))
        assert far < MAX_EXTENT_KM.get(z.id, 10.0), f"{z.id} reaches {far:.1f} km from its reference point"
        # so nothing 20 nm (37 km) from the port can be inside it
        for bearing in range(0, 360, 30):
            lat, lon = offset(z.ref_lat, z.ref_lon, 20 * NM_KM, bearing)
            assert not z.geometry.covers(shapely.Point(lon, lat)), (z.id, bearing)


@pytest.mark.parametrize(("port_id", "bearings"), [
    ("kp-rajin", (120, 150, 180, 210)),       # East Sea south of Rason
    ("ru-vostochny", (150, 180, 210)),        # out of Nakhodka Gulf
    ("ru-nakhodka", (150, 180, 210)),
    ("ru-vladivostok", (150, 180, 200)),      # Peter the Great Gulf
])
def test_open_sea_20_nm_off_key_ports_is_in_no_port_polygon(index, port_id, bearings):
    port = index.by_id(port_id)
    for bearing in bearings:
        for nm in (12, 20, 30):
            lat, lon = offset(port.ref_lat, port.ref_lon, nm * NM_KM, bearing)
            hits = [z.id for z in index.zones_at(lat, lon) if z.is_port]
            assert hits == [], (port_id, bearing, nm, hits)


def test_territorial_sea_holds_5_nm_off_rajin_but_not_30(index):
    rajin = index.by_id("kp-rajin")
    sea = index.by_id("kp-territorial-sea")
    lat5, lon5 = offset(rajin.ref_lat, rajin.ref_lon, 5 * NM_KM, 150)
    lat30, lon30 = offset(rajin.ref_lat, rajin.ref_lon, 30 * NM_KM, 150)
    assert sea in index.zones_at(lat5, lon5)
    assert index.by_id("kp-rajin-approaches") in index.zones_at(lat5, lon5)
    assert sea not in index.zones_at(lat30, lon30)
    # both coasts, and not the open Sea of Japan or South Korean waters
    assert sea.geometry.geom_type == "MultiPolygon"
    assert sea in index.zones_at(*offset(39.166667, 127.45, 6 * NM_KM, 90))      # off Wonsan
    assert sea in index.zones_at(37.90, 125.75)                                   # Haeju bay
    assert sea in index.zones_at(38.60, 124.95)                                   # off the Nampo estuary
    assert sea not in index.zones_at(40.0, 131.0)
    assert sea not in index.zones_at(37.5, 129.5)                                 # off Samcheok (ROK)


def test_rajin_polygon_covers_the_piers_and_inner_roads(index):
    rajin = index.by_id("kp-rajin")
    for lat, lon in ((42.2300, 130.2900), (42.2250, 130.2850), (42.2100, 130.2800), (42.2000, 130.3000)):
        assert rajin in index.zones_at(lat, lon), (lat, lon)
    assert rajin not in index.zones_at(42.15, 130.30)  # outer bay: the approaches zone, not the port


# ------------------------------------------------------------------------------------------- lookups

def _sample_points(index: ZoneIndex, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Half uniform over the Sea of Japan / Yellow Sea box, half scattered within ~10 km of ports."""
    rng = np.random.default_rng(seed)
    lats = rng.uniform(33.0, 46.0, n)
    lons = rng.uniform(119.0, 142.0, n)
    refs = np.array([(z.ref_lat, z.ref_lon) for z in index.ports()])
    k = n // 2
    pick = refs[rng.integers(0, len(refs), k)]
    lats[:k] = pick[:, 0] + rng.normal(0.0, 0.04, k)
    lons[:k] = pick[:, 1] + rng.normal(0.0, 0.05, k)
    return lats, lons


def test_lookups_agree_with_a_plain_shapely_loop(index, zones):
    lats, lons = _sample_points(index, 10_000, seed=7)
    fresh = load_zones()  # unprepared geometries for the baseline
    baseline = [tuple(i for i, z in enumerate(fresh) if z.geometry.covers(shapely.Point(lon, lat)))
                for lat, lon in zip(lats, lons, strict=True)]
    many = index.zones_at_many(lats, lons)
    single = [tuple(index.zones.index(z) for z in index.zones_at(lat, lon))
              for lat, lon in zip(lats, lons, strict=True)]
    assert many == baseline
    assert single == baseline
    assert sum(1 for b in baseline if b) > 1000
    assert any(len(b) > 1 for b in baseline)


def test_boundary_points_count_as_inside(index):
    rajin = index.by_id("kp-rajin")
    (x0, y0), (x1, y1) = shapely.get_coordinates(rajin.geometry)[:2]
    for lon, lat in ((x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2)):
        assert rajin in index.zones_at(lat, lon)
        assert index.zones.index(rajin) in index.zones_at_many([lat], [lon])[0]


def test_bad_coordinates_are_in_no_zone(index):
    assert index.zones_at(float("nan"), 130.0) == ()
    assert index.zones_at_many([float("nan"), 42.233333, 91.0], [130.3, float("inf"), 0.0]) == [(), (), ()]
    assert index.zones_at_many([], []) == []
    with pytest.raises(ValueError):
        index.zones_at_many([1.0, 2.0], [1.0])


def test_distance_and_within_km(index):
    rajin = index.by_id("kp-rajin")
    assert index.distance_km(rajin, rajin.ref_lat, rajin.ref_lon) == 0.0
    # The south edge of the Rajin polygon runs at about 42.194 N near 130.30 E.
    edge_lat = 42.19416
    lat, lon = offset(edge_lat, 130.30, 5.0, 180)
    d = index.distance_km(rajin, lat, lon)
    assert d == pytest.approx(5.0, abs=0.1)
    assert rajin in index.within_km(lat, lon, 5.5)
    assert rajin not in index.within_km(lat, lon, 4.5)
    assert rajin in index.within_km(rajin.ref_lat, rajin.ref_lon, 0.0)
    assert index.within_km(40.0, 134.0, 20.0) == ()


def test_distance_matches_haversine_for_a_square(tmp_path):
    path = tmp_path / "sq.geojson"
    write_fc(path, [feature("sq", SQUARE)])
    idx = ZoneIndex(load_zone_file(path))
    zone = idx.by_id("sq")
    for bearing, start in ((90, (42.05, 130.1)), (0, (42.1, 130.05)), (270, (42.05, 130.0))):
        for km in (1.0, 10.0, 30.0):
            lat, lon = offset(*start, km, bearing)
            assert idx.distance_km(zone, lat, lon) == pytest.approx(km, rel=0.005)


def test_find_by_id_name_and_alias(index):
    rajin = index.by_id("kp-rajin")
    for name in ("Najin", "Rason", "rajin", "  RAJIN ", "kp-rajin"):
        assert index.find(name) is rajin, name
    assert index.find("Vostochnyy") is index.by_id("ru-vostochny")
    assert index.find("wrangel") is index.by_id("ru-vostochny")
    assert index.find("Ch'ongjin") is index.by_id("kp-chongjin")
    assert index.find("Songjin") is index.by_id("kp-kimchaek")
    assert index.find("Nampho") is index.by_id("kp-nampo")
    assert index.find("Pos'yet") is index.by_id("ru-posyet")
    assert index.find("Atlantis") is None
    assert index.by_id("nope") is None
    assert {z.kind for z in index.ports()} == {"port", "anchorage"}


# ------------------------------------------------------------------------------------------ bad files

def feature(fid: str, ring: list[list[float]], *, drop: str | None = None, geometry: dict | None = None,
            **props) -> dict:
    properties = {"id": fid, "name": fid.title(), "aliases": [], "country": "KP", "kind": "zone", "wpi": None,
                  "locode": None, "ref_point": ring[0], "source": "test"}
    properties.update(props)
    if drop:
        del properties[drop]
    return {"type": "Feature", "properties": properties,
            "geometry": geometry or {"type": "Polygon", "coordinates": [ring]}}


def write_fc(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


SQUARE = [[130.0, 42.0], [130.1, 42.0], [130.1, 42.1], [130.0, 42.1], [130.0, 42.0]]
BOWTIE = [[130.0, 42.0], [130.1, 42.1], [130.1, 42.0], [130.0, 42.1], [130.0, 42.0]]


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(ZoneError, match=r"broken\.geojson: not valid JSON: .* line 1"):
        load_zone_file(path)


def test_self_intersecting_polygon_names_file_and_feature(tmp_path):
    path = write_fc(tmp_path / "x.geojson", [feature("ok", SQUARE), feature("bad-one", BOWTIE)])
    with pytest.raises(ZoneError) as err:
        load_zone_file(path)
    message = str(err.value)
    assert "x.geojson feature 1 ('bad-one'): polygon is not valid: Self-intersection[" in message


def test_missing_property_names_file_and_feature(tmp_path):
    path = write_fc(tmp_path / "y.geojson", [feature("no-kind", SQUARE, drop="kind")])
    with pytest.raises(ZoneError, match=r"y\.geojson feature 0 \('no-kind'\): missing property kind"):
        load_zone_file(path)


@pytest.mark.parametrize(("props", "expected"), [
    ({"kind": "harbour"}, "kind 'harbour' must be one of port, anchorage, zone"),
    ({"aliases": "Najin"}, "aliases must be a list"),
    ({"wpi": "60510"}, "wpi '60510' must be a positive integer or null"),
    ({"country": "North Korea"}, "country 'North Korea' must be an ISO 3166-1 alpha-2"),
    ({"locode": "KP-NJN"}, "locode 'KP-NJN' must be a five-character UN/LOCODE"),
    ({"ref_point": [130.0]}, "ref_point [130.0] must be [lon, lat]"),
])
def test_property_types_are_checked(tmp_path, props, expected):
    path = write_fc(tmp_path / "z.geojson", [feature("typed", SQUARE, **props)])
    with pytest.raises(ZoneError, match=r"z\.geojson feature 0 \('typed'\): ") as err:
        load_zone_file(path)
    assert expected in str(err.value)


def test_point_geometry_is_refused(tmp_path):
    point = {"type": "Point", "coordinates": [130.0, 42.0]}
    path = write_fc(tmp_path / "p.geojson", [feature("pt", SQUARE, geometry=point)])
    with pytest.raises(ZoneError, match=r"p\.geojson feature 0 \('pt'\): geometry must be a Polygon or "
                                        r"MultiPolygon, not Point"):
        load_zone_file(path)


@pytest.mark.parametrize(("ring", "expected"), [
    ([[130.0, 42.0], [130.1, 42.0], [130.1, 42.1], [130.0, 42.1]], "ring 0 is not closed"),
    ([[130.0, 42.0], [190.1, 42.0], [130.1, 42.1], [130.0, 42.0]], "out of range"),
    ([[130.0, 42.0], [130.1, 42.0], [130.0, 42.0]], "needs at least 4 positions"),
])
def test_malformed_rings_are_refused(tmp_path, ring, expected):
    path = write_fc(tmp_path / "r.geojson", [feature("ring", SQUARE, geometry={"type": "Polygon",
                                                                               "coordinates": [ring]})])
    with pytest.raises(ZoneError, match=expected):
        load_zone_file(path)


def test_not_a_feature_collection(tmp_path):
    path = tmp_path / "fc.geojson"
    path.write_text(json.dumps({"type": "Feature"}), encoding="utf-8")
    with pytest.raises(ZoneError, match=r"fc\.geojson: not a GeoJSON FeatureCollection"):
        load_zone_file(path)


def test_duplicate_id_across_files_names_both(tmp_path):
    write_fc(tmp_path / "a.geojson", [feature("same", SQUARE)])
    write_fc(tmp_path / "b.geojson", [feature("same", SQUARE)])
    with pytest.raises(ZoneError) as err:
        load_zones([tmp_path], include_bundled=False)
    message = str(err.value)
    assert "a.geojson" in message and "b.geojson" in message and "'same'" in message


def test_duplicate_id_within_a_file_and_against_bundled(tmp_path):
    path = write_fc(tmp_path / "d.geojson", [feature("twice", SQUARE), feature("twice", SQUARE)])
    with pytest.raises(ZoneError, match=r"d\.geojson feature 1 \('twice'\): duplicate id, also feature 0"):
        load_zone_file(path)
    path.unlink()
    write_fc(tmp_path / "mine.geojson", [feature("kp-rajin", SQUARE)])
    with pytest.raises(ZoneError, match=r"mine\.geojson: zone id 'kp-rajin' is already defined in "
                                        r"geofences/north_korea_ports\.geojson"):
        load_zones([tmp_path])


def test_user_dirs_add_to_the_bundled_zones(tmp_path):
    write_fc(tmp_path / "extra.geojson", [feature("my-zone", SQUARE, aliases=["Mine"])])
    zones = load_zones([tmp_path])
    assert zones[-1].id == "my-zone" and zones[-1].file == str(tmp_path / "extra.geojson")
    assert len(zones) == len(load_zones()) + 1
    assert ZoneIndex(zones).find("mine").id == "my-zone"
    with pytest.raises(ZoneError, match="does not exist"):
        load_zones([tmp_path / "missing"])


# ------------------------------------------------------------------------------------------- registry

def _bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_registry_reloads_changed_files_and_keeps_the_old_index_on_error(tmp_path, caplog):
    path = write_fc(tmp_path / "user.geojson", [feature("one", SQUARE)])
    registry = ZoneRegistry([tmp_path], include_bundled=False)
    first = registry.index
    assert [z.id for z in first] == ["one"]
    assert registry.reload_if_changed() is False and registry.index is first

    write_fc(path, [feature("one", SQUARE), feature("two", SQUARE)])
    _bump(path)
    assert registry.reload_if_changed() is True
    second = registry.index
    assert [z.id for z in second] == ["one", "two"]

    path.write_text("{ not json", encoding="utf-8")
    _bump(path)
    with caplog.at_level(logging.ERROR, logger="ais_watch.zones"):
        assert registry.reload_if_changed() is False
    assert registry.index is second
    assert "user.geojson: not valid JSON" in registry.last_error
    assert any("keeping the previous 2 zones" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="ais_watch.zones"):
        assert registry.reload_if_changed() is False  # same broken file: not logged again
    assert caplog.records == []

    write_fc(path, [feature("three", SQUARE)])
    _bump(path)
    assert registry.reload_if_changed() is True
    assert [z.id for z in registry.index] == ["three"] and registry.last_error is None

    write_fc(tmp_path / "more.geojson", [feature("four", SQUARE)])
    assert registry.reload_if_changed() is True  # a new file
    assert {z.id for z in registry.index} == {"three", "four"}
    (tmp_path / "more.geojson").unlink()
    assert registry.reload_if_changed() is True  # a removed file
    assert [z.id for z in registry.index] == ["three"]


def test_registry_survives_its_directory_vanishing(tmp_path):
    user = tmp_path / "zones"
    user.mkdir()
    write_fc(user / "u.geojson", [feature("u", SQUARE)])
    registry = ZoneRegistry([user])
    before = registry.index
    assert before.by_id("u") is not None and before.by_id("kp-rajin") is not None
    (user / "u.geojson").unlink()
    user.rmdir()
    assert registry.reload_if_changed() is False
    assert registry.index is before and "does not exist" in registry.last_error


def test_registry_refuses_to_start_on_a_bad_file(tmp_path):
    write_fc(tmp_path / "bad.geojson", [feature("bad", BOWTIE)])
    with pytest.raises(ZoneError, match=r"bad\.geojson feature 0"):
        ZoneRegistry([tmp_path])


def test_huge_and_no_zones(tmp_path):
    ocean = [[100.0, -10.0], [179.0, -10.0], [179.0, 60.0], [100.0, 60.0], [100.0, -10.0]]
    path = write_fc(tmp_path / "big.geojson", [feature("ocean", ocean), feature("small", SQUARE)])
    idx = ZoneIndex(load_zone_file(path))
    assert [z.id for z in idx.zones_at(42.05, 130.05)] == ["ocean", "small"]
    assert [z.id for z in idx.zones_at(0.0, 150.0)] == ["ocean"]
    assert idx.zones_at_many([42.05, 0.0, 70.0], [130.05, 150.0, 150.0]) == [(0, 1), (0,), ()]
    empty = ZoneIndex([])
    assert len(empty) == 0 and empty.zones_at(42.0, 130.0) == ()
    assert empty.zones_at_many([42.0], [130.0]) == [()]
    assert empty.within_km(42.0, 130.0, 50.0) == () and empty.find("x") is None
