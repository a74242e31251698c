"""The fleet board: every watched vessel at a glance, one row per watchlist entry (listed, or associated
with a watched ship through an encounter until its association expires), heard or not.

A row's state is one of, in this precedence (the first that holds):

1. `dark` {since, hours}: the dark detector holds the ship dark (a went_dark raised, no reappearance)
   and nothing of it was heard since. Where it is now is unknown: the most urgent thing on a watch floor.
2. `anomalous` {reason, since}: an open (unacknowledged) position_anomaly or identity_change of the last
   24 hours: its position or identity cannot be taken at face value until someone has looked.
3. `in_port` {port, since}: an open port call of the MMSI it was last heard on.
4. `at_sea`: heard, and none of the above.
5. `not_heard`: no position of it has ever been received.

The vessels of an entry are those the watchlist's rules make its: its IMO, its MMSI (not when the vessel
sends another valid IMO than the entry's: the MMSI has passed to another hull), and its name only for an
entry known by nothing else; a vessel two entries designate is on both rows. The row follows the one
heard last. Read in a few queries for the whole
fleet (ais_watch/store/fleet.py), never one per vessel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import Severity, iso
from ais_watch.detectors.dark import DETECTOR as DARK_DETECTOR
from ais_watch.errors import AisWatchError
from ais_watch.geo import Places
from ais_watch.model import imo_is_valid, mmsi_is_valid
from ais_watch.store.fleet import FleetData, fleet_data, watchlist_rows
from ais_watch.watchlist.entries import WatchEntry, normalise_name
from ais_watch.zones import ZoneIndex

STATES = ("dark", "anomalous", "in_port", "at_sea", "not_heard")  # precedence, most urgent first
SORTS = ("state", "name", "age", "alerts", "severity")
# The order each sort gives unless told: the most urgent, A to Z, the freshest, the most alerts.
DEFAULT_ORDER = {"state": "asc", "name": "asc", "age": "asc", "alerts": "desc", "severity": "desc"}
WATCH_KINDS = ("listed", "associated")
ANOMALY_KINDS = ("position_anomaly", "identity_change")
ANOMALY_WINDOW = timedelta(hours=24)  # an open anomaly older than this no longer colours the state
# One row flattened, for CSV and tables (`ais-watch fleet`).
FLAT_FIELDS = ("key", "name", "ais_name", "imo", "mmsi", "mmsis", "flag", "watch", "reason", "state",
               "since", "dark_hours", "port", "anomaly", "lat", "lon", "position_time", "age_seconds",
               "place", "open_alerts", "highest_severity", "last_port", "last_arrived", "last_departed")


class FleetError(AisWatchError):
    """A fleet board query that cannot be answered as asked; the message says which parameter and why."""


@dataclass(frozen=True)
class FleetQuery:
    sort: str = "state"
    order: str = "asc"
    states: frozenset[str] = frozenset()  # empty: every state
    watch: str | None = None  # listed or associated; None: both


def fleet_query(sort: str | None = None, order: str | None = None, state: str | None = None,
                watch: str | None = None) -> FleetQuery:
    """The board's query from its parameters as a person types them; FleetError names a bad one."""
    sort = sort or "state"
    if sort not in SORTS:
        raise FleetError(f"sort: one of {', '.join(SORTS)}, not {sort[:40]!r}")
    order = order or DEFAULT_ORDER[sort]
    if order not in ("asc", "desc"):
        raise FleetError(f"order: asc or desc, not {order[:40]!r}")
    states = frozenset(s.strip() for s in (state or "").split(",") if s.strip())
    if unknown := sorted(states - set(STATES)):
        raise FleetError(f"state: comma-separated, of {', '.join(STATES)}; not {unknown[0][:40]!r}")
    if watch is not None and watch not in WATCH_KINDS:
        raise FleetError(f"watch: listed or associated, not {watch[:40]!r}")
    return FleetQuery(sort, order, states, watch)


def places_of(zones: ZoneIndex) -> Places:
    """Places named from these zones' ports: in a port by its polygon, else from the nearest one."""
    return Places(zones.ports(), port_at=lambda lat, lon: next(
        (z.name for z in zones.zones_at(lat, lon) if z.is_port), None))


async def fleet_board(engine: AsyncEngine, now: datetime, places: Places, query: FleetQuery = FleetQuery(),
                      extra_entries: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The board's rows at `now`, filtered and sorted as `query` says. `extra_entries` (watchlist rows)
    are watched besides the table's: the demo's simulated ship, which is never written to it."""
    async with engine.connect() as conn:
        stored = await watchlist_rows(conn)
        # An association past its expires_at is no longer watched (nor is it through the extra entries).
        rows = [row for row in stored if row["expires_at"] is None or row["expires_at"] > now]
        keys = {row["key"] for row in stored}
        rows += [row for row in extra_entries if row["key"] not in keys]
        entries = [_watch_entry(row) for row in rows]
        name_only = [e for e in entries if e.imo is None and e.mmsi is None]
        data = await fleet_data(conn, mmsis=[e.mmsi for e in entries if e.mmsi is not None],
                                imos=[e.imo for e in entries if e.imo is not None],
                                names=_stored_names(name_only), dark_detector=DARK_DETECTOR,
                                anomaly_kinds=ANOMALY_KINDS, anomalies_since=now - ANOMALY_WINDOW)
    board = build_rows(rows, entries, data, now, places)
    return sort_rows(filter_rows(board, query), query)


def _watch_entry(row: dict[str, Any]) -> WatchEntry:
    return WatchEntry(name=row["name"], imo=row["imo"], mmsi=row["mmsi"], flag=row["flag"],
                      reason=row["reason"], source=row["source"], aliases=tuple(row["aliases"] or ()),
                      tags=tuple(row["tags"] or ()), dark_threshold=row["dark_threshold"])


def _stored_names(entries: Iterable[WatchEntry]) -> set[str]:
    """The names a vessel of these entries may be stored under: each name as the list writes it (upper
    case) and normalised ("MAIA-1" and "MAIA 1"); a vessel's own spelling is checked again after."""
    out: set[str] = set()
    for entry in entries:
        for text in (entry.name, *entry.aliases):
            if text and text.strip():
                out |= {text.strip().upper()[:64], normalise_name(text)[:64]}
    return out


# ------------------------------------------------------------------------------------------ rows
def build_rows(rows: Sequence[dict[str, Any]], entries: Sequence[WatchEntry], data: FleetData, now: datetime,
               places: Places) -> list[dict[str, Any]]:
    """One row per entry (`rows[i]` the stored form of `entries[i]`), from what the store holds."""
    members = _members(rows, entries, data.vessels)
    for found in members.values():  # the one heard last first; never heard last
        found.sort(key=lambda m: (m[0]["last_seen"] is None, -(m[0]["last_seen"] or now).timestamp()))
    leads = {key: found[0][0] for key, found in members.items()
             if found and found[0][0]["last_seen"] is not None and found[0][0]["last_lat"] is not None}
    names = dict(zip(leads, places.names([(v["last_lat"], v["last_lon"]) for v in leads.values()]),
                     strict=True))
    counts = _by_entry(rows, members, data.alert_counts)
    anomalies = _by_entry(rows, members, data.anomalies)
    open_calls: dict[int, list[dict[str, Any]]] = {}
    for c in data.open_calls:
        open_calls.setdefault(c["mmsi"], []).append(c)
    latest_calls = {c["mmsi"]: c for c in data.latest_calls}
    board = []
    for entry, row in zip(entries, rows, strict=True):
        key = row["key"]
        found = members[key]
        lead = leads.get(key)
        mmsis = [v["mmsi"] for v, _ in found]
        if entry.mmsi is not None and entry.mmsi not in mmsis:
            mmsis.append(entry.mmsi)
        ais_name = found[0][0]["name"] if found else None
        flag = found[0][0]["flag"] if found and found[0][0]["flag"] else entry.flag
        worst = max((c["highest"] for c in counts[key]), default=None)
        board.append({
            "key": key,
            "name": entry.name or ais_name or key,
            "ais_name": ais_name,
            "imo": entry.imo if entry.imo is not None else (found[0][0]["imo"] if found else None),
            "mmsi": mmsis[0] if mmsis else None,
            "mmsis": mmsis,
            "flag": flag,
            "watch": {
                "kind": "associated" if row.get("association") is not None else "listed",
                "reason": entry.reason, "source": entry.source, "tags": list(entry.tags),
                "association": row.get("association"), "expires_at": iso(row.get("expires_at")),
                "matched_by": found[0][1] if found else None,
            },
            "state": vessel_state(found, lead, data.dark, open_calls.get(lead["mmsi"], []) if lead else [],
                                  anomalies[key], now),
            "position": None if lead is None else {
                "mmsi": lead["mmsi"], "lat": lead["last_lat"], "lon": lead["last_lon"],
                "time": iso(lead["last_seen"]),
                "age_seconds": round((now - lead["last_seen"]).total_seconds()),
                "place": names[key], "sog": lead["last_sog"], "cog": lead["last_cog"],
                "heading": lead["last_heading"],
            },
            "alerts": {"open": sum(c["open"] for c in counts[key]),
                       "highest": None if worst is None else Severity(worst).label()},
            "last_port_call": _last_call([latest_calls[v["mmsi"]] for v, _ in found
                                          if v["mmsi"] in latest_calls]),
        })
    return board


def _members(rows: Sequence[dict[str, Any]], entries: Sequence[WatchEntry], vessels: Sequence[dict[str, Any]]
             ) -> dict[str, list[tuple[dict[str, Any], str]]]:
    """Each entry's vessels, and by what each is its: the watchlist index's rules (its IMO; its MMSI,
    unless the vessel sends a valid IMO other than the entry's: the MMSI has passed to another hull; its
    name for an entry known by nothing else), but for every entry a vessel is, not only the best one: two
    entries of one ship (a listed ship and its association, an IMO entry and an MMSI one) both show it."""
    by_imo: dict[int, list[str]] = {}
    by_mmsi: dict[int, list[tuple[str, int | None]]] = {}
    by_name: dict[str, list[str]] = {}
    for entry, row in zip(entries, rows, strict=True):
        imo = entry.imo if entry.imo is not None and imo_is_valid(entry.imo) else None
        if imo is not None:
            by_imo.setdefault(imo, []).append(row["key"])
        if entry.mmsi is not None and mmsi_is_valid(entry.mmsi):
            by_mmsi.setdefault(entry.mmsi, []).append((row["key"], imo))
        if imo is None and entry.mmsi is None:
            for name in entry.names():
                by_name.setdefault(name, []).append(row["key"])
    members: dict[str, list[tuple[dict[str, Any], str]]] = {row["key"]: [] for row in rows}
    for vessel in vessels:
        imo = vessel["imo"] if vessel["imo"] is not None and imo_is_valid(vessel["imo"]) else None
        matched: dict[str, str] = dict.fromkeys(by_imo.get(imo, []) if imo is not None else [], "imo")
        if vessel["mmsi_valid"]:
            for key, entry_imo in by_mmsi.get(vessel["mmsi"], []):
                if imo is None or entry_imo is None or entry_imo == imo:
                    matched.setdefault(key, "mmsi")
        if not matched:
            matched = dict.fromkeys(by_name.get(normalise_name(vessel["name"]), []), "name")
        for key, by in matched.items():
            members[key].append((vessel, by))
    return members


def _by_entry(rows: Sequence[dict[str, Any]], members: dict[str, list[tuple[dict[str, Any], str]]],
              about: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each entry's share of `about` (alerts, or alert counts, with an mmsi and an imo): those about one of
    its vessels, its own MMSI or its IMO, each once."""
    by_mmsi: dict[int, set[str]] = {}
    by_imo: dict[int, set[str]] = {}
    for row in rows:
        for vessel, _ in members[row["key"]]:
            by_mmsi.setdefault(vessel["mmsi"], set()).add(row["key"])
        if row["mmsi"] is not None:
            by_mmsi.setdefault(row["mmsi"], set()).add(row["key"])
        if row["imo"] is not None:
            by_imo.setdefault(row["imo"], set()).add(row["key"])
    out: dict[str, list[dict[str, Any]]] = {row["key"]: [] for row in rows}
    for item in about:
        for key in by_mmsi.get(item["mmsi"], set()) | by_imo.get(item["imo"], set()):
            out[key].append(item)
    return out


def vessel_state(found: Sequence[tuple[dict[str, Any], str]], lead: dict[str, Any] | None,
                 dark: dict[int, datetime], open_calls: Sequence[dict[str, Any]],
                 anomalies: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The row's state, the first of STATES that holds (see the module's docstring): `found` are the
    entry's vessels, the one heard last (`lead`) first; `open_calls` the lead's own."""
    if lead is None:
        return {"state": "not_heard"}
    last_heard = max(v["last_seen"] for v, _ in found if v["last_seen"] is not None)
    # Dark as the detector holds it, and nothing heard of the ship since on any of its MMSIs.
    silences = [dark[v["mmsi"]] for v, _ in found if v["mmsi"] in dark]
    dark_since = max((s for s in silences if s >= last_heard), default=None)
    if dark_since is not None:
        return {"state": "dark", "since": iso(dark_since),
                "hours": round((now - dark_since).total_seconds() / 3600, 2)}
    recent = [a for a in anomalies if a["kind"] in ANOMALY_KINDS and a["occurred_at"] >= now - ANOMALY_WINDOW]
    if recent:
        newest = max(recent, key=lambda a: (a["occurred_at"], a["id"]))
        details = newest["details"] or {}
        reason = details.get("reason") if newest["kind"] == "position_anomaly" else None
        return {"state": "anomalous", "reason": reason if isinstance(reason, str) else newest["kind"],
                "since": iso(newest["occurred_at"]), "alert_id": newest["id"]}
    if open_calls:
        call = max(open_calls, key=lambda c: c["arrival"])
        return {"state": "in_port", "port": call["port_name"], "port_id": call["port_id"],
                "country": call["country"], "since": iso(call["arrival"])}
    return {"state": "at_sea"}


def _last_call(calls: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest of the entry's vessels' latest calls."""
    if not calls:
        return None
    call = max(calls, key=lambda c: c["arrival"])
    return {"port": call["port_name"], "port_id": call["port_id"], "country": call["country"],
            "mmsi": call["mmsi"], "arrived": iso(call["arrival"]), "departed": iso(call["departure"])}


# --------------------------------------------------------------------------------- sort, filter
def filter_rows(rows: list[dict[str, Any]], query: FleetQuery) -> list[dict[str, Any]]:
    return [r for r in rows if (not query.states or r["state"]["state"] in query.states)
            and (query.watch is None or r["watch"]["kind"] == query.watch)]


_SEVERITY_RANK = {s.label(): int(s) for s in Severity}


def _sort_value(row: dict[str, Any], sort: str) -> Any:
    """What a row sorts by (None: it has nothing to sort by, and goes last whichever the order)."""
    state = row["state"]
    if sort == "state":  # by precedence; the longest dark first among the dark
        return (STATES.index(state["state"]), -state.get("hours", 0))
    if sort == "age":
        return None if row["position"] is None else row["position"]["age_seconds"]
    if sort == "alerts":
        return (row["alerts"]["open"], _SEVERITY_RANK.get(row["alerts"]["highest"] or "", 0))
    if sort == "severity":
        return (_SEVERITY_RANK.get(row["alerts"]["highest"] or "", 0), row["alerts"]["open"])
    return normalise_name(row["name"]) or row["name"].casefold()


def sort_rows(rows: list[dict[str, Any]], query: FleetQuery) -> list[dict[str, Any]]:
    """Sorted by `query.sort` in `query.order`, ties by name A to Z (then key); rows with no value to
    sort by (never heard, for age) last."""
    ordered = sorted(rows, key=lambda r: (normalise_name(r["name"]) or r["name"].casefold(), r["key"]))
    valued = [r for r in ordered if _sort_value(r, query.sort) is not None]
    valued.sort(key=lambda r: _sort_value(r, query.sort), reverse=query.order == "desc")  # stable
    return valued + [r for r in ordered if _sort_value(r, query.sort) is None]


# --------------------------------------------------------------------------------- for people
def state_text(state: dict[str, Any]) -> str:
    """A state in words: "dark for 7 h", "in Rajin since 2024-03-01 14:02 UTC", "anomalous: on_land"."""
    kind = state["state"]
    since = (state.get("since") or "")[:16].replace("T", " ")
    if kind == "dark":
        return f"dark for {_duration(state['hours'] * 3600)}"
    if kind == "anomalous":
        return f"anomalous: {state['reason']}"
    if kind == "in_port":
        return f"in {state['port']} since {since} UTC"
    return str(kind).replace("_", " ")


def _duration(seconds: float) -> str:
    """Whole minutes under an hour, whole hours under three days, then whole days (as the board says)."""
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    return f"{int(seconds // 3600)} h" if seconds < 72 * 3600 else f"{int(seconds // 86400)} d"


def age_text(seconds: float | None) -> str:
    """How long ago, roughly: "just now", "12 min", "3 h", "2 d"; "" for never."""
    if seconds is None:
        return ""
    return "just now" if seconds < 60 else _duration(seconds)


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row as FLAT_FIELDS, for CSV and tables."""
    state, position, call = row["state"], row["position"] or {}, row["last_port_call"] or {}
    return {
        "key": row["key"], "name": row["name"], "ais_name": row["ais_name"], "imo": row["imo"],
        "mmsi": row["mmsi"], "mmsis": ";".join(map(str, row["mmsis"])), "flag": row["flag"],
        "watch": row["watch"]["kind"], "reason": row["watch"]["reason"], "state": state["state"],
        "since": state.get("since"), "dark_hours": state.get("hours"), "port": state.get("port"),
        "anomaly": state.get("reason"), "lat": position.get("lat"), "lon": position.get("lon"),
        "position_time": position.get("time"), "age_seconds": position.get("age_seconds"),
        "place": position.get("place"), "open_alerts": row["alerts"]["open"],
        "highest_severity": row["alerts"]["highest"], "last_port": call.get("port"),
        "last_arrived": call.get("arrived"), "last_departed": call.get("departed"),
    }
