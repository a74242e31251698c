"""The segments step and the integrity alerts, directly: both sides of every rule (speed, tolerance,
conflict, land, GNSS interference, the main track moving), and one alert per episode."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.alerts.model import AlertAmendment, AlertDraft
from ais_watch.detectors.integrity import IntegrityAlerts
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.geo import Places, distance_nm
from ais_watch.pipeline.segments import Segmenter, SegmentOptions
from ais_watch.pipeline.stage import Context, VesselRow
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import WatchlistIndex
from tests.helpers.ports import RAJIN
from tests.helpers.reports import make_position

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, tzinfo=UTC)
WATCHED = 273111111
OTHER = 273222222
AT_SEA = (40.0, 133.0)  # the Sea of Japan, ~200 nm from Rajin
ENTRY = WatchEntry(name="ANGARA", imo=None, mmsi=WATCHED, flag="Russia", reason="OFAC", source="test")


@dataclass
class FakeServices:
    """What the steps ask of the pipeline: the alerts they raise and the vessels they look up."""

    alerts: list[AlertDraft] = field(default_factory=list)
    vessels_by_mmsi: dict[int, VesselRow] = field(default_factory=dict)

    def raise_alert(self, draft: AlertDraft) -> None:
        self.alerts.append(draft)

    def amend_alert(self, amendment: AlertAmendment) -> None:
        """Applied to the alert raised earlier, as the store does."""
        for alert in self.alerts:
            if alert.dedup_key() == amendment.dedup_key:
                alert.details.update(amendment.details)

    def vessel(self, mmsi: int) -> VesselRow | None:
        return self.vessels_by_mmsi.setdefault(mmsi, {"mmsi": mmsi, "mmsi_valid": True, "imo": None,
                                                      "name": f"SHIP {mmsi}", "flag": "RU"})

    def kinds(self) -> list[tuple[str, Any]]:
        return [(a.kind, a.details.get("reason")) for a in self.alerts]


class Land:
    """A land test that is land north of a latitude (a stand-in: the real mask is tested in test_land)."""

    def __init__(self, north_of: float) -> None:
        self.north_of = north_of

    def inland(self, lat: float, lon: float) -> bool:
        return lat > self.north_of


class Harness:
    def __init__(self, options: SegmentOptions | None = None, land: Land | None = None,
                 in_port: Any = None) -> None:
        self.segmenter = Segmenter(options or SegmentOptions(), land=land, in_port=in_port)
        self.enricher = WatchlistEnricher(WatchlistIndex([ENTRY]))
        self.integrity = IntegrityAlerts(self.segmenter, self.enricher, Places([RAJIN]))
        self.services = FakeServices()
        self.marks: list[str | None] = []

    def fix(self, mmsi: int, minutes: float, lat: float, lon: float) -> Context:
        report = make_position(mmsi, T0 + timedelta(minutes=minutes), lat, lon)
        ctx = Context(self.services)  # type: ignore[arg-type]
        self.segmenter.handle(report, ctx)
        ctx.vessel = self.services.vessel(mmsi) or {}
        ctx.watch = self.enricher.match(ctx.vessel)
        self.integrity.handle(report, ctx)
        self.marks.append(ctx.anomaly)
        return ctx

    def tick(self, minutes: float) -> None:
        self.integrity.tick(T0 + timedelta(minutes=minutes), self.services)  # type: ignore[arg-type]


def east(lat: float, lon: float, nm: float) -> tuple[float, float]:
    """A point `nm` nautical miles due east."""
    return lat, lon + nm / (60 * math.cos(math.radians(lat)))


def sail(h: Harness, mmsi: int, start: float, minutes: int, *, every: float = 1.0,
         knots: float = 12.0, origin: tuple[float, float] = AT_SEA) -> tuple[float, float]:
    """Fixes every `every` minutes sailing east at `knots`; returns where it ends."""
    lat, lon = origin
    for i in range(int(minutes / every)):
        lat, lon = east(*origin, knots * (i * every) / 60)
        h.fix(mmsi, start + i * every, lat, lon)
    return lat, lon


# ------------------------------------------------------------------------------------------ speed
def test_a_fix_just_within_reach_is_believed_and_one_just_beyond_is_not() -> None:
    options = SegmentOptions(max_speed_kn=50.0, jump_tolerance_nm=1.0)
    h = Harness(options)
    h.fix(WATCHED, 0, *AT_SEA)
    # In 60 minutes at 50 kn plus the 1 nm tolerance: 51 nm is reachable, 52 nm is not.
    assert h.fix(WATCHED, 60, *east(*AT_SEA, 50.9)).anomaly is None
    h2 = Harness(options)
    h2.fix(WATCHED, 0, *AT_SEA)
    assert h2.fix(WATCHED, 60, *east(*AT_SEA, 51.2)).anomaly == "impossible_speed"


def test_a_ten_minute_gap_then_two_miles_on_is_no_anomaly() -> None:
    h = Harness()
    end = sail(h, WATCHED, 0, 30)
    h.fix(WATCHED, 40, *east(*end, 2.0))
    h.tick(120)
    assert set(h.marks) == {None}
    assert h.services.alerts == []


def test_gnss_noise_within_the_tolerance_is_believed() -> None:
    h = Harness()
    h.fix(WATCHED, 0, *AT_SEA)
    # 0.8 nm two seconds later: 1,440 kn implied, but within the jump tolerance.
    assert h.fix(WATCHED, 2 / 60, *east(*AT_SEA, 0.8)).anomaly is None


# -------------------------------------------------------------------------------------- spoofing
def test_spoofed_fixes_far_away_are_one_episode_reported_once_the_real_track_goes_on() -> None:
    h = Harness()
    end = sail(h, WATCHED, 0, 30)
    # Two fixes at Rajin, ~200 nm away, one minute apart; then the ship is heard where it really is.
    first = h.fix(WATCHED, 30, RAJIN.ref_lat, RAJIN.ref_lon)
    second = h.fix(WATCHED, 31, RAJIN.ref_lat + 0.001, RAJIN.ref_lon)
    assert first.anomaly == second.anomaly == "impossible_speed"
    assert first.segment == second.segment != h.segmenter.tracks[WATCHED].main.id
    assert first.dropped and second.dropped  # no later detector sees them
    back = h.fix(WATCHED, 32, *east(*end, 0.4))
    assert back.anomaly is None and not back.dropped
    h.tick(35)
    assert h.services.alerts == []  # not yet: the episode may go on
    h.tick(42)
    h.tick(43)
    assert h.services.kinds() == [("position_anomaly", "impossible_speed")]
    alert = h.services.alerts[0]
    assert (alert.lat, alert.lon) == (RAJIN.ref_lat, RAJIN.ref_lon)
    real = alert.details["real_position"]
    assert distance_nm(real["lat"], real["lon"], *end) < 0.5
    assert alert.details["fixes"] == 2 and alert.details["implied_speed_kn"] > 1000


def test_an_unwatched_vessel_is_marked_but_raises_nothing() -> None:
    h = Harness()
    end = sail(h, OTHER, 0, 10)
    assert h.fix(OTHER, 10, RAJIN.ref_lat, RAJIN.ref_lon).anomaly == "impossible_speed"
    h.fix(OTHER, 11, *end)
    h.tick(60)
    assert h.services.alerts == [] and not h.segmenter.pending


# ------------------------------------------------------------------------------------- conflicts
def test_one_mmsi_on_two_ships_far_apart_is_a_track_conflict_raised_once() -> None:
    h = Harness()
    far = (RAJIN.ref_lat - 0.3, RAJIN.ref_lon + 0.5)
    for i in range(20):  # the two transmitters take turns, a minute apart
        h.fix(WATCHED, 2 * i, *east(*AT_SEA, 0.2 * i))
        h.fix(WATCHED, 2 * i + 1, *east(*far, 0.2 * i))
    h.tick(60)
    assert h.services.kinds() == [("position_anomaly", "track_conflict")]
    assert h.marks[1] == "impossible_speed"  # one fix off the track is a jump, until it happens again
    assert set(h.marks[3::2]) == {"track_conflict"} and set(h.marks[0::2]) == {None}


# ------------------------------------------------------------------------------------------ land
def test_fixes_inland_are_on_land_once_per_episode_and_not_in_a_port_geofence() -> None:
    h = Harness(land=Land(north_of=45.0), in_port=lambda lat, lon: lat > 46.0)
    end = sail(h, WATCHED, 0, 20)
    for i in range(5):
        assert h.fix(WATCHED, 20 + i, 45.5, 133.0).anomaly == "on_land"
    assert h.fix(WATCHED, 25, 46.5, 133.0).anomaly != "on_land"  # land, but inside a port's geofence
    h.fix(WATCHED, 30, *end)
    h.tick(31)
    h.tick(60)
    assert [k for k in h.services.kinds() if k[1] == "on_land"] == [("position_anomaly", "on_land")]
    assert h.services.alerts[0].details["fixes"] == 5


def test_a_long_episode_on_land_is_reported_while_it_lasts_and_completed_when_it_ends() -> None:
    h = Harness(land=Land(north_of=45.0), options=SegmentOptions())
    h.integrity.episode_gap = timedelta(minutes=10)
    end = sail(h, WATCHED, 0, 20)
    for i in range(20):  # twenty minutes of fixes inland
        h.fix(WATCHED, 20 + i, 45.5, 133.0)
        h.tick(20 + i)
    [alert] = h.services.alerts
    assert alert.details["fixes"] == 11 and alert.place is not None and alert.place.startswith("on land")
    h.fix(WATCHED, 45, *end)  # back on its track
    h.tick(46)
    assert len(h.services.alerts) == 1 and alert.details["fixes"] == 20
    assert alert.details["last_false_fix"] == "2024-03-01T00:39:00Z"
    assert not h.segmenter.pending


def test_a_ship_sailing_on_into_a_canal_the_land_data_draws_as_land_is_believed() -> None:
    h = Harness(land=Land(north_of=40.05))
    lat, lon = sail(h, WATCHED, 0, 60, origin=(40.0, 133.0))  # along the shore
    for i in range(1, 31):  # and on, north, at 8 kn, up a canal
        assert h.fix(WATCHED, 60 + i, lat + i * 8 / 60 / 60, lon).anomaly is None
    assert h.segmenter.tracks[WATCHED].main.last_lat > 40.05  # it is on "land" now
    h.tick(120)
    assert h.services.alerts == []


def test_a_vessel_first_heard_on_land_starts_its_track_there() -> None:
    """A harbour or canal the land data draws as land: its first fix is believed, and so the rest."""
    h = Harness(land=Land(north_of=45.0))
    assert [h.fix(OTHER, i, 45.5, 133.0).anomaly for i in range(3)] == [None] * 3
    h.tick(30)
    assert h.services.alerts == []


def test_a_ship_at_a_quay_in_a_port_is_not_on_land() -> None:
    h = Harness(land=Land(north_of=39.0), in_port=lambda lat, lon: True)
    for i in range(30):
        assert h.fix(WATCHED, i, 40.0, 133.0).anomaly is None
    h.tick(60)
    assert h.services.alerts == []


# ----------------------------------------------------------------------------------------- GNSS
def test_many_ships_jumping_to_one_spot_is_one_area_alert_and_no_ship_alert() -> None:
    options = SegmentOptions(gnss_min_vessels=3, gnss_radius_km=10.0, gnss_window=timedelta(minutes=15))
    h = Harness(options)
    ships = [WATCHED, OTHER, 273333333, 273444444]
    origins = [east(*AT_SEA, 20 * k) for k in range(len(ships))]
    for k, mmsi in enumerate(ships):
        sail(h, mmsi, 0, 10, origin=origins[k])
    spot = (RAJIN.ref_lat, RAJIN.ref_lon)
    for k, mmsi in enumerate(ships):  # one after another, each to the same false spot
        h.fix(mmsi, 10 + k, spot[0] + 0.01 * k, spot[1])
    for k, mmsi in enumerate(ships):
        h.fix(mmsi, 20, *east(*origins[k], 4))
    h.tick(40)
    assert [a.kind for a in h.services.alerts] == ["gnss_interference"]
    area = h.services.alerts[0]
    assert area.mmsi is None and area.details["vessel_count"] == 4
    assert sorted(area.details["vessels"]) == sorted(ships)


def test_two_ships_jumping_to_one_spot_are_not_interference() -> None:
    h = Harness(SegmentOptions(gnss_min_vessels=3))
    sail(h, WATCHED, 0, 10)
    sail(h, OTHER, 0, 10, origin=east(*AT_SEA, 30))
    h.fix(WATCHED, 10, RAJIN.ref_lat, RAJIN.ref_lon)
    h.fix(OTHER, 11, RAJIN.ref_lat, RAJIN.ref_lon)
    h.fix(WATCHED, 12, *east(*AT_SEA, 2))
    h.fix(OTHER, 12, *east(*AT_SEA, 32))
    h.tick(40)
    assert h.services.kinds() == [("position_anomaly", "impossible_speed")]  # the watched one, alone


# ----------------------------------------------------------------------------- the main track moves
def test_a_new_track_that_carries_on_while_the_old_is_silent_becomes_the_main_one() -> None:
    h = Harness(SegmentOptions(confirm_after=timedelta(minutes=30)))
    sail(h, WATCHED, 0, 10)
    far = (RAJIN.ref_lat - 0.5, RAJIN.ref_lon + 1.0)
    marks = [h.fix(WATCHED, 10 + i, *east(*far, 0.2 * i)).anomaly for i in range(40)]
    assert set(marks[:30]) == {"impossible_speed"}  # not believed until it has carried on 30 minutes
    assert set(marks[31:]) == {None}
    h.tick(60)
    moved = [a for a in h.services.alerts if a.details.get("main_track_moved")]
    assert len(moved) == 1 and moved[0].details["reason"] == "impossible_speed"


def test_the_quick_reach_bound_is_never_shorter_than_the_great_circle() -> None:
    """_reaches takes a fix within (|dlat| + |dlon|) * NM_PER_DEGREE_BOUND of the last as within reach
    without the haversine (issue 17): that bound must never be under the great-circle distance, or a
    jump would be believed. Random pairs the world over, near the poles and across the antimeridian."""
    import random

    from ais_watch.geo import NM_PER_DEGREE_BOUND, distance_nm

    rng = random.Random(17)
    pairs = [((rng.uniform(-90, 90), rng.uniform(-180, 180)), (rng.uniform(-90, 90), rng.uniform(-180, 180)))
             for _ in range(20_000)]
    for _ in range(20_000):  # neighbours: what the shortcut is for
        lat, lon = rng.uniform(-89.9, 89.9), rng.uniform(-180, 180)
        pairs.append(((lat, lon), (lat + rng.uniform(-0.1, 0.1), lon + rng.uniform(-0.1, 0.1))))
    pairs += [((0.0, 179.999), (0.0, -179.999)), ((89.999, 0.0), (89.999, 180.0)), ((0.0, 0.0), (0.0, 0.0)),
              ((0.0, 0.0), (1.0, 0.0)), ((0.0, 0.0), (0.0, 1.0))]
    worst = min((abs(a[0] - b[0]) + abs(a[1] - b[1])) * NM_PER_DEGREE_BOUND - distance_nm(*a, *b)
                for a, b in pairs)
    assert worst >= 0.0
