"""The identity step directly: identity_change (fields, a new MMSI and flag for the same IMO, a conflict)
and draught_change (both sides of the threshold, across a dark silence), fed through the real
vessel-state and watchlist steps so the changes are the ones the pipeline would see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.alerts.model import AlertAmendment, AlertDraft, Severity
from ais_watch.detectors.dark import DarkEpisode
from ais_watch.detectors.identity import IdentityAlerts
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.model import IngestStats, Report
from ais_watch.pipeline.stage import Context, VesselRow
from ais_watch.pipeline.vessel_state import VesselState
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import WatchlistIndex
from tests.helpers.reports import make_position, make_static

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, tzinfo=UTC)
IMO = 9179842
RU_MMSI = 273111111  # Russia (MID 273)
KM_MMSI = 620999999  # Comoros (MID 620): a flag of convenience
ENTRY = WatchEntry(name="ANGARA", imo=IMO, mmsi=None, flag="Russia", reason="OFAC", source="test")


@dataclass
class Collected:
    state: VesselState
    alerts: list[AlertDraft] = field(default_factory=list)
    amendments: list[AlertAmendment] = field(default_factory=list)

    def raise_alert(self, draft: AlertDraft) -> None:
        self.alerts.append(draft)

    def amend_alert(self, amendment: AlertAmendment) -> None:
        self.amendments.append(amendment)

    def vessel(self, mmsi: int) -> VesselRow | None:
        return self.state.vessels.get(mmsi)


class FakeDark:
    """The dark stage's answer to "was this vessel in a dark silence before this report?"."""

    def __init__(self, episode: DarkEpisode | None = None) -> None:
        self.episode = episode

    def dark_episode(self, mmsi: int, when: datetime) -> DarkEpisode | None:
        return self.episode


class Harness:
    def __init__(self, dark: FakeDark | None = None, **options: Any) -> None:
        self.state = VesselState(IngestStats())
        self.enricher = WatchlistEnricher(WatchlistIndex([ENTRY]))
        self.identity = IdentityAlerts(self.enricher, dark, **options)  # type: ignore[arg-type]
        self.out = Collected(self.state)

    def feed(self, report: Report) -> Context:
        ctx = Context(self.out)  # type: ignore[arg-type]
        self.state.handle(report, ctx)
        self.enricher.handle(report, ctx)
        self.identity.handle(report, ctx)
        return ctx

    def kinds(self) -> list[str]:
        return [a.kind for a in self.out.alerts]


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def static(mmsi: int, hours: float, name: str = "ANGARA", **fields: Any) -> Any:
    values: dict[str, Any] = {"call_sign": "UBCD7", "ship_type": 70, "draught": 6.0,
                              "destination": "VOSTOCHNY"}
    values.update(fields)
    return make_static(mmsi, at(hours), name, IMO, **values)


def test_a_rename_is_one_identity_change_with_old_and_new() -> None:
    h = Harness()
    h.feed(static(RU_MMSI, 0))
    h.feed(static(RU_MMSI, 1, name="MARIA", call_sign="UQXY2"))
    assert h.kinds() == ["identity_change"]
    alert = h.out.alerts[0]
    assert alert.details["fields"] == {"name": {"old": "ANGARA", "new": "MARIA"},
                                       "call_sign": {"old": "UBCD7", "new": "UQXY2"}}
    assert alert.details["evidence"][0]["msg_type"] == 5 and alert.severity is None  # strong: default


def test_destination_and_eta_are_voyage_data_not_identity() -> None:
    h = Harness()
    h.feed(static(RU_MMSI, 0))
    h.feed(static(RU_MMSI, 1, destination="RAJIN"))
    assert h.kinds() == []


def test_the_first_static_of_a_vessel_is_no_change() -> None:
    h = Harness()
    h.feed(static(RU_MMSI, 0))
    assert h.kinds() == []


def test_an_unwatched_ship_renamed_raises_nothing() -> None:
    h = Harness()
    h.feed(make_static(RU_MMSI, at(0), "FERRY ONE", 9074729))
    h.feed(make_static(RU_MMSI, at(1), "FERRY TWO", 9074729))
    assert h.kinds() == []


def test_the_same_imo_from_a_new_mmsi_is_a_new_mmsi_and_flag() -> None:
    h = Harness()
    h.feed(make_position(RU_MMSI, at(0), 42.0, 131.0))
    h.feed(static(RU_MMSI, 0))
    # Silent for two days, then the IMO is heard from a Comoros MMSI under another name.
    h.feed(make_position(KM_MMSI, at(48), 42.2, 130.4))
    h.feed(static(KM_MMSI, 48, name="MAIA"))
    assert h.kinds() == ["identity_change"]
    details = h.out.alerts[0].details
    assert details["fields"]["mmsi"] == {"old": RU_MMSI, "new": KM_MMSI}
    assert details["fields"]["flag"] == {"old": "RU", "new": "KM"}
    assert details["fields"]["name"] == {"old": "ANGARA", "new": "MAIA"}
    assert "conflict" not in details
    h.feed(static(KM_MMSI, 49, name="MAIA"))  # heard again: no second alert
    assert h.kinds() == ["identity_change"]


def test_the_same_imo_from_two_mmsis_at_once_far_apart_is_a_conflict() -> None:
    h = Harness(conflict_window=timedelta(hours=1), max_speed_kn=50.0)
    h.feed(make_position(RU_MMSI, at(0), 42.0, 131.0))
    h.feed(static(RU_MMSI, 0))
    h.feed(make_position(KM_MMSI, at(0.5), 38.0, 125.0))  # ~360 nm away, half an hour later
    h.feed(static(KM_MMSI, 0.5))
    [alert] = h.out.alerts
    assert alert.details["conflict"]["mmsis"] == [RU_MMSI, KM_MMSI]
    assert alert.severity == Severity.CRITICAL


def test_the_same_imo_from_two_mmsis_close_enough_is_no_conflict() -> None:
    h = Harness(conflict_window=timedelta(hours=1), max_speed_kn=50.0)
    h.feed(make_position(RU_MMSI, at(0), 42.0, 131.0))
    h.feed(static(RU_MMSI, 0))
    h.feed(make_position(KM_MMSI, at(0.5), 42.1, 131.0))  # 6 nm in half an hour: one ship, new MMSI
    h.feed(static(KM_MMSI, 0.5))
    [alert] = h.out.alerts
    assert "conflict" not in alert.details


@pytest.mark.parametrize(("new", "raised"), [(6.4, False), (6.5, True), (5.5, True), (5.6, False)])
def test_a_draught_change_of_at_least_the_minimum(new: float, raised: bool) -> None:
    h = Harness(min_draught_change=0.5)
    h.feed(static(RU_MMSI, 0, draught=6.0))
    h.feed(static(RU_MMSI, 1, draught=new))
    assert h.kinds() == (["draught_change"] if raised else [])


def test_a_draught_change_across_a_dark_silence_is_high_and_amends_the_reappearance() -> None:
    episode = DarkEpisode(dark_from=at(1), dark_until=at(20), draught_before=6.0,
                          alert_keys=["reappeared|273111111|-|x"])
    h = Harness(FakeDark(episode))
    h.feed(static(RU_MMSI, 0, draught=6.0))
    h.feed(static(RU_MMSI, 20.2, draught=9.1))
    [alert] = h.out.alerts
    assert alert.kind == "draught_change" and alert.severity == Severity.HIGH
    assert alert.details["while_dark"] is True and alert.details["change"] == 3.1
    assert alert.details["silence"]["hours"] == 19.0
    assert [(a.dedup_key, a.details) for a in h.out.amendments] == [
        ("reappeared|273111111|-|x", {"draught_before": 6.0, "draught_after": 9.1})]


def test_a_draught_change_with_no_dark_silence_is_medium() -> None:
    h = Harness(FakeDark(None))
    h.feed(static(RU_MMSI, 0, draught=6.0))
    h.feed(static(RU_MMSI, 5, draught=9.1))
    [alert] = h.out.alerts
    assert alert.severity is None and "silence" not in alert.details and h.out.amendments == []
