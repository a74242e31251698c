"""Sea routes (`ais_watch/sea_routes.py`) over the real MARNET network and Natural Earth land, and the
dark rules over them: a port behind the Korean peninsula is as far as the way round it.

The routes are built once for the bundled ports (a few seconds) and shared by the tests here."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ais_watch.detectors.dark_rules import DarkRules, PortLike, Silence, on_position, on_tick, rank_candidates
from ais_watch.geo import distance_nm
from ais_watch.land import shared_land
from ais_watch.sea_routes import BASIS, SeaRoutes
from ais_watch.zones import Zone, ZoneRegistry
from tests.helpers.ports import SEA, Port

# Pure, but each process builds the real routes once (a few seconds, 140 MB): not for the fast run.
pytestmark = pytest.mark.integration

PORTS: tuple[Zone, ...] = ZoneRegistry([]).index.ports()
BY_ID = {p.id: p for p in PORTS}
RAJIN, NAMPO, CHONGJIN = BY_ID["kp-rajin"], BY_ID["kp-nampo"], BY_ID["kp-chongjin"]
WONSAN, VLADIVOSTOK = BY_ID["kp-wonsan"], BY_ID["ru-vladivostok"]
T0 = datetime(2024, 3, 1, tzinfo=UTC)
OFF_RAJIN = (42.10, 130.45)  # outside Rajin bay
OFF_WONSAN = (39.30, 127.75)  # east of Wonsan, in the bay's mouth
RULES = DarkRules()  # 16 kn, a 2 h dwell, went_dark after 6 h


@pytest.fixture(scope="module")
def sea() -> SeaRoutes:
    routes = SeaRoutes(PORTS)
    routes.prepare()
    return routes


def gc(a: PortLike, b: PortLike) -> float:
    return distance_nm(a.ref_lat, a.ref_lon, b.ref_lat, b.ref_lon)


def by_sea(sea: SeaRoutes, a: PortLike, b: PortLike) -> float:
    return sea.to_port(a.ref_lat, a.ref_lon, b)


def at_sea(lat: float, lon: float) -> bool:
    return not bool(shared_land().contains(np.array([lat]), np.array([lon]))[0])


# ------------------------------------------------------------------------------------ distances
def test_rajin_to_nampo_is_the_way_round_korea(sea: SeaRoutes) -> None:
    assert 250 < gc(RAJIN, NAMPO) < 320
    there = by_sea(sea, RAJIN, NAMPO)
    assert 850 < there < 1200, there
    assert abs(by_sea(sea, NAMPO, RAJIN) - there) < 1, "the same way back"
    assert abs(sea.between(RAJIN.ref_lat, RAJIN.ref_lon, NAMPO.ref_lat, NAMPO.ref_lon) - there) < 5


def test_across_a_peninsula_is_never_near(sea: SeaRoutes) -> None:
    # Wonsan and Nampo are 100 nm apart over the land, 800 nm and more by sea.
    assert gc(WONSAN, NAMPO) < 110
    assert by_sea(sea, WONSAN, NAMPO) > 700


@pytest.mark.parametrize(("a", "b"), [("ru-vladivostok", "kp-rajin"), ("kp-rajin", "kp-chongjin"),
                                      ("ru-bolshoy-kamen", "ru-vladivostok"), ("kp-sinpo", "kp-hungnam")])
def test_neighbours_along_a_coast_are_close_to_their_great_circle(sea: SeaRoutes, a: str, b: str) -> None:
    """Round a headland or out of a bay, not out to the shipping lanes and back."""
    straight, route = gc(BY_ID[a], BY_ID[b]), by_sea(sea, BY_ID[a], BY_ID[b])
    assert straight * 0.99 < route < straight * 1.35, (straight, route)


def test_a_port_is_next_to_itself(sea: SeaRoutes) -> None:
    for port in PORTS:
        assert by_sea(sea, port, port) < 5, port.id


def test_points_on_land_or_far_from_everything_still_get_an_answer(sea: SeaRoutes) -> None:
    inland = (40.5, 127.0)  # the middle of North Korea: a bad fix goes to the nearest coast first
    assert not at_sea(*inland)
    assert distance_nm(*inland, WONSAN.ref_lat, WONSAN.ref_lon) < sea.to_port(*inland, WONSAN) < 400
    pacific = (30.0, -150.0)  # far from every port and every grid: through the lanes
    far = sea.to_port(*pacific, RAJIN)
    assert math.isfinite(far) and far > distance_nm(*pacific, RAJIN.ref_lat, RAJIN.ref_lon)


def test_between_two_points_is_straight_in_open_water_and_round_land(sea: SeaRoutes) -> None:
    a, b = (41.0, 133.0), (40.0, 134.5)  # the open Sea of Japan
    assert at_sea(*a) and at_sea(*b)
    assert sea.between(*a, *b) == pytest.approx(distance_nm(*a, *b), abs=0.1)
    assert at_sea(*OFF_RAJIN)
    round_korea = sea.between(*OFF_RAJIN, 38.6, 125.0)  # off Rajin to off Nampo
    assert round_korea > 850


def test_a_port_the_routes_were_not_made_for_gets_routes_of_its_own(sea: SeaRoutes) -> None:
    made_up = Port("XXOFF", "Offshore", "XX", 42.0, 131.5)  # open water south of Posyet
    route = sea.to_port(*OFF_RAJIN, made_up)
    straight = distance_nm(*OFF_RAJIN, made_up.ref_lat, made_up.ref_lon)
    assert straight * 0.99 < route < straight * 1.1


def test_the_basis_is_named(sea: SeaRoutes) -> None:
    assert sea.basis == BASIS and "sea route" in BASIS


# ----------------------------------------------------------------------------- the dark rules
def dark_at(sea: SeaRoutes, lat: float, lon: float) -> tuple[Silence, list[object]]:
    """A ship last heard at (lat, lon) at T0, course unknown, that has raised went_dark."""
    state = Silence(key="imo:9179842", mmsi=273111111, name="ANGARA", imo=9179842)
    for hours in (-1, 0):
        assert on_position(state, state.mmsi, T0 + timedelta(hours=hours), lat, lon, 10.0, None, "feed",
                           None, RULES, PORTS, sea=sea) == []
    drafts = on_tick(state, T0 + timedelta(hours=6, seconds=1), RULES, lambda *_: timedelta(0), PORTS,
                     sea=sea)
    assert [d.kind for d in drafts] == ["went_dark"]
    return state, list(drafts)


@pytest.mark.parametrize("gap_hours", [30, 60])
def test_nampo_is_never_a_dark_port_call_for_a_silence_off_rajin(sea: SeaRoutes, gap_hours: int) -> None:
    """At 16 kn, Nampo and back from off Rajin (~1,900 nm) is ~120 h: no silence of 30 or 60 h hides it.
    Chongjin, ~40 nm down the coast, fits either. (The old great circle x 1.3 let Nampo in at 60 h.)"""
    assert at_sea(*OFF_RAJIN)
    state, _ = dark_at(sea, *OFF_RAJIN)
    back = (OFF_RAJIN[0] + 0.01, OFF_RAJIN[1] + 0.01)
    when = T0 + timedelta(hours=gap_hours)
    # Three ports only, so the ten-candidate cut cannot be what leaves Nampo out.
    three = (RAJIN, CHONGJIN, NAMPO)
    old = rank_candidates(state, when, *back, RULES, three, sea=SEA)
    assert ("kp-nampo" in [c["id"] for c in old]) is (gap_hours == 60), "the test tells the two apart"
    assert sorted(c["id"] for c in rank_candidates(state, when, *back, RULES, three, sea=sea)) == [
        "kp-chongjin", "kp-rajin"]

    drafts = on_position(state, state.mmsi, when, *back, 10.0, None, "feed", None, RULES, PORTS, sea=sea)
    assert [d.kind for d in drafts] == ["reappeared", "possible_dark_port_call"]
    call = drafts[1]
    ids = [c["id"] for c in call.details["candidates"]]
    assert "kp-chongjin" in ids and "kp-rajin" in ids
    assert "kp-nampo" not in ids and "kp-haeju" not in ids and "kp-songnim" not in ids
    assert all(c["min_sailing_hours"] + 2 <= gap_hours for c in call.details["candidates"])
    chongjin = next(c for c in call.details["candidates"] if c["id"] == "kp-chongjin")
    assert chongjin["distance_from_last_nm"] < 60, "down the coast by sea, not out to the lanes"
    assert call.details["distance_basis"] == BASIS


def test_went_dark_likely_ports_are_within_a_days_sailing_by_sea(sea: SeaRoutes) -> None:
    """Off Wonsan, Nampo is 110 nm over the land (143 nm by the old estimate: 'likely'), 800 nm by sea."""
    assert at_sea(*OFF_WONSAN)
    state, (dark,) = dark_at(sea, *OFF_WONSAN)
    day = RULES.max_speed_kn * 24
    everything = rank_candidates(state, None, None, None, RULES, PORTS, sea=sea)
    ids = [c["id"] for c in everything]
    assert all(c["distance_from_last_nm"] <= day and c["min_sailing_hours"] <= 24 for c in everything)
    # Five ports only, so the ten-candidate cut cannot be what leaves the west coast out.
    five = tuple(BY_ID[p] for p in ("kp-wonsan", "kp-hungnam", "kp-nampo", "kp-songnim", "kp-haeju"))
    near = [c["id"] for c in rank_candidates(state, None, None, None, RULES, five, sea=sea)]
    assert sorted(near) == ["kp-hungnam", "kp-wonsan"]
    old = rank_candidates(state, None, None, None, RULES, five, sea=SEA)
    assert "kp-nampo" in [c["id"] for c in old], "the test tells the two apart"

    details = dark.details  # type: ignore[attr-defined]
    assert details["nearest_port"]["id"] == "kp-wonsan"
    assert [p["id"] for p in details["likely_ports"]] == ids[:3]
    assert details["distance_basis"] == BASIS
