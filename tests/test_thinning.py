"""What a thinned day keeps of a vessel's track (ais_watch.store.thinning): the shape within the tolerance,
every evidence fix, no silence that was not there; and the measure of how far a thinned track is off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ais_watch.geo import distance_nm
from ais_watch.store.thinning import (
    EvidenceBook,
    ThinningRule,
    deviations_m,
    keep_mask,
    micros,
)

pytestmark = pytest.mark.unit

T0 = datetime(2023, 9, 1, tzinfo=UTC)
METRE_LAT = 1 / 111_195  # degrees of latitude in a metre (on the 6,371 km sphere of geo.py)


def track(minutes: int, lat0: float = 56.0, lon0: float = 11.0, every: float = 1.0,
          wiggle_m: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ship steaming east at ~12 kn, a fix every `every` minutes, weaving `wiggle_m` metres north and
    south of its course with a 20-minute period."""
    n = int(minutes / every)
    t = np.array([micros(T0 + timedelta(minutes=i * every)) for i in range(n)], dtype=np.int64)
    east_m = np.arange(n) * every * 370.0
    north_m = wiggle_m * np.sin(2 * np.pi * np.arange(n) * every / 20)
    lats = lat0 + north_m * METRE_LAT
    lons = lon0 + east_m * METRE_LAT / np.cos(np.radians(lat0))
    return t, lats, lons


def believed(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.bool_)


def test_a_straight_passage_keeps_its_ends_and_a_fix_an_hour() -> None:
    t, lats, lons = track(6 * 60)  # six hours, a fix a minute, dead straight
    kept = keep_mask(t, lats, lons, believed(len(t)), ThinningRule(tolerance_m=10, max_gap=3600))
    assert np.flatnonzero(kept).tolist() == [0, 60, 120, 180, 240, 300, 359]
    # Without the hourly rule the shape alone is two fixes.
    kept = keep_mask(t, lats, lons, believed(len(t)), ThinningRule(tolerance_m=10, max_gap=0))
    assert np.flatnonzero(kept).tolist() == [0, 359]


@pytest.mark.parametrize("tolerance", [2.0, 10.0, 50.0])
def test_every_fix_left_out_is_within_the_tolerance_and_wider_tolerance_keeps_fewer(tolerance: float) -> None:
    t, lats, lons = track(24 * 60, wiggle_m=20.0)
    kept = keep_mask(t, lats, lons, believed(len(t)), ThinningRule(tolerance_m=tolerance, max_gap=0))
    off = deviations_m(lats, lons, kept)
    assert 0 < kept.sum() < len(t)
    assert off.max() <= tolerance
    assert off.max() > tolerance / 4  # it does use the room it has: a real simplification
    if tolerance < 40:  # a weave 40 m from side to side is a weave at 10 m, a line at 50 m
        assert kept.sum() > 100
    else:
        assert kept.sum() < 10


def test_a_track_that_doubles_back_on_itself_stays_within_the_tolerance_with_fixes_forced_in() -> None:
    """Out and back along the same line: a fix forced in (an hourly one, an evidence fix) splits the
    track, and each piece is simplified again, so no left-out fix is measured against a corner cut."""
    t, lats, lons = track(4 * 60, wiggle_m=3.0)
    back = slice(None, None, -1)
    lats, lons = np.concatenate([lats, lats[back]]), np.concatenate([lons, lons[back]])
    t = np.array([micros(T0 + timedelta(minutes=i)) for i in range(len(lats))], dtype=np.int64)
    for gap in (0, 600, 3600):
        kept = keep_mask(t, lats, lons, believed(len(t)), ThinningRule(tolerance_m=10, max_gap=gap))
        assert deviations_m(lats, lons, kept).max() <= 10, gap


def test_no_silence_that_was_not_there_and_every_real_one_kept_on_both_sides() -> None:
    t, lats, lons = track(10 * 60)
    t[300:] += 3 * 3600 * 1_000_000  # heard for 5 h, silent for 3 h, heard for 5 h more
    kept = keep_mask(t, lats, lons, believed(len(t)), ThinningRule(tolerance_m=10, max_gap=3600))
    gaps = np.diff(t[kept]) / 3_600_000_000
    assert kept[299] and kept[300]  # the last fix before the silence and the first after it
    assert sorted(gaps)[-1] == pytest.approx(3 + 1 / 60)  # the silence, as long as it was
    assert sorted(gaps)[-2] <= 1.0  # and no other gap over an hour


def test_evidence_fixes_are_kept_either_side_of_their_moment() -> None:
    t, lats, lons = track(12 * 60)
    book = EvidenceBook()
    book.alert(211000001, T0 + timedelta(minutes=100, seconds=30),  # between two fixes: both kept
               {"last_seen": (T0 + timedelta(minutes=40)).isoformat()})  # exactly a fix: that one
    book.port_call(211000001, T0 + timedelta(minutes=200), T0 + timedelta(minutes=230),
                   T0 + timedelta(minutes=500))
    book.encounter(211000001, 211000002, T0 + timedelta(minutes=600), T0 + timedelta(minutes=610))
    rule = ThinningRule(tolerance_m=10, max_gap=0)
    kept = keep_mask(t, lats, lons, believed(len(t)), rule, book.vessels[211000001])
    assert set(np.flatnonzero(kept)) == {0, 100, 101, 40, 200, 230, 500, *range(600, 611), 719}
    # The partner of the encounter has the same window; a vessel with no evidence only its shape.
    partner = keep_mask(t, lats, lons, believed(len(t)), rule, book.vessels[211000002])
    assert set(np.flatnonzero(partner)) == {0, *range(600, 611), 719}
    # A ship that reappeared under another MMSI was last seen under the old one.
    book.alert(211000003, T0 + timedelta(minutes=300), {"last_seen": (T0 + timedelta(minutes=20)).isoformat(),
                                                         "previous_mmsi": 211000004})
    assert book.vessels[211000004].anchors == [micros(T0 + timedelta(minutes=20))]


def test_marked_fixes_are_kept_and_left_off_the_line() -> None:
    t, lats, lons = track(3 * 60)
    lats = lats.copy()
    lats[90] += 0.5  # a spoofed fix 55 km north, marked
    marks = believed(len(t))
    marks[90] = False
    kept = keep_mask(t, lats, lons, marks, ThinningRule(tolerance_m=10, max_gap=0))
    assert np.flatnonzero(kept).tolist() == [0, 90, 179]  # the line is still straight


def test_a_moored_ship_keeps_its_first_and_last_fix_and_one_an_hour() -> None:
    t, lats, lons = track(24 * 60, every=10)
    lats, lons = np.full(len(t), lats[0]), np.full(len(t), lons[0])  # the same coordinates all day
    kept = keep_mask(t, lats, lons, believed(len(t)), ThinningRule(tolerance_m=10, max_gap=3600))
    assert np.flatnonzero(kept).tolist() == [*range(0, 144, 6), 143]


def test_a_track_across_the_antimeridian_is_one_line() -> None:
    t, lats, lons = track(120, lat0=52.0, lon0=179.5)
    lons = (lons + 180) % 360 - 180  # 179.5 E to 178.6 W
    assert lons.min() < -178 and lons.max() > 179
    kept = keep_mask(t, lats, lons, believed(len(t)), ThinningRule(tolerance_m=10, max_gap=0))
    assert np.flatnonzero(kept).tolist() == [0, len(t) - 1]
    assert deviations_m(lats, lons, kept).max() < 1


def test_the_deviation_is_metres_on_the_ground() -> None:
    """A fix 25 m north of the middle of an east-west segment at 56 N is 25 m off it (haversine; to
    the segment as drawn, straight in Web Mercator, which here differs from the great circle by ~0.1 m)."""
    lats = np.array([56.0, 56.0 + 25 * METRE_LAT, 56.0])
    lons = np.array([11.0, 11.005, 11.01])
    off = deviations_m(lats, lons, np.array([True, False, True]))
    assert off[0] == pytest.approx(25.0, abs=0.2)
    # Beyond the segment's end it is the distance to that end.
    lons = np.array([11.0, 11.02, 11.01])
    off = deviations_m(np.full(3, 56.0), lons, np.array([True, False, True]))
    assert off == pytest.approx([distance_nm(56, 11.02, 56, 11.01) * 1852], abs=0.01)
