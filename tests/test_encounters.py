"""The encounters stage directly, on synthetic tracks ticked every minute: both sides of every threshold
(distance, duration, speed, distance from port, land), one alert per encounter amended when it ends,
meetings less than the merge gap apart as one, and loitering with and without a vessel nearby."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.alerts.model import AlertAmendment, AlertDraft
from ais_watch.detectors.encounter_rules import MAX_SAMPLES, EncounterRules, LoiteringRules, Meeting
from ais_watch.detectors.encounters import EncounterStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.geo import Places
from ais_watch.pipeline.stage import Context, VesselRow
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import WatchlistIndex
from tests.helpers.ports import RAJIN
from tests.helpers.reports import make_position

pytestmark = pytest.mark.unit

T0 = datetime(2023, 10, 2, tzinfo=UTC)
ANGARA = 273111111  # watched
TANKER = 352222222  # not watched: the partner
OTHER = 636333333
AT_SEA = (41.40, 131.60)  # ~60 nm off Chongjin, far from any port
ENTRY = WatchEntry(name="ANGARA", imo=None, mmsi=ANGARA, flag="Russia", reason="OFAC", source="test",
                   tags=("dprk",))


@dataclass
class Collected:
    alerts: list[AlertDraft] = field(default_factory=list)
    encounters: list[dict[str, Any]] = field(default_factory=list)
    state: dict[tuple[str, str], Any] = field(default_factory=dict)

    def raise_alert(self, draft: AlertDraft) -> None:
        self.alerts.append(draft)

    def amend_alert(self, amendment: AlertAmendment) -> None:
        for alert in self.alerts:
            if alert.dedup_key() == amendment.dedup_key:
                alert.details.update(amendment.details)

    def record_encounter(self, row: dict[str, Any]) -> None:
        self.encounters.append(row)

    def save_state(self, detector: str, key: str, state: dict[str, Any] | None) -> None:
        self.state[(detector, key)] = state

    def vessel(self, mmsi: int) -> VesselRow | None:
        return {"mmsi": mmsi, "mmsi_valid": True, "imo": None, "name": f"SHIP {mmsi}", "flag": "RU",
                "ship_type": 80}

    def kinds(self, kind: str = "encounter") -> list[str]:
        """The alerts of this kind (a ship slow for hours loiters too)."""
        return [a.kind for a in self.alerts if a.kind == kind]


class Harness:
    def __init__(self, rules: EncounterRules | None = None, near_port: Any = None,
                 loitering: LoiteringRules | None = None) -> None:
        self.enricher = WatchlistEnricher(WatchlistIndex([ENTRY]))
        self.stage = EncounterStage(self.enricher, rules or EncounterRules(), loitering,
                                    places=Places([RAJIN]), near_port=near_port)
        self.out = Collected()

    def run(self, minutes: int, tracks: dict[int, Any], *, every: int = 1, start: int = 0) -> None:
        """Each vessel reports every `every` minutes where tracks[mmsi](minute) says (None: silent); the
        stage ticks every minute, from minute `start` (after T0) to `minutes`."""
        for m in range(start, minutes):
            when = T0 + timedelta(minutes=m)
            if m % every == 0:
                for mmsi, where in tracks.items():
                    spot = where(m)
                    if spot is None:
                        continue
                    ctx = Context(self.out)  # type: ignore[arg-type]
                    ctx.vessel = self.out.vessel(mmsi) or {}
                    ctx.watch = self.enricher.match(ctx.vessel)
                    self.stage.handle(make_position(mmsi, when, *spot, sog=0.5), ctx)
            self.stage.tick(when, self.out)  # type: ignore[arg-type]


def drift(origin: tuple[float, float], knots: float = 0.5, metres_east: float = 0.0) -> Any:
    """A track drifting north at `knots`, offset `metres_east` from `origin`."""
    lat0, lon0 = origin
    lon = lon0 + metres_east / (111_320 * math.cos(math.radians(lat0)))
    return lambda m: (lat0 + knots * m / 60 / 60, lon)


def test_side_by_side_for_two_hours_is_one_encounter_raised_as_it_qualifies_and_amended_at_the_end() -> None:
    h = Harness()
    together = lambda m: m < 180  # noqa: E731 - three hours together, then the tanker leaves
    a, b = drift(AT_SEA), drift(AT_SEA, metres_east=300)
    h.run(119, {ANGARA: a, TANKER: b})
    assert h.out.alerts == []  # 118 minutes: not yet
    h.run(240, {ANGARA: a, TANKER: lambda m: b(m) if together(m) else (AT_SEA[0] - m / 600, AT_SEA[1])})
    assert h.out.kinds() == ["encounter"]
    alert = h.out.alerts[0]
    assert alert.mmsi == ANGARA and alert.details["partner"]["mmsi"] == TANKER
    assert alert.details["partner"]["watched"] is False
    assert 290 <= alert.details["min_distance_m"] <= 310 and alert.details["median_speed_kn"] < 2
    assert alert.details["end"] is not None and alert.details["duration_seconds"] >= 2.9 * 3600
    assert alert.place is not None and "at sea" in alert.place
    assert [e["end"] is not None for e in h.out.encounters] == [False, True]


def test_an_hour_and_fifty_minutes_together_is_no_encounter() -> None:
    h = Harness()
    apart = (AT_SEA[0] - 1, AT_SEA[1])
    h.run(240, {ANGARA: drift(AT_SEA),
                TANKER: lambda m: drift(AT_SEA, metres_east=300)(m) if m < 110 else apart})
    assert h.out.alerts == [] and h.out.encounters == []


@pytest.mark.parametrize(("metres", "meets"), [(450, True), (560, False)])
def test_the_distance_threshold(metres: float, meets: bool) -> None:
    h = Harness()
    h.run(150, {ANGARA: drift(AT_SEA), TANKER: drift(AT_SEA, metres_east=metres)})
    assert h.out.kinds() == (["encounter"] if meets else [])


def test_a_pair_one_above_the_other_far_from_the_meridian_meets() -> None:
    """North-south apart, at 132 E: the search must measure on the sphere, not on a plane of degrees."""
    h = Harness()
    north = (AT_SEA[0] + 300 / 111_195, AT_SEA[1])
    h.run(150, {ANGARA: drift(AT_SEA), TANKER: drift(north)})
    assert h.out.kinds() == ["encounter"]
    assert 290 <= h.out.alerts[0].details["min_distance_m"] <= 310
    assert h.out.state[("encounters", f"{ANGARA}:{TANKER}")]["alert_keys"] == [h.out.alerts[0].dedup_key()]


def test_two_ships_passing_at_speed_is_no_encounter() -> None:
    h = Harness()
    h.run(240, {ANGARA: drift(AT_SEA, knots=12), TANKER: drift(AT_SEA, knots=12, metres_east=400)})
    assert h.out.alerts == []


@pytest.mark.parametrize(("knots", "meets"), [(1.5, True), (3.0, False)])
def test_the_speed_threshold(knots: float, meets: bool) -> None:
    h = Harness()
    h.run(150, {ANGARA: drift(AT_SEA, knots=knots), TANKER: drift(AT_SEA, knots=knots, metres_east=200)})
    assert h.out.kinds() == (["encounter"] if meets else [])


def test_a_pair_near_a_port_is_no_encounter() -> None:
    h = Harness(near_port=lambda lat, lon, km: True)
    h.run(180, {ANGARA: drift(AT_SEA), TANKER: drift(AT_SEA, metres_east=200)})
    assert h.out.kinds() == [] and h.out.encounters == []


def test_two_unwatched_vessels_meeting_are_recorded_without_an_alert() -> None:
    h = Harness()
    h.run(150, {OTHER: drift(AT_SEA), TANKER: drift(AT_SEA, metres_east=200)})
    assert h.out.alerts == [] and len(h.out.encounters) == 1 and h.out.encounters[0]["watched"] is False


def test_meetings_less_than_the_merge_gap_apart_are_one_encounter() -> None:
    h = Harness()
    away = (AT_SEA[0] - 0.5, AT_SEA[1])
    # Together 2.5 h, apart 3 h, together again 4.5 h: one encounter (one alert), its end moved on.
    tanker = lambda m: drift(AT_SEA, metres_east=200)(m) if m < 150 or 330 <= m < 600 else away  # noqa: E731
    h.run(660, {ANGARA: drift(AT_SEA), TANKER: tanker})
    assert h.out.kinds() == ["encounter"]
    assert 597 * 60 <= h.out.alerts[0].details["duration_seconds"] <= 599 * 60  # 0:00 to ~9:59


def test_meetings_further_apart_than_the_merge_gap_are_two() -> None:
    h = Harness(EncounterRules(merge_gap=timedelta(hours=2)))
    away = (AT_SEA[0] - 0.5, AT_SEA[1])
    tanker = lambda m: drift(AT_SEA, metres_east=200)(m) if m < 150 or m >= 330 else away  # noqa: E731
    h.run(600, {ANGARA: drift(AT_SEA), TANKER: tanker})
    assert h.out.kinds() == ["encounter", "encounter"]


def test_loitering_alone_far_from_shore_and_with_a_vessel_nearby() -> None:
    h = Harness(loitering=LoiteringRules(min_duration=timedelta(hours=4), neighbour_km=2.0))
    h.run(250, {ANGARA: drift(AT_SEA, knots=0.5)})
    assert h.out.kinds("loitering") == ["loitering"] and h.out.kinds() == []
    assert h.out.alerts[0].details["others_seen"] is False
    h2 = Harness(loitering=LoiteringRules(min_duration=timedelta(hours=4), neighbour_km=2.0))
    h2.run(250, {ANGARA: drift(AT_SEA, knots=0.5), OTHER: drift(AT_SEA, knots=8.0, metres_east=1500)})
    loiter = [a for a in h2.out.alerts if a.kind == "loitering"]
    assert len(loiter) == 1 and loiter[0].details["neighbours"] == [OTHER]


def test_slow_for_less_than_the_loitering_time_is_not_loitering() -> None:
    h = Harness(loitering=LoiteringRules(min_duration=timedelta(hours=4)))
    h.run(230, {ANGARA: drift(AT_SEA, knots=0.5)})
    assert h.out.alerts == []


def test_a_long_meeting_keeps_a_bounded_thinned_sample_with_its_exact_minimum_and_mean_position() -> None:
    meeting = Meeting(ANGARA, TANKER, start_s=0.0, last_s=0.0)
    n = 10 * MAX_SAMPLES + 7  # a week of one-minute ticks
    for k in range(n):
        # distances 100..599 m in a saw, one 42 m sample; speeds 0.5 and 3.0 kn in turn (median 1.75)
        metres = 42.0 if k == 5_000 else 100.0 + k % 500
        meeting.add(60.0 * k, metres, 0.5 if k % 2 else 3.0, 0.5 if k % 2 else 3.0, 40.0 + k % 2, 130.0)
    assert len(meeting.distances_m) <= MAX_SAMPLES and len(meeting.speeds_kn) == 2 * len(meeting.distances_m)
    assert meeting.stride > 1 and meeting.samples == n
    assert meeting.min_distance_m == 42.0  # exact, though the sample it came in may be thinned out
    assert meeting.position == pytest.approx((40.0 + (n // 2) / n, 130.0))
    assert meeting.median_distance() == pytest.approx(349.5, abs=15)
    assert 0.5 <= meeting.median_speed() <= 3.0
    assert meeting.duration == timedelta(minutes=n - 1)


def test_a_meeting_under_the_sample_limit_keeps_every_sample() -> None:
    meeting = Meeting(ANGARA, TANKER, start_s=0.0, last_s=0.0)
    for k in range(MAX_SAMPLES):
        meeting.add(60.0 * k, float(k), 1.0, 1.0, 40.0, 130.0)
    assert meeting.distances_m == [float(k) for k in range(MAX_SAMPLES)] and meeting.stride == 1


@pytest.mark.parametrize(("metres_east", "seen"), [(1_500, True), (2_500, False)])
def test_a_ship_passing_a_loitering_one_between_two_ticks_is_seen_only_within_the_distance(
        metres_east: int, seen: bool) -> None:
    """A ship at 14 kn is within 2 km for under ten minutes; its fixes are looked at as they come, not
    only at the ticks."""
    h = Harness(loitering=LoiteringRules(min_duration=timedelta(hours=4), neighbour_km=2.0))
    h.run(60, {ANGARA: drift(AT_SEA, knots=0.5)})
    lat0, lon0 = AT_SEA
    lon = lon0 + metres_east / (111_320 * math.cos(math.radians(lat0)))
    here = h.stage.lat[h.stage.slot[ANGARA]]
    for k, seconds in enumerate((10, 30, 50)):  # between the ticks of minutes 60 and 61
        ctx = Context(h.out)  # type: ignore[arg-type]
        ctx.vessel = h.out.vessel(OTHER) or {}
        h.stage.handle(make_position(OTHER, T0 + timedelta(minutes=60, seconds=seconds),
                                     here + (k - 1) * 0.004, lon, sog=14.0), ctx)
    h.run(250, {ANGARA: drift(AT_SEA, knots=0.5)}, start=61)
    loiter = [a for a in h.out.alerts if a.kind == "loitering"]
    assert len(loiter) == 1
    assert loiter[0].details["neighbours"] == ([OTHER] if seen else [])
    assert loiter[0].details["others_seen"] is seen
