"""Associated vessels (issue 14): the partner of a watched ship in an encounter, watched from then on.

Analysts did this by hand; the encounters stage does it the moment a meeting qualifies. When one side is
a listed ship matched by IMO or MMSI (not a name-only candidate, and not itself an association, so that
associations never chain) and the other side is not watched, the other becomes an association: a
watchlist entry keyed as any (its IMO, else its MMSI), named and flagged from its vessel row, with the
source "association", the tag "associated", the reason "met ANGARA (IMO 9179842) 40 nm E of Chongjin on
2023-10-02" and `association` = {met: the listed ship, encounter: start and position, alert: the listed
ship's encounter alert (its dedup key)}. It is watched from the meeting's start for `associate.days`
(`expires_at`), at once by the running enricher and from then on through the table, and its alerts are
one level lower than a listed ship's (watchlist_match.alert_severity). Met by a listed ship again while
it is watched, it is watched for longer (from the later meeting's start); a ship with an entry of its own
is never made one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ais_watch.alerts.model import iso
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.geo import Places
from ais_watch.model import imo_is_valid
from ais_watch.pipeline.stage import Services, VesselRow
from ais_watch.watchlist.entries import ASSOCIATION_SOURCE, ASSOCIATION_TAG, WatchEntry, entry_key
from ais_watch.watchlist.index import Match

AT_SEA = "at sea, "  # how Places begins a position away from ports; the reason names the place alone


def associate(enricher: WatchlistEnricher, services: Services, places: Places, *, start: datetime,
              lat: float, lon: float, vessels: Mapping[int, VesselRow | None],
              matches: Mapping[int, Match | None], alert_keys: Mapping[int, str]) -> list[WatchEntry]:
    """At a qualified encounter (the two MMSIs of `vessels` and `matches`): the associations made or
    extended, each watched by `enricher` from now on and handed to `services` to store."""
    days = enricher.associate_days
    if days <= 0:
        return []
    made = []
    first, second = vessels
    for watched, partner in ((first, second), (second, first)):
        match, vessel, other = matches[watched], vessels[watched], vessels[partner]
        if match is None or not match.strong or match.entry.is_association or vessel is None or other is None:
            continue
        known = matches[partner]
        expires = start + timedelta(days=days)
        if known is None:
            entry = association_entry(match.entry, vessel, other, start=start, lat=lat, lon=lon,
                                       place=places.name(lat, lon), alert_key=alert_keys.get(watched),
                                       expires_at=expires)
        elif known.strong and known.entry.is_association:  # met again: watched for longer
            old = known.entry.expires_at
            entry = (dataclasses.replace(known.entry, expires_at=expires)
                     if old is None or expires > old else None)
        else:
            entry = None  # listed already (or a name-only candidate of a listed ship): never overwritten
        if entry is not None:
            enricher.watch_association(entry)
            services.record_association(entry)
            made.append(entry)
    return made


def association_entry(listed: WatchEntry, vessel: VesselRow, partner: VesselRow, *, start: datetime,
                      lat: float, lon: float, place: str | None, alert_key: str | None,
                      expires_at: datetime) -> WatchEntry | None:
    """The partner (`partner`, a vessel row) of the listed ship (`listed`, heard as `vessel`) as an
    association; None when it has neither a valid IMO nor a valid MMSI to be known by."""
    imo = partner.get("imo")
    imo = imo if imo is not None and imo_is_valid(imo) else None
    mmsi = partner["mmsi"] if partner.get("mmsi_valid") else None
    if entry_key(imo, mmsi, None) is None:
        return None
    met_imo = listed.imo or vessel.get("imo")
    met = {"key": listed.key, "name": listed.name or vessel.get("name"), "imo": met_imo,
           "mmsi": vessel["mmsi"]}
    association: dict[str, Any] = {
        "met": met,
        "encounter": {"start": iso(start), "lat": round(lat, 5), "lon": round(lon, 5)},
        "alert": alert_key,
    }
    return WatchEntry(name=partner.get("name"), imo=imo, mmsi=mmsi, flag=partner.get("flag"),
                      reason=reason(met, start, lat, lon, place), source=ASSOCIATION_SOURCE,
                      tags=(ASSOCIATION_TAG,), association=association, expires_at=expires_at)


def reason(met: Mapping[str, Any], start: datetime, lat: float, lon: float, place: str | None) -> str:
    """"met ANGARA (IMO 9179842) 40 nm E of Chongjin on 2023-10-02": whom (by IMO, else MMSI), where (the
    alerts' place, else the position) and on which day (UTC) the meeting began."""
    number = f"IMO {met['imo']}" if met["imo"] else f"MMSI {met['mmsi']:09d}"
    who = f"{met['name']} ({number})" if met["name"] else number
    where = place.removeprefix(AT_SEA) if place else f"at {lat:.3f}, {lon:.3f}"
    return f"met {who} {where} on {start.astimezone(UTC):%Y-%m-%d}"
