"""The dark-ship rules (went_dark, reappeared, possible_dark_port_call) and feed health, as pure state
machines: no database, no network, no pipeline. Each test drives `on_position` / `on_tick` (or
`FeedHealth.observe` / `tick`) by hand, the way Traccar tests its event handlers one message at a time.

Sea distances come from a stand-in (`DetourEstimate`: the great circle times 1.3), so the expectations
about made-up ports stay plain arithmetic; the real sea routes, and these rules over them, are tested in
test_sea_routes.py."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from ais_watch.alerts.model import AlertDraft, Severity, iso
from ais_watch.detectors.dark_rules import (
    DARK_KINDS,
    IMPOSSIBLE_SPEED_KN,
    DarkRules,
    Silence,
    on_position,
    on_tick,
    rank_candidates,
)
from ais_watch.geo import distance_nm
from ais_watch.pipeline.feed_health import FeedHealth
from tests.helpers.ports import RAJIN, SEA, VOSTOCHNY, Port

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
MMSI = 273111111
OTHER_MMSI = 273999999
SOURCE = "feed-a"
H = timedelta(hours=1)
PORTS = (RAJIN, VOSTOCHNY)
AT_SEA = (42.5, 132.3)  # between the two, about 38 nm from Vostochny and 90 nm from Rajin
RULES = DarkRules()


def at(hours: float = 0.0, **delta: float) -> datetime:
    return T0 + timedelta(hours=hours, **delta)


def no_outage(source: str | None, start: datetime, end: datetime) -> timedelta:
    return timedelta(0)


def ship(**fields: object) -> Silence:
    return Silence(key="imo:9179842", mmsi=MMSI, name="ANGARA", imo=9179842, **fields)  # type: ignore[arg-type]


def seen(state: Silence, when: datetime, lat: float = AT_SEA[0], lon: float = AT_SEA[1], *,
         sog: float | None = 10.0, cog: float | None = 270.0, mmsi: int = MMSI, source: str = SOURCE,
         in_port: str | None = None, rules: DarkRules = RULES, ports: tuple[Port, ...] = PORTS,
         ) -> list[AlertDraft]:
    return on_position(state, mmsi, when, lat, lon, sog, cog, source, in_port, rules, ports, sea=SEA)


def tick(state: Silence, now: datetime, rules: DarkRules = RULES, overlap=no_outage,  # type: ignore[no-untyped-def]
         ports: tuple[Port, ...] = PORTS) -> list[AlertDraft]:
    return on_tick(state, now, rules, overlap, ports, sea=SEA)


def dark_ship(rules: DarkRules = RULES, *, lat: float = AT_SEA[0], lon: float = AT_SEA[1],
              in_port: str | None = None, cog: float | None = 270.0) -> Silence:
    """A ship last heard at T0, two minutes after the report before (a terrestrial cadence, which leaves
    its threshold as set), that has raised went_dark."""
    state = ship()
    assert seen(state, at(0, minutes=-2), lat, lon, in_port=in_port, rules=rules, cog=cog) == []
    assert seen(state, at(0), lat, lon, in_port=in_port, rules=rules, cog=cog) == []
    (draft,) = tick(state, at(0) + rules.threshold + timedelta(seconds=1), rules)
    assert draft.kind == "went_dark"
    return state


# ------------------------------------------------------------------------------------- went_dark
def test_a_short_coverage_hole_raises_nothing() -> None:
    state = ship()
    seen(state, at(0))
    for minutes in (1, 60, 300, 359):
        assert tick(state, at(minutes=minutes)) == []
    assert tick(state, at(6)) == [], "exactly the threshold is not past it"
    # The ship speaks again before the threshold: no reappeared (it never went dark), a fresh silence.
    assert seen(state, at(5.5)) == []
    assert tick(state, at(11)) == [], "5.5 h after its last position"
    assert state.alerted_for is None


def test_silence_past_the_threshold_raises_went_dark_once() -> None:
    state = ship(destination="RAJIN")
    seen(state, at(-0.5), 42.52, 132.4, sog=11.0, cog=268.0)
    seen(state, at(0), *AT_SEA, sog=11.5, cog=265.0)
    assert tick(state, at(6)) == []
    drafts = tick(state, at(6, seconds=30))
    assert [d.kind for d in drafts] == ["went_dark"]
    assert tick(state, at(6, minutes=1)) == [], "once per silence"
    assert tick(state, at(48)) == [], "however long it lasts"

    (dark,) = drafts
    assert dark.occurred_at == at(0) + RULES.threshold == at(6)
    assert dark.event_key == iso(at(0))
    assert (dark.mmsi, dark.imo, dark.vessel_name) == (MMSI, 9179842, "ANGARA")
    assert (dark.lat, dark.lon) == AT_SEA
    assert dark.severity is None, "the kind's default (high) for a strong match"
    d = dark.details
    assert d["last_seen"] == iso(at(0)) == "2024-03-01T00:00:00Z"
    assert (d["last_sog"], d["last_cog"], d["destination"]) == (11.5, 265.0, "RAJIN")
    assert d["threshold_seconds"] == 6 * 3600
    assert d["silent_seconds"] == 6 * 3600 + 30
    assert d["feed_outage_seconds"] == 0
    assert d["in_port"] is None
    nearest = d["nearest_port"]
    # By sea (here the stand-in's great circle x 1.3): the distances in the details are sea distances.
    assert nearest == {"id": "RUVYP", "name": "Vostochny", "country": "RU",
                       "distance_nm": round(SEA.to_port(*AT_SEA, VOSTOCHNY), 1)}
    assert 30 < distance_nm(*AT_SEA, VOSTOCHNY.ref_lat, VOSTOCHNY.ref_lon) < 45
    assert d["distance_basis"] == SEA.basis
    assert dark.place == "at sea, 38 nm SW of Vostochny", "at sea: where, from the nearest port"
    likely = d["likely_ports"]
    # Both are within a day's sailing; heading west (265) and bound for RAJIN, Rajin comes first.
    assert [p["id"] for p in likely] == ["KPRJN", "RUVYP"]
    assert likely[0]["destination_match"] is True and likely[1]["destination_match"] is False
    assert likely[0]["distance_from_last_nm"] == round(SEA.to_port(*AT_SEA, RAJIN), 1)


def test_likely_ports_are_those_within_a_days_sailing() -> None:
    far = Port("XXFAR", "Farport", "XX", 47.0, 140.0)  # ~430 nm: more than 24 h at 16 kn with the detour
    state = ship()
    seen(state, at(0), cog=None)
    (dark,) = tick(state, at(7), ports=(*PORTS, far))
    assert "XXFAR" not in [p["id"] for p in dark.details["likely_ports"]]
    assert dark.details["nearest_port"]["id"] == "RUVYP"


def test_no_ports_known_still_raises_went_dark() -> None:
    state = ship()
    seen(state, at(0), ports=())
    (dark,) = tick(state, at(7), ports=())
    assert dark.details["nearest_port"] is None and dark.details["likely_ports"] == []
    assert dark.place is None


def test_a_per_entry_threshold_is_honoured() -> None:
    short = DarkRules(threshold=timedelta(hours=2))
    state = ship()
    seen(state, at(0), rules=short)
    assert tick(state, at(2), short) == []
    (dark,) = tick(state, at(2, seconds=1), short)
    assert dark.occurred_at == at(2)
    assert dark.details["threshold_seconds"] == 7200

    long = DarkRules(threshold=timedelta(hours=24))
    state = ship()
    seen(state, at(0), rules=long)
    assert tick(state, at(23), long) == []
    assert [d.occurred_at for d in tick(state, at(25), long)] == [at(24)]


def test_a_ship_never_heard_at_a_position_never_goes_dark() -> None:
    state = ship()  # e.g. only its static data was heard
    assert tick(state, at(100)) == []


def test_a_new_silence_after_reappearing_raises_a_new_went_dark() -> None:
    state = dark_ship()
    assert [d.kind for d in seen(state, at(10))][:1] == ["reappeared"]
    assert tick(state, at(15)) == []
    (again,) = tick(state, at(16, seconds=1))
    assert again.event_key == iso(at(10)) and again.occurred_at == at(16)


# ------------------------------------------------------------------------------ feed outages
def test_a_feed_outage_covering_the_silence_is_not_a_dark_ship_replay() -> None:
    """Replay: the feed's events jump 8 hours; the whole silence is outage."""
    feed = FeedHealth(timedelta(minutes=10))
    state = ship()
    feed.observe(SOURCE, at(0))
    seen(state, at(0))
    assert [d.kind for d in feed.observe(SOURCE, at(8))] == ["feed_outage", "feed_restored"]
    assert tick(state, at(8), overlap=feed.outage_overlap) == []
    # The feed is back, the ship is not: its silence counts from the restoration.
    for minutes in range(5, 6 * 60 + 1, 5):
        feed.observe(SOURCE, at(8, minutes=minutes))
        assert tick(state, at(8, minutes=minutes), overlap=feed.outage_overlap) == [], minutes
    (dark,) = tick(state, at(14, seconds=1), overlap=feed.outage_overlap)
    assert dark.occurred_at == at(14), "threshold reached counting only the time the feed was up"
    assert dark.details["feed_outage_seconds"] == 8 * 3600
    assert dark.details["silent_seconds"] == 14 * 3600 + 1


def test_an_open_feed_outage_covering_the_silence_is_not_a_dark_ship_live() -> None:
    """Live: the feed stops; ticks open the outage and it stays open past the threshold."""
    feed = FeedHealth(timedelta(minutes=10))
    state = ship()
    feed.observe(SOURCE, at(0))
    seen(state, at(0))
    assert [d.kind for d in feed.tick(at(minutes=11))] == ["feed_outage"]
    for hours in (6, 7, 10, 30):
        assert tick(state, at(hours), overlap=feed.outage_overlap) == [], hours


def test_a_silence_partly_covered_by_an_outage_counts_only_the_uncovered_part() -> None:
    feed = FeedHealth(timedelta(minutes=10))
    state = ship()
    seen(state, at(0))
    for minutes in range(0, 121, 5):  # the feed is alive for 2 h after the ship's last position
        feed.observe(SOURCE, at(minutes=minutes))
    assert [d.kind for d in feed.observe(SOURCE, at(5))] == ["feed_outage", "feed_restored"]  # down 2h-5h
    for minutes in range(5, 4 * 60 + 1, 5):
        feed.observe(SOURCE, at(5, minutes=minutes))
    assert feed.outage_overlap(SOURCE, at(0), at(9)) == 3 * H
    assert tick(state, at(8), overlap=feed.outage_overlap) == []
    assert tick(state, at(9), overlap=feed.outage_overlap) == [], "6 h uncovered: not past the threshold"
    (dark,) = tick(state, at(9, seconds=1), overlap=feed.outage_overlap)
    assert dark.occurred_at == at(9)
    assert dark.details["feed_outage_seconds"] == 3 * 3600


def test_an_outage_of_another_source_does_not_excuse_the_silence() -> None:
    feed = FeedHealth(timedelta(minutes=10))
    state = ship()
    feed.observe("other", at(0))
    feed.observe(SOURCE, at(0))
    seen(state, at(0))  # heard through SOURCE
    feed.observe("other", at(8))  # "other" was down 0-8h; SOURCE never was
    (dark,) = tick(state, at(6, seconds=1), overlap=feed.outage_overlap)
    assert dark.occurred_at == at(6) and dark.details["feed_outage_seconds"] == 0


# ------------------------------------------------------------------------------------- reappeared
def test_reappeared_carries_gap_distance_and_implied_speed() -> None:
    state = dark_ship()
    back = (42.0, 131.0)
    drafts = seen(state, at(10), *back, cog=90.0)
    assert drafts[0].kind == "reappeared"
    r = drafts[0]
    moved = distance_nm(*AT_SEA, *back)
    assert r.occurred_at == at(10) and r.event_key == iso(at(0))
    assert (r.mmsi, r.imo, r.vessel_name, r.lat, r.lon) == (MMSI, 9179842, "ANGARA", *back)
    assert r.details["gap_seconds"] == 10 * 3600
    assert r.details["distance_nm"] == round(moved, 2)
    assert r.details["implied_speed_kn"] == round(moved / 10, 2)
    assert r.details["implausible_speed"] is False
    assert r.details["previous_mmsi"] is None
    assert r.details["last_seen"] == iso(at(0))
    assert (r.details["last_lat"], r.details["last_lon"]) == AT_SEA
    assert r.severity is None
    # The silence is over: the state follows the new position, and nothing more is raised.
    assert (state.last_time, state.last_lat, state.last_lon, state.alerted_for) == (at(10), *back, None)
    assert seen(state, at(10, minutes=5), *back) == []
    assert tick(state, at(12)) == []


def test_an_implied_speed_no_ship_makes_is_flagged() -> None:
    rules = DarkRules(threshold=H)
    state = dark_ship(rules)
    far = (AT_SEA[0] + 10.0, AT_SEA[1])  # 10 degrees of latitude north: about 600 nm
    (r,) = seen(state, at(2), *far, rules=rules)  # 2 h after: no port is reachable with a 2 h dwell
    moved = distance_nm(*AT_SEA, *far)
    assert 595 < moved < 605
    assert r.kind == "reappeared"
    assert r.details["implied_speed_kn"] == round(moved / 2, 2)
    assert r.details["implied_speed_kn"] > IMPOSSIBLE_SPEED_KN
    assert r.details["implausible_speed"] is True


def test_the_same_ship_under_a_new_mmsi_names_the_previous_one() -> None:
    state = dark_ship()
    drafts = seen(state, at(9), mmsi=OTHER_MMSI)
    assert drafts[0].kind == "reappeared"
    assert drafts[0].mmsi == OTHER_MMSI
    assert drafts[0].details["previous_mmsi"] == MMSI
    assert state.mmsi == OTHER_MMSI


def test_no_reappeared_without_a_went_dark() -> None:
    state = ship()
    seen(state, at(0))
    assert tick(state, at(5)) == []
    assert seen(state, at(5, minutes=59), 43.0, 134.0) == [], "a silence under the threshold is no news"
    # Nor when the ticks never ran past the threshold (nothing was raised to end).
    assert seen(state, at(20)) == []


def test_an_older_position_changes_nothing() -> None:
    state = dark_ship()
    before = copy.copy(state)
    assert seen(state, at(-0.5), 41.0, 131.0, mmsi=OTHER_MMSI) == []
    assert seen(state, at(0), 41.0, 131.0) == [], "the same time is not newer either"
    assert state == before
    assert state.alerted_for == at(0), "still dark"
    assert seen(state, at(12))[0].kind == "reappeared"

    quiet = ship()
    seen(quiet, at(0))
    before = copy.copy(quiet)
    assert seen(quiet, at(-1), 41.0, 131.0, sog=25.0) == []
    assert quiet == before and quiet.top_speed_seen == 10.0


def test_silent_in_port_and_back_in_the_same_port_is_no_dark_port_call() -> None:
    state = dark_ship(lat=RAJIN.ref_lat, lon=RAJIN.ref_lon, in_port="Rajin", cog=None)
    assert state.in_port == "Rajin"
    drafts = seen(state, at(30), RAJIN.ref_lat, RAJIN.ref_lon, in_port="Rajin")
    assert [d.kind for d in drafts] == ["reappeared"]
    assert drafts[0].place == "Rajin"

    # The same silence, but seen again at sea: a port call could have hidden in it.
    state = dark_ship(lat=RAJIN.ref_lat, lon=RAJIN.ref_lon, in_port="Rajin", cog=None)
    drafts = seen(state, at(30), RAJIN.ref_lat + 0.05, RAJIN.ref_lon + 0.05)
    assert [d.kind for d in drafts] == ["reappeared", "possible_dark_port_call"]


def test_went_dark_in_port_is_placed_in_that_port() -> None:
    state = ship()
    seen(state, at(0), RAJIN.ref_lat, RAJIN.ref_lon, in_port="Rajin")
    (dark,) = tick(state, at(7))
    assert dark.place == "Rajin" and dark.details["in_port"] == "Rajin"


# ---------------------------------------------------------------------- possible_dark_port_call
P0 = (42.0, 132.0)
# Made-up ports about 60 nm from P0: one straight ahead on a course of 090, one abeam to the north, and
# one ~210 nm away that no ship could visit and come back from in the gaps used here.
EAST = Port("XXEAS", "Easthaven", "XX", 42.0, 133.345)
NORTH = Port("XXNOR", "Northbay", "XX", 43.0, 132.0, ("KANGSONG",))
FAR = Port("XXFAR", "Farport", "XX", 44.0, 136.0)
MADE_UP = (EAST, NORTH, FAR)


def test_made_up_ports_are_where_the_test_says() -> None:
    assert 59 < distance_nm(*P0, EAST.ref_lat, EAST.ref_lon) < 61
    assert 59 < distance_nm(*P0, NORTH.ref_lat, NORTH.ref_lon) < 61
    assert 205 < distance_nm(*P0, FAR.ref_lat, FAR.ref_lon) < 220


def dark_at_p0(destination: str | None = None) -> Silence:
    state = ship(destination=destination)
    seen(state, at(-1), P0[0], P0[1] - 0.2, cog=90.0, ports=MADE_UP)
    seen(state, at(0), *P0, cog=90.0, ports=MADE_UP)
    assert [d.kind for d in tick(state, at(7), ports=MADE_UP)] == ["went_dark"]
    return state


def test_possible_dark_port_call_ranks_reachable_ports() -> None:
    state = dark_at_p0()
    drafts = seen(state, at(14), *P0, cog=None, ports=MADE_UP)  # back where it went silent, 14 h later
    assert [d.kind for d in drafts] == ["reappeared", "possible_dark_port_call"]
    call = drafts[1]
    candidates = call.details["candidates"]
    ids = [c["id"] for c in candidates]
    assert "XXFAR" not in ids, "Farport and back is ~35 h at 16 kn: unreachable in 14 h"
    assert ids == ["XXEAS", "XXNOR"], "the port on its course (090) before the one abeam"
    east, north = candidates
    assert east["off_course_deg"] < 5 and 85 < north["off_course_deg"] < 95
    assert east["score"] < north["score"]
    # Reachability: there and back (with the sea-route factor) at 16 kn, plus the 2 h dwell, fits 14 h.
    there = SEA.to_port(*P0, EAST)
    assert east["min_sailing_hours"] == round(2 * there / 16.0, 1)
    assert all(c["min_sailing_hours"] + 2 <= 14 for c in candidates)
    assert (call.place, call.lat, call.lon) == ("Easthaven", EAST.ref_lat, EAST.ref_lon)
    assert call.details["distance_basis"] == SEA.basis
    assert call.occurred_at == at(14) and call.event_key == iso(at(0))
    assert call.details["gap_seconds"] == 14 * 3600 and call.details["last_seen"] == iso(at(0))
    assert call.severity is None


def test_a_port_too_far_for_the_gap_is_excluded() -> None:
    # 60 nm there and 60 back is 78 * 2 nm with the detour factor: 9.75 h at 16 kn, plus a 2 h dwell.
    state = dark_at_p0()
    drafts = seen(state, at(11), *P0, cog=None, ports=MADE_UP)
    assert [d.kind for d in drafts] == ["reappeared"], "no port fits in 11 h: no port call to suspect"
    state = dark_at_p0()
    ranked = rank_candidates(state, at(12), *P0, RULES, MADE_UP, sea=SEA)
    assert [c["id"] for c in ranked] == ["XXEAS", "XXNOR"]
    slow = DarkRules(max_speed_kn=8.0)  # at 8 kn the same trips take 19.5 h
    assert rank_candidates(state, at(12), *P0, slow, MADE_UP, sea=SEA) == []
    dwell = DarkRules(min_dwell=timedelta(hours=4))  # 9.75 h + 4 h > 12 h
    assert rank_candidates(state, at(12), *P0, dwell, MADE_UP, sea=SEA) == []


def test_the_fastest_speed_seen_widens_the_reach() -> None:
    state = ship()
    seen(state, at(-1), P0[0], P0[1] - 0.3, sog=20.0, cog=90.0, ports=MADE_UP)  # a fast ship: 23 kn reach
    seen(state, at(0), *P0, cog=90.0, ports=MADE_UP)
    assert state.top_speed_seen == 20.0
    # 156 nm at 23 kn is 6.8 h, plus 2 h: fits 9 h, which at 16 kn it would not.
    ranked = rank_candidates(state, at(9), *P0, RULES, MADE_UP, sea=SEA)
    assert [c["id"] for c in ranked] == ["XXEAS", "XXNOR"]


@pytest.mark.parametrize("destination", ["NORTHBAY", "KANGSONG", "Kangsong", "XXNOR"])
def test_a_destination_naming_a_port_lifts_it_to_the_top(destination: str) -> None:
    state = dark_at_p0(destination)
    drafts = seen(state, at(14), *P0, cog=None, ports=MADE_UP)
    candidates = drafts[1].details["candidates"]
    assert [c["id"] for c in candidates] == ["XXNOR", "XXEAS"]
    assert candidates[0]["destination_match"] is True and candidates[1]["destination_match"] is False
    assert drafts[1].place == "Northbay"


def test_a_destination_never_makes_an_unreachable_port_a_candidate() -> None:
    state = dark_at_p0("FARPORT")
    drafts = seen(state, at(14), *P0, cog=None, ports=MADE_UP)
    assert "XXFAR" not in [c["id"] for c in drafts[1].details["candidates"]]


def test_the_course_coming_back_ranks_too() -> None:
    state = ship()
    seen(state, at(0), *P0, cog=None, ports=MADE_UP)  # no course going out
    tick(state, at(7), ports=MADE_UP)
    # It comes back at P0 heading south (180): from Northbay, not from Easthaven.
    drafts = seen(state, at(14), *P0, cog=180.0, ports=MADE_UP)
    assert [c["id"] for c in drafts[1].details["candidates"]] == ["XXNOR", "XXEAS"]


def test_a_placeholder_destination_names_no_port() -> None:
    state = ship(destination="NA")
    seen(state, at(0))
    (dark,) = tick(state, at(7))
    assert [p["destination_match"] for p in dark.details["likely_ports"]] == [False, False]


# ------------------------------------------------------------------------------------- severity
def test_a_weak_match_raises_with_low_severity() -> None:
    weak = DarkRules(severity=dict.fromkeys(DARK_KINDS, Severity.LOW),
                     extra={"watchlist": {"key": "name:MARIA", "match": "name"}})
    state = Silence(key=f"mmsi:{MMSI}", mmsi=MMSI, name="MARIA")
    seen(state, at(-1), *P0, cog=90.0, rules=weak, ports=MADE_UP)
    seen(state, at(0), *P0, cog=90.0, rules=weak, ports=MADE_UP)
    (dark,) = tick(state, at(7), weak, ports=MADE_UP)
    assert dark.severity == Severity.LOW
    assert dark.details["watchlist"] == {"key": "name:MARIA", "match": "name"}
    drafts = seen(state, at(14), *P0, cog=None, rules=weak, ports=MADE_UP)
    assert [(d.kind, d.severity) for d in drafts] == [("reappeared", Severity.LOW),
                                                     ("possible_dark_port_call", Severity.LOW)]
    assert all(d.details["watchlist"]["match"] == "name" for d in drafts)


# ------------------------------------------------------------------------------------ feed health
def test_a_gap_in_event_time_is_an_outage_and_its_restoration() -> None:
    feed = FeedHealth(timedelta(minutes=10))
    assert feed.observe("a", at(0)) == []
    assert feed.observe("a", at(minutes=5)) == []
    assert feed.observe("a", at(minutes=15)) == [], "exactly the threshold is not an outage"
    drafts = feed.observe("a", at(1, minutes=15))
    assert [d.kind for d in drafts] == ["feed_outage", "feed_restored"]
    outage, restored = drafts
    assert outage.occurred_at == at(minutes=25) and outage.event_key == iso(at(minutes=15))
    assert outage.place == "a" and outage.details["last_message_at"] == iso(at(minutes=15))
    assert outage.details["threshold_seconds"] == 600
    assert restored.occurred_at == at(1, minutes=15) and restored.event_key == outage.event_key
    assert restored.details["outage_seconds"] == 3600
    assert restored.details["down_since"] == iso(at(minutes=15))
    assert not feed.is_down("a")
    assert feed.observe("a", at(1, minutes=20)) == []
    assert feed.outage_overlap("a", at(0), at(2)) == H


def test_a_live_outage_opens_once_on_tick_and_closes_on_the_next_message() -> None:
    feed = FeedHealth(timedelta(minutes=10))
    feed.observe("a", at(0))
    assert feed.tick(at(minutes=5)) == []
    assert feed.tick(at(minutes=10)) == []
    (outage,) = feed.tick(at(minutes=11))
    assert outage.kind == "feed_outage" and outage.occurred_at == at(minutes=10)
    assert feed.is_down("a")
    assert feed.tick(at(minutes=20)) == [] and feed.tick(at(5)) == [], "opened once"
    assert feed.outage_overlap("a", at(0), at(1)) == H, "an open outage runs to the end asked about"
    (restored,) = feed.observe("a", at(minutes=30))
    assert restored.kind == "feed_restored" and restored.details["outage_seconds"] == 30 * 60
    assert restored.event_key == outage.event_key
    assert not feed.is_down("a")
    assert feed.outage_overlap("a", at(0), at(1)) == timedelta(minutes=30)
    assert feed.tick(at(minutes=35)) == []


def test_a_late_message_older_than_the_outage_does_not_restore_it() -> None:
    feed = FeedHealth(timedelta(minutes=10))
    feed.observe("a", at(0))
    feed.tick(at(1))
    assert feed.observe("a", at(-1)) == []
    assert feed.is_down("a")


def test_sources_are_independent() -> None:
    feed = FeedHealth(timedelta(minutes=10))
    feed.observe("a", at(0))
    feed.observe("b", at(0))
    for minutes in range(5, 61, 5):
        feed.observe("b", at(minutes=minutes))
    (outage,) = feed.tick(at(1))
    assert outage.place == "a" and feed.is_down("a") and not feed.is_down("b")
    assert feed.observe("b", at(1, minutes=1)) == [], "b speaking does not restore a"
    assert feed.is_down("a")
    assert feed.outage_overlap("b", at(0), at(2)) == timedelta(0)
    # Replay-style gap in b while a is down: b's outage and restoration, a still down.
    assert [d.kind for d in feed.observe("b", at(3))] == ["feed_outage", "feed_restored"]
    assert feed.is_down("a")
    assert [d.kind for d in feed.observe("a", at(4))] == ["feed_restored"]
    assert feed.outage_overlap("a", at(0), at(5)) == 4 * H
    assert feed.outage_overlap("b", at(0), at(5)) == timedelta(hours=1, minutes=59)


def test_outage_overlap_sums_the_overlaps_and_an_open_outage_runs_to_the_end() -> None:
    feed = FeedHealth(timedelta(minutes=10))
    feed.observe("a", at(1))
    feed.observe("a", at(2))  # an hour's gap: down 1h-2h
    feed.observe("a", at(3))  # down 2h-3h
    feed.observe("a", at(3, minutes=5))  # 5 minutes: no outage
    feed.observe("a", at(5))  # down 3:05-5h
    feed.observe("a", at(6))  # down 5h-6h
    feed.tick(at(7))  # live: open from 6h
    assert [(a, b) for a, b in feed.feeds["a"].outages] == [
        (at(1), at(2)), (at(2), at(3)), (at(3, minutes=5), at(5)), (at(5), at(6)), (at(6), None)]
    assert feed.outage_overlap("a", at(1, minutes=30), at(2, minutes=30)) == H
    assert feed.outage_overlap("a", at(2, minutes=30), at(3, minutes=30)) == timedelta(minutes=55)
    assert feed.outage_overlap("a", at(0), at(10)) == 10 * H - H - timedelta(minutes=5)
    assert feed.outage_overlap("a", at(6, minutes=30), at(8)) == timedelta(minutes=90), "open: up to end"
    assert feed.outage_overlap("a", at(8), at(9)) == H
    assert feed.outage_overlap("a", at(0), at(1)) == timedelta(0)
    assert feed.outage_overlap("a", at(5), at(4)) == timedelta(0), "an empty interval"
    assert feed.outage_overlap("zz", at(0), at(10)) == timedelta(0), "an unknown source"
    assert feed.outage_overlap(None, at(0), at(10)) == timedelta(0)
