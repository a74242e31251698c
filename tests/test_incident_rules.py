"""The incident grouping rule (ais_watch/alerts/incident_rules.py), pure: whom an alert is about, and
which incident, if any, takes it: both sides of the window, a silence after went_dark, closed incidents,
a vessel's own incident before one it is only an encounter partner in, vessel-less alerts by place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ais_watch.alerts.incident_rules import (
    OWN,
    PARTNER,
    Candidate,
    Subjects,
    choose,
    merged_subjects,
    subject_label,
    subjects_of,
    takes,
)

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=48)
ANGARA, MARIA = 273111111, 620999999


def incident(id: int = 1, *, opened: datetime = T0, last: datetime = T0, last_kind: str = "port_call",
             state: str = "open", own: bool = True) -> Candidate:
    return Candidate(id, state, opened, last, last_kind, own)


# ------------------------------------------------------------------------------------------ subjects
def test_a_vessel_is_its_mmsi_and_its_imo() -> None:
    assert subjects_of(ANGARA, 9179842, "Rajin", "port_call", {}) == Subjects(("mmsi:273111111",
                                                                              "imo:9179842"))
    assert subjects_of(ANGARA, None, "Rajin", "port_call", None) == Subjects(("mmsi:273111111",))
    assert subjects_of(None, 9179842, None, "identity_change", {}) == Subjects(("imo:9179842",))


def test_two_vessels_have_no_subject_in_common() -> None:
    one = subjects_of(ANGARA, 9179842, "Rajin", "port_call", {})
    other = subjects_of(MARIA, 9300001, "Rajin", "port_call", {})
    assert not set(one.own) & set(other.own)


def test_a_vessel_less_alert_is_about_its_place_or_else_its_kind() -> None:
    outage = subjects_of(None, None, "aisstream", "feed_outage", {})
    restored = subjects_of(None, None, "aisstream", "feed_restored", {})
    assert outage == restored == Subjects(("place:aisstream",))  # an outage and its end: one story
    assert subjects_of(None, None, "nmea-north", "feed_outage", {}) != outage
    assert subjects_of(None, None, None, "gnss_interference", {}) == Subjects(("kind:gnss_interference",))
    assert len(subjects_of(None, None, "x" * 300, "reception_loss", {}).own[0]) == 160  # fits its column


def test_an_encounter_brings_its_partner_and_nothing_else_does() -> None:
    details = {"partner": {"mmsi": 352222222, "name": "TANKER 9"}}
    assert subjects_of(ANGARA, None, None, "encounter", details).partners == ("mmsi:352222222",)
    assert subjects_of(ANGARA, None, None, "loitering", details).partners == ()  # only an encounter's
    for odd in ({"partner": {"mmsi": ANGARA}}, {"partner": {"mmsi": True}}, {"partner": {"mmsi": "352"}},
                {"partner": "352222222"}, {}):
        assert subjects_of(ANGARA, None, None, "encounter", odd).partners == (), odd


# ------------------------------------------------------------------------------------------- window
def test_within_the_window_after_its_last_alert_joins_and_just_beyond_opens_a_new_one() -> None:
    last = T0 + timedelta(hours=30)
    open_one = incident(opened=T0, last=last)
    assert takes(open_one, last + WINDOW, WINDOW)
    assert not takes(open_one, last + WINDOW + timedelta(seconds=1), WINDOW)
    assert choose([open_one], last + timedelta(hours=47), WINDOW) == open_one
    assert choose([open_one], last + timedelta(hours=49), WINDOW) is None


def test_an_alert_a_little_before_the_incident_began_joins_it_and_one_long_before_does_not() -> None:
    # A went_dark's event time lies hours after the silence began; a late-reported event may precede
    # the incident's first alert.
    open_one = incident(opened=T0, last=T0 + timedelta(hours=5))
    assert takes(open_one, T0 - WINDOW, WINDOW)
    assert not takes(open_one, T0 - WINDOW - timedelta(seconds=1), WINDOW)


def test_a_silence_after_went_dark_does_not_break_the_voyage() -> None:
    dark = incident(last=T0, last_kind="went_dark")
    assert takes(dark, T0 + timedelta(days=9), WINDOW)  # reappeared nine days later: the same story
    quiet = incident(last=T0, last_kind="port_departure")
    assert not takes(quiet, T0 + timedelta(days=9), WINDOW)  # no silence reported: a new story


def test_a_closed_incident_takes_nothing() -> None:
    assert not takes(incident(state="closed"), T0, WINDOW)
    assert takes(incident(state="acknowledged"), T0, WINDOW)  # acknowledged: it reopens (the store)
    assert choose([incident(state="closed", last_kind="went_dark")], T0 + timedelta(hours=1), WINDOW) is None


def test_its_own_incident_before_one_it_is_only_a_partner_in_then_the_latest() -> None:
    partner_in = incident(1, last=T0 + timedelta(hours=10), own=False)
    own = incident(2, last=T0, own=True)
    assert choose([partner_in, own], T0 + timedelta(hours=11), WINDOW) == own
    assert choose([partner_in], T0 + timedelta(hours=11), WINDOW) == partner_in
    older, newer = incident(3, last=T0), incident(4, last=T0 + timedelta(hours=1))
    assert choose([older, newer], T0 + timedelta(hours=2), WINDOW) == newer
    same_a, same_b = incident(5, last=T0), incident(6, last=T0)
    assert choose([same_b, same_a], T0, WINDOW) == same_b  # a tie: the newest incident, in any order
    assert choose([], T0, WINDOW) is None


# ----------------------------------------------------------------------------------------- subjects
def test_new_subjects_are_added_once_and_a_partner_never_owns_someone_elses_incident() -> None:
    alert = Subjects(("mmsi:352222222", "imo:9300001"), ("mmsi:273111111",))
    assert merged_subjects(["mmsi:352222222"], alert) == [("imo:9300001", OWN), ("mmsi:273111111", PARTNER)]
    assert merged_subjects(["mmsi:352222222"], alert, joined_as_partner=True) == [
        ("imo:9300001", PARTNER), ("mmsi:273111111", PARTNER)]
    assert merged_subjects(["mmsi:352222222", "imo:9300001", "mmsi:273111111"], alert) == []


def test_the_title_is_the_vessel_or_the_place() -> None:
    assert subject_label(ANGARA, 9179842, "  ANGARA ", "Rajin", "port_call") == "ANGARA"
    assert subject_label(ANGARA, 9179842, "", "Rajin", "port_call") == "MMSI 273111111"
    assert subject_label(None, 9179842, None, None, "identity_change") == "IMO 9179842"
    assert subject_label(None, None, None, "station NORTH (feed)", "reception_loss") == "station NORTH (feed)"
    assert subject_label(None, None, None, None, "gnss_interference") == "gnss interference"
