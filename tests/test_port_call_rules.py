"""The port-call rules (ais_watch.detectors.port_calls): pure, one vessel's fixes in, events out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ais_watch.detectors.port_call_rules import (
    AT_ANCHOR,
    MOORED,
    PortCallRules,
    PortEvent,
    Visit,
    on_position,
)

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
RULES = PortCallRules()  # 30 min dwell, 0.5 kn


@dataclass(frozen=True)
class Z:
    id: str
    name: str
    country: str
    kind: str


PORT = Z("kp-rajin", "Rajin", "KP", "port")
ROADS = Z("kp-rajin-roads", "Rajin roads", "KP", "anchorage")
SEA: tuple[Z, ...] = ()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Fix:
    minute: float
    zones: Sequence[Z]
    sog: float | None = 0.0
    status: int | None = 0


def run(fixes: Iterable[Fix], visits: dict[str, Visit] | None = None) -> tuple[list[PortEvent], dict]:
    visits = {} if visits is None else visits
    events: list[PortEvent] = []
    for i, fix in enumerate(fixes):
        events += on_position(visits, at(fix.minute), 42.23, 130.30 + i * 1e-5, fix.sog, fix.status,
                              fix.zones, RULES)
    return events, visits


def every(start: float, end: float, step: float, zones: Sequence[Z], sog: float | None = 0.0,
          status: int | None = 0) -> list[Fix]:
    """Fixes from `start` to `end` minutes inclusive, every `step` minutes."""
    out, m = [], start
    while m <= end + 1e-9:
        out.append(Fix(m, zones, sog, status))
        m += step
    return out


def kinds(events: list[PortEvent]) -> list[tuple[str, str]]:
    return [(e.kind, e.visit.port_id) for e in events]


# ------------------------------------------------------------------------------------------ calls
def test_arrival_then_stop_for_the_dwell_is_a_call_dated_at_entry() -> None:
    fixes = [Fix(-4, SEA, 8.0), *every(0, 8, 2, [PORT], sog=4.0), *every(10, 40, 2, [PORT])]
    events, visits = run(fixes)
    assert kinds(events) == [("call", "kp-rajin")]
    (call,) = events
    assert call.at == at(40), "established once stopped 30 min (stopped since 10)"
    assert call.visit.arrival == at(0), "the arrival is the entry into the polygon"
    assert call.visit.established_at == at(40)
    assert call.visit.evidence == "entry+stop"
    assert (call.visit.port_name, call.visit.country, call.visit.kind) == ("Rajin", "KP", "port")
    assert list(visits) == ["kp-rajin"], "still in port"


def test_leaving_after_a_call_is_a_departure() -> None:
    fixes = [*every(0, 8, 2, [PORT], sog=4.0), *every(10, 130, 10, [PORT]),
             *every(132, 140, 2, [PORT], sog=5.0), Fix(142, SEA, 9.0), Fix(144, SEA, 10.0)]
    events, visits = run(fixes)
    assert kinds(events) == [("call", "kp-rajin"), ("departure", "kp-rajin")]
    call, departure = events
    assert call.at == at(40)
    assert departure.at == at(142), "the first fix outside"
    assert departure.visit.arrival == at(0)
    assert departure.visit.evidence == "entry+stop+exit"
    assert visits == {}


def test_a_pass_by_at_speed_is_no_call() -> None:
    fixes = [Fix(-2, SEA, 12.0), *every(0, 20, 1, [PORT], sog=12.0), *every(21, 30, 1, SEA, sog=12.0)]
    events, visits = run(fixes)
    assert events == []
    assert visits == {}


def test_a_20_minute_stop_is_no_call() -> None:
    fixes = [*every(0, 6, 2, [PORT], sog=4.0), *every(8, 28, 2, [PORT]), *every(30, 40, 2, [PORT], sog=6.0),
             Fix(42, SEA, 8.0)]
    events, visits = run(fixes)
    assert events == []
    assert visits == {}


def test_short_stops_adding_up_past_the_dwell_are_no_call() -> None:
    """Four 10-minute stops with a fix under way between them: 40 min stopped, never 30 in one go."""
    fixes = [Fix(0, [PORT], 4.0)]
    for start in (2, 16, 30, 44):
        fixes += every(start, start + 10, 2, [PORT])
        fixes.append(Fix(start + 12, [PORT], 3.0))
    fixes.append(Fix(60, SEA, 8.0))
    events, visits = run(fixes)
    assert events == []
    assert visits == {}


def test_moored_status_without_speed_counts_as_stopped() -> None:
    fixes = [Fix(0, [PORT], 4.0), *every(2, 40, 2, [PORT], sog=None, status=MOORED)]
    events, _ = run(fixes)
    assert kinds(events) == [("call", "kp-rajin")]
    assert events[0].at == at(32)
    assert events[0].visit.evidence == "entry+stop"


def test_at_anchor_status_left_on_while_under_way_is_not_stopped() -> None:
    fixes = [*every(0, 60, 2, [PORT], sog=8.0, status=AT_ANCHOR), Fix(62, SEA, 8.0, AT_ANCHOR)]
    events, visits = run(fixes)
    assert events == []
    assert visits == {}


def test_silent_while_stopped_in_port_then_seen_outside_is_a_call_and_a_departure() -> None:
    """Stopped for 10 min, silent for 5 h, next seen outside: it made the call (evidence says gap)."""
    fixes = [Fix(-2, SEA, 6.0), Fix(0, [PORT], 3.0), *every(2, 12, 2, [PORT]), Fix(12 + 300, SEA, 10.0)]
    events, visits = run(fixes)
    assert kinds(events) == [("call", "kp-rajin"), ("departure", "kp-rajin")]
    call, departure = events
    assert call.visit is departure.visit
    assert call.visit.arrival == at(0)
    assert call.at == at(2 + 30), "established when the stop (from 2) covers the dwell"
    assert call.visit.established_at == at(32)
    assert departure.at == at(312)
    assert "gap" in departure.visit.evidence
    assert departure.visit.evidence == "entry+stop+gap+exit"
    assert visits == {}


def test_silent_while_under_way_in_port_is_no_call() -> None:
    """The gap rule needs the vessel stopped when it fell silent."""
    fixes = [*every(0, 10, 2, [PORT], sog=6.0), Fix(300, SEA, 10.0)]
    events, _ = run(fixes)
    assert events == []


def test_an_anchorage_wait_then_the_port_is_two_calls_in_order() -> None:
    fixes = [Fix(0, SEA, 10.0), Fix(2, [ROADS], 6.0), *every(4, 120, 4, [ROADS], sog=0.1, status=AT_ANCHOR),
             *every(122, 130, 2, [ROADS], sog=5.0), *every(132, 136, 2, [PORT], sog=4.0),
             *every(138, 240, 6, [PORT], sog=0.0, status=MOORED), *every(242, 246, 2, [PORT], sog=4.0),
             Fix(248, SEA, 8.0)]
    events, visits = run(fixes)
    assert kinds(events) == [("call", "kp-rajin-roads"), ("departure", "kp-rajin-roads"),
                             ("call", "kp-rajin"), ("departure", "kp-rajin")]
    anchorage_call, anchorage_departure, port_call, port_departure = events
    assert anchorage_call.visit.kind == "anchorage" and port_call.visit.kind == "port"
    assert anchorage_call.visit.arrival == at(2) and anchorage_call.at == at(36)
    assert anchorage_departure.at == at(132)
    assert port_call.visit.arrival == at(132) and port_call.at == at(168)
    assert port_departure.at == at(248)
    assert [e.visit.evidence for e in events] == ["entry+stop+exit"] * 4
    assert visits == {}
