"""Port calls: a small state machine per vessel and port. Pure: no I/O.

A visit starts when the vessel is inside a port or anchorage polygon (after the zone enricher's entry /
exit hysteresis). It becomes a port call once the vessel has been stopped there (speed under
`stop_speed`, or at anchor / moored) for `min_dwell` without a break; the arrival is when it entered.
It ends when the vessel leaves the polygon. A vessel that falls silent while stopped in port and is next
seen outside it made the call too, as long as the silence plus the stop before it covers the dwell: the
evidence then says "gap". A pass-by at speed never stops, so it never becomes a call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

AT_ANCHOR, MOORED = 1, 5


@dataclass(frozen=True, slots=True)
class PortCallRules:
    min_dwell: timedelta = timedelta(minutes=30)
    stop_speed: float = 0.5  # knots


@dataclass(slots=True)
class Visit:
    port_id: str
    port_name: str
    country: str
    kind: str  # port or anchorage
    arrival: datetime  # when it entered the polygon
    last_inside: datetime
    stopped_since: datetime | None = None
    stopped_at_last_fix: bool = False
    established_at: datetime | None = None
    evidence: str = "entry"
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class PortEvent:
    kind: str  # "call" (established) or "departure"
    visit: Visit
    at: datetime


def is_stopped(sog: float | None, nav_status: int | None, rules: PortCallRules) -> bool:
    if nav_status in (AT_ANCHOR, MOORED):
        return sog is None or sog < 3.0  # a status left on while under way is not a stop
    return sog is not None and sog < rules.stop_speed


def on_position(
    visits: dict[str, Visit],
    when: datetime,
    lat: float,
    lon: float,
    sog: float | None,
    nav_status: int | None,
    ports_here: Iterable[Any],
    rules: PortCallRules,
) -> list[PortEvent]:
    """Advance this vessel's visits with one position. `ports_here`: the port and anchorage zones it is
    in now (objects with id, name, country, kind). Returns the calls established and the departures."""
    events: list[PortEvent] = []
    here = {zone.id: zone for zone in ports_here}
    stopped = is_stopped(sog, nav_status, rules)
    for port_id, visit in list(visits.items()):
        if port_id in here:
            continue
        # Left the port. A call not yet established may still be one if it was stopped when it fell
        # silent and the silence until now, with the stop before it, covers the dwell.
        if (
            visit.established_at is None
            and visit.stopped_at_last_fix
            and visit.stopped_since is not None
            and when - visit.stopped_since >= rules.min_dwell
        ):
            visit.established_at = visit.stopped_since + rules.min_dwell
            visit.evidence = "entry+stop+gap"
            events.append(PortEvent("call", visit, visit.established_at))
        if visit.established_at is not None:
            if when - visit.last_inside > rules.min_dwell and "gap" not in visit.evidence:
                visit.evidence += "+gap"
            visit.evidence += "+exit"
            events.append(PortEvent("departure", visit, when))
        del visits[port_id]
    for port_id, zone in here.items():
        found = visits.get(port_id)
        if found is None:
            visit = visits[port_id] = Visit(
                port_id, zone.name, zone.country, zone.kind, arrival=when, last_inside=when, lat=lat, lon=lon
            )
        else:
            visit = found
        if stopped:
            if visit.stopped_since is None:
                visit.stopped_since = when
        elif visit.established_at is None and not (
            visit.stopped_at_last_fix and when - visit.last_inside >= rules.min_dwell
        ):
            visit.stopped_since = None  # the dwell must be one stop, not short stops added up
        if (
            visit.established_at is None
            and visit.stopped_since is not None
            and when - visit.stopped_since >= rules.min_dwell
        ):
            visit.established_at = when
            visit.evidence = "entry+stop" if when - visit.last_inside < rules.min_dwell else "entry+stop+gap"
            visit.lat, visit.lon = lat, lon
            events.append(PortEvent("call", visit, when))
        visit.last_inside = when
        visit.stopped_at_last_fix = stopped
    return events


def duration(visit: Visit, departure: datetime) -> timedelta:
    return departure - visit.arrival
