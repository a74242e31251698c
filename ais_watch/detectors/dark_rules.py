"""Went dark / reappeared / possible dark port call, for watchlisted vessels. Pure: no I/O.

A `Silence` is what we know of one watched ship's transmissions. It is keyed by the watchlist entry,
not the MMSI, so a ship that changes MMSI but keeps broadcasting its IMO is one ship whose silence
ended when the new MMSI spoke.

- went_dark: no position for longer than the threshold, not counting time its feed was in outage;
  once per silence (the event key is the time it was last heard, so a restart cannot repeat it).
- reappeared: the first position after a silence that raised went_dark, with the gap, the distance
  between the last and first positions and the implied speed (one no ship can make is flagged).
- possible_dark_port_call: on reappearing, the watched ports the ship could have visited in the gap
  (sea distance there and back at a plausible top speed, leaving a minimum dwell), ranked.

Distances to ports are by sea, through a `SeaDistances` passed in (`ais_watch/sea_routes.py` in the
service, a stand-in in tests): the rules themselves stay pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ais_watch.alerts.model import AlertDraft, Severity, iso
from ais_watch.geo import angle_between, bearing_deg, describe_place, distance_nm

DARK_KINDS = ("went_dark", "reappeared", "possible_dark_port_call")  # the kinds these rules raise
MAX_CANDIDATES = 10  # an analyst reads the first few; beyond ten the ranking says little
IMPOSSIBLE_SPEED_KN = 40.0  # no cargo ship makes this: the positions or the identity are fake
CADENCE_DAY = timedelta(days=1)  # a ship's cadence is what it did over the last day
NOTABLE_GAP = timedelta(minutes=10)  # gaps shorter than this never raise a threshold of hours


class PortLike(Protocol):
    """What the rules read of a port (a `Zone`), read-only."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def aliases(self) -> Sequence[str]: ...
    @property
    def ref_lat(self) -> float: ...
    @property
    def ref_lon(self) -> float: ...


class SeaDistances(Protocol):
    """Sea distances in nautical miles: from a point to a port, and between two points. `basis` says
    how they were measured, for the alert details."""

    @property
    def basis(self) -> str: ...
    def to_port(self, lat: float, lon: float, port: PortLike) -> float: ...
    def between(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float: ...


@dataclass(slots=True)
class Silence:
    key: str  # the watchlist entry key (or "mmsi:..." for a weak, name-only match)
    mmsi: int
    name: str | None = None
    imo: int | None = None
    last_time: datetime | None = None
    last_lat: float | None = None
    last_lon: float | None = None
    last_sog: float | None = None
    last_cog: float | None = None
    last_source: str | None = None
    destination: str | None = None
    top_speed_seen: float = 0.0
    in_port: str | None = None  # port id it was in when last heard, if any
    alerted_for: datetime | None = None  # last_time of the silence that raised went_dark
    last_station: str | None = None  # the receiving station it was last heard through, if named
    # Its cadence: the typical gap between its reports (a moving average), and its notable gaps (at least
    # NOTABLE_GAP) over the last day, which a ship heard only on satellite passes has by the dozen.
    typical_gap: float | None = None  # seconds
    long_gaps: list[tuple[datetime, float]] = field(default_factory=list)  # (when it ended, seconds)

    def longest_gap(self, now: datetime) -> timedelta | None:
        """Its longest gap between reports that ended within the last day."""
        recent = [gap for when, gap in self.long_gaps if now - when <= CADENCE_DAY]
        return timedelta(seconds=max(recent)) if recent else None

    def heard_after(self, gap: timedelta, when: datetime, rules: DarkRules) -> None:
        """A report `gap` after the last one, outside any reported dark silence: its cadence."""
        seconds = gap.total_seconds()
        if seconds <= 0 or gap > max(rules.max_threshold, rules.threshold):
            return  # a silence that long is no cadence: it would hide the next one
        self.typical_gap = seconds if self.typical_gap is None else 0.9 * self.typical_gap + 0.1 * seconds
        if gap >= NOTABLE_GAP:
            self.long_gaps = [(w, g) for w, g in self.long_gaps if when - w <= CADENCE_DAY]
            self.long_gaps.append((when, seconds))


@dataclass(frozen=True, slots=True)
class DarkRules:
    threshold: timedelta = timedelta(hours=6)  # where reception is good
    max_speed_kn: float = 16.0  # plausible top speed of the ships watched (old Ro-Ros, general cargo)
    min_dwell: timedelta = timedelta(hours=2)
    # By kind (went_dark, reappeared, possible_dark_port_call): a kind not in it has its default. The
    # dark stage fills it from the watchlist match (watchlist_match.alert_severity).
    severity: Mapping[str, Severity] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # watchlist context copied into details
    cadence_factor: float = 2.0  # not dark before this many times its longest gap over the last day
    satellite_threshold: timedelta = timedelta(hours=12)  # last heard in an area heard only by satellite
    max_threshold: timedelta = timedelta(hours=18)  # the most cadence or area may raise the threshold


Overlap = Callable[[str | None, datetime, datetime], timedelta]
AreaReception = tuple[str, timedelta | None]  # "terrestrial" / "satellite" / "unknown", its long gap
Reception = Callable[[Silence], AreaReception]


def threshold_for(state: Silence, now: datetime, rules: DarkRules,
                  area: AreaReception) -> tuple[timedelta, dict[str, Any]]:
    """The silence after which this ship has gone dark, and how it was chosen: the threshold where
    reception is good, raised (never past `max_threshold`) by its own cadence (a ship heard only on
    satellite passes, with gaps of hours) and by the reception of the area it was last in."""
    cap = max(rules.max_threshold, rules.threshold)
    chosen, by = rules.threshold, "setting"
    longest = state.longest_gap(now)
    cadence = (min(longest * rules.cadence_factor, cap)
               if longest is not None and rules.cadence_factor else None)
    if cadence is not None and cadence > chosen:
        chosen, by = cadence, "cadence"
    kind, long_gap = area
    if kind == "satellite" and min(rules.satellite_threshold, cap) > chosen:
        chosen, by = min(rules.satellite_threshold, cap), "satellite area"
    return chosen, {
        "chosen_by": by,
        "setting_seconds": rules.threshold.total_seconds(),
        "longest_gap_last_day_seconds": longest.total_seconds() if longest is not None else None,
        "cadence_seconds": cadence.total_seconds() if cadence is not None else None,
        "area_reception": kind,
        "area_long_gap_seconds": long_gap.total_seconds() if long_gap is not None else None,
    }


def silent_for(state: Silence, now: datetime, overlap: Overlap) -> timedelta:
    """How long the ship has been silent, less the time its feed was down."""
    assert state.last_time is not None
    return now - state.last_time - overlap(state.last_source, state.last_time, now)


def on_tick(
    state: Silence, now: datetime, rules: DarkRules, overlap: Overlap, ports: Sequence[PortLike],
    reception: Reception | None = None, *, sea: SeaDistances,
) -> list[AlertDraft]:
    """went_dark once the silence (time its feed, station or area was down not counted) passes the
    threshold its reception leads us to expect (`threshold_for`; `reception` tells how the area it was
    last in is heard)."""
    if (state.last_time is None or state.alerted_for == state.last_time or state.last_lat is None
            or state.last_lon is None):
        return []
    silent = silent_for(state, now, overlap)
    if silent <= rules.threshold:
        return []  # the cheap test first: no threshold is below the plain one
    area = reception(state) if reception is not None else ("unknown", None)
    threshold, basis = threshold_for(state, now, rules, area)
    if silent <= threshold:
        return []
    state.alerted_for = state.last_time
    down = overlap(state.last_source, state.last_time, now)
    nearest = _nearest_port(state, ports, sea)
    likely = rank_candidates(state, None, None, None, rules, ports, sea=sea)[:3]
    typical = state.typical_gap or (area[1].total_seconds() if area[1] is not None else None)
    details = {
        **rules.extra,
        "last_seen": iso(state.last_time),
        "silent_seconds": (now - state.last_time).total_seconds(),
        "feed_outage_seconds": down.total_seconds(),
        "threshold_seconds": threshold.total_seconds(),
        "threshold_basis": basis,
        "typical_gap_seconds": round(typical, 1) if typical else None,
        "expected_reports": int(silent.total_seconds() // typical) if typical else None,
        "last_station": state.last_station,
        "last_sog": state.last_sog,
        "last_cog": state.last_cog,
        "destination": state.destination,
        "in_port": state.in_port,
        "nearest_port": nearest,
        "likely_ports": likely,
        "distance_basis": sea.basis,
    }
    return [
        AlertDraft(
            kind="went_dark",
            occurred_at=state.last_time + rules.threshold + down,
            event_key=iso(state.last_time) or "",
            mmsi=state.mmsi,
            imo=state.imo,
            vessel_name=state.name,
            place=state.in_port or describe_place(state.last_lat, state.last_lon, ports),
            lat=state.last_lat,
            lon=state.last_lon,
            severity=rules.severity.get("went_dark"),
            details=details,
        )
    ]


def on_position(
    state: Silence,
    mmsi: int,
    when: datetime,
    lat: float,
    lon: float,
    sog: float | None,
    cog: float | None,
    source: str,
    in_port: str | None,
    rules: DarkRules,
    ports: Sequence[PortLike],
    station: str | None = None,
    *,
    sea: SeaDistances,
) -> list[AlertDraft]:
    """A position of the watched ship: reappeared (and a possible dark port call) after a dark silence;
    otherwise the gap since its last report is its cadence."""
    if state.last_time is not None and when <= state.last_time:
        return []  # older than what we know: history, not news
    drafts: list[AlertDraft] = []
    if state.alerted_for is not None and state.alerted_for == state.last_time and state.last_lat is not None:
        drafts.extend(_reappeared(state, mmsi, when, lat, lon, cog, rules, ports, in_port, sea))
    elif state.last_time is not None:
        state.heard_after(when - state.last_time, when, rules)
    state.mmsi = mmsi
    state.last_station = station
    state.last_time, state.last_lat, state.last_lon = when, lat, lon
    state.last_sog, state.last_cog, state.last_source, state.in_port = sog, cog, source, in_port
    if sog is not None:
        state.top_speed_seen = max(state.top_speed_seen, min(sog, 30.0))
    state.alerted_for = None
    return drafts


def _reappeared(
    state: Silence,
    mmsi: int,
    when: datetime,
    lat: float,
    lon: float,
    cog: float | None,
    rules: DarkRules,
    ports: Sequence[PortLike],
    in_port: str | None,
    sea: SeaDistances,
) -> list[AlertDraft]:
    assert state.last_time is not None and state.last_lat is not None and state.last_lon is not None
    gap = when - state.last_time
    moved = distance_nm(state.last_lat, state.last_lon, lat, lon)
    hours = gap.total_seconds() / 3600
    implied = moved / hours if hours > 0 else float("inf")
    details = {
        **rules.extra,
        "last_seen": iso(state.last_time),
        "gap_seconds": gap.total_seconds(),
        "distance_nm": round(moved, 2),
        "implied_speed_kn": round(implied, 2) if hours > 0 else None,
        "implausible_speed": implied > IMPOSSIBLE_SPEED_KN,
        "previous_mmsi": state.mmsi if state.mmsi != mmsi else None,
        "last_lat": state.last_lat,
        "last_lon": state.last_lon,
    }
    drafts = [
        AlertDraft(
            kind="reappeared",
            occurred_at=when,
            event_key=iso(state.last_time) or "",
            mmsi=mmsi,
            imo=state.imo,
            vessel_name=state.name,
            # The port it came back in, else where it is at sea from the nearest port, as went_dark says.
            place=in_port or describe_place(lat, lon, ports),
            lat=lat,
            lon=lon,
            severity=rules.severity.get("reappeared"),
            details=details,
        )
    ]
    if state.in_port is not None and state.in_port == in_port:
        return drafts  # silent in a port and seen again in it: the port-call detector has that story
    candidates = rank_candidates(state, when, lat, lon, rules, ports, first_cog=cog, sea=sea)
    if candidates:
        top = candidates[0]
        drafts.append(
            AlertDraft(
                kind="possible_dark_port_call",
                occurred_at=when,
                event_key=iso(state.last_time) or "",
                mmsi=mmsi,
                imo=state.imo,
                vessel_name=state.name,
                place=top["name"],
                lat=top["lat"],
                lon=top["lon"],
                severity=rules.severity.get("possible_dark_port_call"),
                details={
                    **rules.extra,
                    "gap_seconds": gap.total_seconds(),
                    "last_seen": iso(state.last_time),
                    "candidates": candidates,
                    "distance_basis": sea.basis,
                },
            )
        )
    return drafts


def rank_candidates(
    state: Silence,
    when: datetime | None,
    lat: float | None,
    lon: float | None,
    rules: DarkRules,
    ports: Sequence[PortLike],
    first_cog: float | None = None,
    *,
    sea: SeaDistances,
) -> list[dict[str, Any]]:
    """Watched ports the ship could have called at while silent, most likely first.

    With the reappearance (`when`, `lat`, `lon`) known: ports where sailing there and on to the first
    new position, at the top speed, leaves at least the minimum dwell. Without it (an estimate when the
    ship goes dark): the ports within a day's sailing. Ranked by how far off its course the port lies
    (last course going out, first course coming back: a ship on passage keeps its heading), the extra
    distance the visit costs, the distance from where it went silent, and its reported destination,
    which outweighs the rest (but is often false, so it only ranks, never excludes). Every distance is
    by sea (`sea`): a port behind a peninsula is as far as the way round it.
    """
    assert state.last_lat is not None and state.last_lon is not None
    speed = max(rules.max_speed_kn, state.top_speed_seen * 1.15)
    direct = (sea.between(state.last_lat, state.last_lon, lat, lon)
              if lat is not None and lon is not None else 0.0)
    destination = f" {_words(state.destination)} "
    ranked: list[dict[str, Any]] = []
    for port in ports:
        there = sea.to_port(state.last_lat, state.last_lon, port)
        back = sea.to_port(lat, lon, port) if lat is not None and lon is not None else 0.0
        if not math.isfinite(there + back):
            continue  # no way there by sea
        sailing = timedelta(hours=(there + back) / speed)
        if when is not None:
            assert state.last_time is not None
            if sailing + rules.min_dwell > when - state.last_time:
                continue
        elif sailing > timedelta(hours=24):
            continue
        off_course = (
            angle_between(
                state.last_cog, bearing_deg(state.last_lat, state.last_lon, port.ref_lat, port.ref_lon)
            )
            if state.last_cog is not None and there > 1
            else 0.0
        )
        off_back = (
            angle_between(first_cog, bearing_deg(port.ref_lat, port.ref_lon, lat, lon))
            if first_cog is not None and lat is not None and lon is not None and back > 1
            else 0.0
        )
        # Whole words, 4 letters or more: 'RAJIN' or 'NAJIN PORT' name Rajin; 'NA' (not available) not.
        named = destination.strip() != "" and any(
            f" {_words(n)} " in destination
            for n in (port.name, port.id, *port.aliases)
            if len(_words(n)) >= 4
        )
        detour = max(there + back - direct, 0.0)
        score = (off_course + off_back) / 60 + detour / 200 + there / 400 - (3.0 if named else 0.0)
        ranked.append(
            {
                "id": port.id,
                "name": port.name,
                "country": port.country,
                "lat": port.ref_lat,
                "lon": port.ref_lon,
                "distance_from_last_nm": round(there, 1),
                "detour_nm": round(detour, 1),
                "min_sailing_hours": round(sailing.total_seconds() / 3600, 1),
                "off_course_deg": round(off_course),
                "off_course_back_deg": round(off_back),
                "destination_match": named,
                "score": round(score, 3),
            }
        )
    ranked.sort(key=lambda c: c["score"])
    return ranked[:MAX_CANDIDATES]


def _words(text: str | None) -> str:
    """Upper-case words only: 'Ch'ongjin', 'CHONGJIN' and 'kp-chongjin' compare by their words."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in (text or "").upper()).split())


def _nearest_port(state: Silence, ports: Sequence[PortLike], sea: SeaDistances) -> dict[str, Any] | None:
    """The nearest port by sea (across a peninsula is not near)."""
    assert state.last_lat is not None and state.last_lon is not None
    by_sea = [(sea.to_port(state.last_lat, state.last_lon, p), p) for p in ports]
    reachable = [(d, p) for d, p in by_sea if math.isfinite(d)]
    if not reachable:
        return None
    nm, best = min(reachable, key=lambda dp: dp[0])
    return {"id": best.id, "name": best.name, "country": best.country, "distance_nm": round(nm, 1)}
