"""Reception, as pure state: a station or an area that stops being heard while its feed goes on is a
reception loss (and its downtime nobody's silence); a dead feed, ships that sailed on, or an area too
quiet to judge are not. And went_dark's threshold follows the ship's cadence and its area's reception.
Both sides of every rule: what must raise, and what must not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.alerts.model import AlertDraft, iso
from ais_watch.detectors.dark_rules import DarkRules, Silence, on_position, on_tick, threshold_for
from ais_watch.geo import describe_place
from ais_watch.model import PositionReport
from ais_watch.pipeline.feed_health import FeedHealth
from ais_watch.pipeline.reception import Reception, ReceptionOptions
from ais_watch.pipeline.stage import Context
from tests.helpers.ports import SEA, Port

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
FEED = "aisnet"
VLADIVOSTOK = (43.10, 131.89)  # the harbour its station covers
NAKHODKA = (42.80, 132.88)  # another station's harbour, heard all along
OPTIONS = ReceptionOptions(window=timedelta(minutes=10), min_silence=timedelta(minutes=30), min_usual=20,
                           min_vessels=3, cell_degrees=1.0, satellite_gap=timedelta(minutes=20),
                           learn=timedelta(hours=2))


PORTS = (Port("RUVVO", "Vladivostok", "RU", *VLADIVOSTOK), Port("RUNJK", "Nakhodka", "RU", *NAKHODKA),
         Port("KPRJN", "Rajin", "KP", 42.2333, 130.3))


@dataclass
class Collected:
    """The Services a step raises into: the alerts, in order."""

    alerts: list[AlertDraft] = field(default_factory=list)

    def raise_alert(self, draft: AlertDraft) -> None:
        self.alerts.append(draft)

    def kinds(self) -> list[tuple[str, str | None]]:
        return [(a.kind, a.place) for a in self.alerts]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def report(mmsi: int, minutes: float, where: tuple[float, float], station: str | None,
           source: str = FEED) -> PositionReport:
    when = at(minutes)
    return PositionReport(mmsi=mmsi, time=when, lat=where[0] + (mmsi % 7) * 0.01, lon=where[1], sog=0.1,
                          cog=None, heading=None, nav_status=5, msg_type=1, source=source, received_at=when,
                          station=station)


class Harness:
    """A feed-health step and a reception step fed reports in time order, ticked every minute."""

    def __init__(self, options: ReceptionOptions = OPTIONS) -> None:
        self.feed = FeedHealth(timedelta(minutes=10))
        self.reception = Reception(options, self.feed, event_time=True, ports=PORTS)
        self.out = Collected()
        self._next_tick: datetime | None = None

    def run(self, reports: Iterable[PositionReport], key: Any = None) -> None:
        """In time order, or in the order `key` gives (the order they arrive in)."""
        for r in sorted(reports, key=key or (lambda r: r.time)):
            if self._next_tick is not None and r.time >= self._next_tick:
                self.tick(r.time)
            self._next_tick = self._next_tick or r.time
            while self._next_tick <= r.time:
                self._next_tick += timedelta(minutes=1)
            self.out.alerts += self.feed.observe(r.source, r.time)
            self.reception.handle(r, Context(self.out))  # type: ignore[arg-type]

    def tick(self, now: datetime) -> None:
        self.out.alerts += self.feed.tick(now)
        self.reception.tick(now, self.out)  # type: ignore[arg-type]


def harbour(station: str | None, where: tuple[float, float], start: float, end: float,
            ships: range = range(5), every: float = 2.0, first_mmsi: int = 273100000) -> list[PositionReport]:
    """`ships` vessels moored in a harbour, each heard every `every` minutes through `station`."""
    return [report(first_mmsi + s, m + s * 0.1, where, station)
            for s in ships for m in _steps(start, end, every)]


def _steps(start: float, end: float, every: float) -> list[float]:
    out, m = [], start
    while m < end:
        out.append(m)
        m += every
    return out


# ------------------------------------------------------------------------------------------ stations
def test_a_station_silent_while_the_feed_goes_on_is_one_reception_loss_then_restored() -> None:
    h = Harness()
    vladivostok = harbour("vlad-1", VLADIVOSTOK, 0, 120) + harbour("vlad-1", VLADIVOSTOK, 300, 360)
    nakhodka = harbour("nakh-1", NAKHODKA, 0, 360, first_mmsi=273200000)
    h.run(vladivostok + nakhodka)
    losses = [a for a in h.out.alerts if a.kind == "reception_loss"]
    assert len(losses) == 1, h.out.kinds()
    loss = losses[0]
    assert loss.place == f"station vlad-1 ({FEED})" and loss.mmsi is None
    assert loss.details["coverage"] == "station" and loss.details["station"] == "vlad-1"
    assert loss.details["vessels_last_heard"] == 5 and len(loss.details["vessels"]) == 5
    assert loss.details["nearest_port"]["name"] == "Vladivostok"
    area = loss.details["area"]
    assert area["south"] <= VLADIVOSTOK[0] <= area["north"] + 0.1 and area["west"] <= VLADIVOSTOK[1]
    last = max(r.time for r in vladivostok if r.time < at(200))
    assert loss.details["since"] == iso(last) == loss.event_key
    assert last + OPTIONS.min_silence <= loss.occurred_at <= last + OPTIONS.min_silence + timedelta(minutes=2)
    (restored,) = [a for a in h.out.alerts if a.kind == "reception_restored"]
    assert restored.occurred_at == at(300) and restored.details["outage_seconds"] > 2.5 * 3600
    assert not [a for a in h.out.alerts if a.kind.startswith("feed_")], "the feed itself never stopped"
    # Its downtime is nobody's silence: a ship last heard through it is covered for it.
    down = h.reception.outage_intervals(FEED, "vlad-1", *VLADIVOSTOK)
    assert down == [(last, at(300))]
    assert h.reception.outage_intervals(FEED, "nakh-1", *NAKHODKA) == []


def test_a_whole_feed_going_silent_is_a_feed_outage_not_a_reception_loss() -> None:
    h = Harness()
    h.run(harbour("vlad-1", VLADIVOSTOK, 0, 120) + harbour("nakh-1", NAKHODKA, 0, 120, first_mmsi=273200000))
    for minute in range(121, 400):
        h.tick(at(minute))
    assert [a.kind for a in h.out.alerts] == ["feed_outage"], h.out.kinds()


def test_a_station_too_quiet_to_judge_is_never_in_outage() -> None:
    h = Harness()
    quiet = harbour("remote-1", VLADIVOSTOK, 0, 120, ships=range(1), every=30.0)  # 2 messages an hour
    h.run(quiet + harbour("nakh-1", NAKHODKA, 0, 600, first_mmsi=273200000))
    assert [a.kind for a in h.out.alerts if a.kind.startswith("reception")] == []


def test_a_station_whose_traffic_collapses_to_a_trickle_is_in_outage() -> None:
    h = Harness()
    busy = harbour("vlad-1", VLADIVOSTOK, 0, 120)
    trickle = [report(273100000, m, VLADIVOSTOK, "vlad-1") for m in range(120, 240, 25)]
    h.run(busy + trickle + harbour("nakh-1", NAKHODKA, 0, 240, first_mmsi=273200000))
    kinds = [a.details["reason"] for a in h.out.alerts if a.kind == "reception_loss"]
    assert kinds and kinds[0] in ("rate collapsed", "no messages"), h.out.kinds()


def satellite_passes(start: float, end: float) -> list[PositionReport]:
    """A satellite 'station' heard in passes: 12 minutes of busy traffic every 100 minutes."""
    out = []
    for pass_start in _steps(start, end, 100):
        out += [report(273500000 + (k % 40), pass_start + k * 0.25, (0.0, 90.0), "316999999")
                for k in range(48)]
    return out


def test_a_satellite_heard_in_passes_is_not_in_outage_between_them_but_is_when_it_stops() -> None:
    h = Harness()
    h.run(satellite_passes(0, 1000) + harbour("nakh-1", NAKHODKA, 0, 1000, first_mmsi=273200000))
    assert [a for a in h.out.alerts if a.kind.startswith("reception")] == [], "passes are its normal"
    h2 = Harness()  # the same, then nothing from it for 500 minutes while the feed goes on
    h2.run(satellite_passes(0, 1000) + harbour("nakh-1", NAKHODKA, 0, 1500, first_mmsi=273200000))
    (loss,) = [a for a in h2.out.alerts if a.kind == "reception_loss"]
    assert loss.details["station"] == "316999999" and loss.details["reason"] == "no messages"
    assert loss.occurred_at - datetime.fromisoformat(loss.details["since"]) >= timedelta(minutes=150)


def test_a_station_whose_clock_runs_40_minutes_behind_the_feed_is_not_silent() -> None:
    """A satellite's detection times among receive times (the AMSA satellite recording's two clocks):
    its reports arrive all along, stamped 40 minutes early. Its silence is measured on the step's clock."""
    h = Harness()
    behind = [report(r.mmsi, (r.time - T0).total_seconds() / 60 - 40, VLADIVOSTOK, "late-1")
              for r in harbour("late-1", VLADIVOSTOK, 40, 400)]
    arrival = {id(r): (r.time - T0).total_seconds() + 2400 for r in behind}
    h.run(behind + harbour("nakh-1", NAKHODKA, 0, 400, first_mmsi=273200000),
          key=lambda r: arrival.get(id(r), (r.time - T0).total_seconds()))
    assert [a for a in h.out.alerts if a.kind.startswith("reception")] == [], h.out.kinds()


# --------------------------------------------------------------------------------------------- areas
def test_an_area_of_a_feed_naming_no_station_falling_silent_together_is_one_reception_loss() -> None:
    h = Harness()
    h.run(harbour(None, VLADIVOSTOK, 0, 120) + harbour(None, NAKHODKA, 0, 360, first_mmsi=273200000))
    (loss,) = [a for a in h.out.alerts if a.kind == "reception_loss"]
    assert loss.details["coverage"] == "area" and loss.details["station"] is None
    assert loss.place == f"area 43°N 131°E ({FEED})"
    assert loss.details["vessels_last_heard"] == 5
    assert loss.details["where"].startswith("at sea") or "Vladivostok" in loss.details["where"]


def test_ships_that_sail_out_of_an_area_are_not_a_reception_loss() -> None:
    """The area goes quiet because its ships left it (heard elsewhere): nobody fell silent there."""
    h = Harness()
    before = harbour(None, VLADIVOSTOK, 0, 120)
    after = [report(mmsi, m + 0.5, NAKHODKA, None) for mmsi in {r.mmsi for r in before}
             for m in _steps(122, 360, 2)]
    h.run(before + after + harbour(None, NAKHODKA, 0, 360, first_mmsi=273200000))
    assert [a for a in h.out.alerts if a.kind == "reception_loss"] == [], h.out.kinds()


def test_two_ships_falling_silent_are_not_enough_for_an_area() -> None:
    h = Harness()
    h.run(harbour(None, VLADIVOSTOK, 0, 120, ships=range(2), every=0.5)
          + harbour(None, NAKHODKA, 0, 360, first_mmsi=273200000))
    assert [a for a in h.out.alerts if a.kind == "reception_loss"] == []


def test_an_area_heard_only_on_satellite_passes_is_told_from_a_terrestrial_one() -> None:
    h = Harness()
    pacific = (35.5, 160.5)
    satellite = [report(273300000 + s, 90.0 * k + s, pacific, None) for s in range(8) for k in range(6)]
    h.run(satellite + harbour(None, NAKHODKA, 0, 540, first_mmsi=273200000))
    kind, long_gap = h.reception.area_reception(FEED, *pacific)
    assert kind == "satellite" and long_gap is not None and long_gap >= timedelta(minutes=64)
    assert h.reception.area_reception(FEED, *NAKHODKA)[0] == "terrestrial"
    assert h.reception.area_reception(FEED, 10.0, 10.0) == ("unknown", None)
    assert [a for a in h.out.alerts if a.kind == "reception_loss"] == [], "sparse is not silent"


def test_the_snapshot_lists_stations_and_areas_with_their_state() -> None:
    h = Harness()
    h.run(harbour("vlad-1", VLADIVOSTOK, 0, 120) + harbour("nakh-1", NAKHODKA, 0, 240, first_mmsi=273200000))
    snap = h.reception.snapshot()
    states = {s["label"]: s["state"] for s in snap["stations"]}
    assert states == {"vlad-1": "outage", "nakh-1": "ok"}
    assert all(a["reception"] in ("terrestrial", "unknown") for a in snap["areas"])
    vlad = next(s for s in snap["stations"] if s["label"] == "vlad-1")
    assert vlad["per_hour"] and vlad["per_hour"] > 100 and vlad["vessels"] == 5 and vlad["since"]
    assert vlad["judged"] is True and vlad["cell"] is None
    vlad_area = next(a for a in snap["areas"] if a["cell"] == [43.0, 131.0, 44.0, 132.0])
    assert vlad_area["judged"] is False, "its traffic names a station: the station is judged, not the area"


def test_a_satellite_area_hearing_each_ship_twice_a_pass_is_still_satellite() -> None:
    """A pass hears a ship two or three times, minutes apart: half its gaps are short (the AMSA satellite
    recording: 658 of 681 in-pass gaps under 4 minutes). The long half still tells it."""
    h = Harness()
    pacific = (35.5, 160.5)
    passes = [report(273300000 + s, 100.0 * k + s + repeat * 2.5, pacific, None)
              for s in range(8) for k in range(6) for repeat in range(2)]
    h.run(passes + harbour(None, NAKHODKA, 0, 600, first_mmsi=273200000))
    assert h.reception.area_reception(FEED, *pacific)[0] == "satellite"


# ------------------------------------------------------------------------------ cadence and the area
NO_OUTAGE: Any = lambda source, start, end: timedelta(0)  # noqa: E731


def heard(state: Silence, hours: Iterable[float], rules: DarkRules, where: tuple[float, float] = (40.0, 150.0)
          ) -> None:
    for h in hours:
        on_position(state, 273111111, T0 + timedelta(hours=h), *where, 10.0, 90.0, FEED, None, rules, PORTS,
                    sea=SEA)


def went_dark(state: Silence, at_hours: float, rules: DarkRules, area: tuple[str, timedelta | None]
              = ("unknown", None)) -> list[AlertDraft]:
    return on_tick(state, T0 + timedelta(hours=at_hours), rules, NO_OUTAGE, PORTS, lambda s: area, sea=SEA)


def test_a_ship_heard_on_satellite_passes_every_4_hours_is_not_dark_after_7_hours() -> None:
    rules = DarkRules(threshold=6 * H)
    state = Silence(key="imo:1", mmsi=273111111)
    heard(state, [0, 3.5, 7.5, 11, 15, 19, 23], rules)  # gaps of up to 4 h over the last day
    assert went_dark(state, 23 + 7, rules) == []
    (dark,) = went_dark(state, 23 + 8.1, rules)
    basis = dark.details["threshold_basis"]
    assert basis["chosen_by"] == "cadence" and basis["longest_gap_last_day_seconds"] == 4 * 3600
    assert dark.details["threshold_seconds"] == 8 * 3600
    assert dark.details["expected_reports"] in (2, 3)  # about 8 h of silence at its ~3.5 h cadence


def test_a_terrestrial_ship_keeps_the_plain_threshold() -> None:
    rules = DarkRules(threshold=6 * H)
    state = Silence(key="imo:1", mmsi=273111111)
    heard(state, [k / 60 for k in range(0, 120, 3)], rules)  # every 3 minutes for 2 hours
    assert went_dark(state, 2 + 5.9, rules, ("terrestrial", timedelta(minutes=2))) == []
    (dark,) = went_dark(state, 2 + 6.1, rules, ("terrestrial", timedelta(minutes=2)))
    assert dark.details["threshold_basis"]["chosen_by"] == "setting"
    assert dark.details["expected_reports"] > 100, "every 3 minutes: over a hundred reports missing"


def test_a_ship_last_heard_in_a_satellite_only_area_gets_the_satellite_threshold() -> None:
    rules = DarkRules(threshold=6 * H, satellite_threshold=12 * H)
    state = Silence(key="imo:1", mmsi=273111111)
    heard(state, [0, 0.1], rules)
    assert went_dark(state, 11.9, rules, ("satellite", 2 * H)) == []
    (dark,) = went_dark(state, 12.2, rules, ("satellite", 2 * H))
    assert dark.details["threshold_basis"]["chosen_by"] == "satellite area"


def test_a_silence_of_a_day_is_went_dark_whatever_the_cadence_or_area() -> None:
    rules = DarkRules(threshold=6 * H, max_threshold=18 * H)
    state = Silence(key="imo:1", mmsi=273111111)
    heard(state, [0, 8, 16], rules)  # 8-hour gaps: cadence would say 16 h
    threshold, basis = threshold_for(state, T0 + timedelta(hours=16), rules, ("satellite", 8 * H))
    assert threshold == 16 * H and basis["chosen_by"] == "cadence"
    (dark,) = went_dark(state, 16 + 24, rules, ("satellite", 8 * H))
    assert dark.kind == "went_dark"
    gappy = Silence(key="imo:2", mmsi=273111112)
    heard(gappy, [0, 10, 20], rules)  # 10-hour gaps: capped at 18 h
    assert threshold_for(gappy, T0 + timedelta(hours=20), rules, ("unknown", None))[0] == 18 * H


def test_a_reported_dark_silence_is_not_taken_for_cadence() -> None:
    rules = DarkRules(threshold=6 * H)
    state = Silence(key="imo:1", mmsi=273111111)
    heard(state, [0, 0.05], rules)
    (first,) = went_dark(state, 8, rules)
    assert first.kind == "went_dark"
    heard(state, [9], rules)  # reappeared after 9 h: that gap is the dark episode, not its cadence
    assert state.longest_gap(T0 + timedelta(hours=9)) is None
    (again,) = went_dark(state, 9 + 6.1, rules)
    assert again.details["threshold_basis"]["chosen_by"] == "setting"


def test_went_dark_at_sea_says_where_from_the_nearest_port() -> None:
    rules = DarkRules(threshold=H)
    state = Silence(key="imo:1", mmsi=273111111)
    heard(state, [0, 0.05], rules, where=(42.0, 130.6))
    (dark,) = went_dark(state, 1.2, rules)
    assert dark.place == describe_place(42.0, 130.6, PORTS)
    assert dark.place is not None and dark.place.startswith("at sea, ") and dark.place.endswith(" of Rajin")
    far = Silence(key="imo:2", mmsi=273111112)
    heard(far, [0, 0.05], rules, where=(35.0, 160.0))
    (pacific,) = went_dark(far, 1.2, rules)
    assert pacific.place is not None and " nm " in pacific.place and pacific.place != "Vladivostok"
