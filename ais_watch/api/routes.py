"""The route table: every route of the API, declared here once with the role it needs and its OpenAPI
description. The server is built from this table (app.py), the security middleware reads roles from it
(security.py) and /api/openapi.json is generated from it (openapi.py): a test checks every served route
against that document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ais_watch.api.handlers.alerts import ack_alert, get_alert, list_alerts, resolve_alert
from ais_watch.api.handlers.audit import get_audit
from ais_watch.api.handlers.basemap import basemap_tile
from ais_watch.api.handlers.dashboard import dashboard_config
from ais_watch.api.handlers.encounters import list_encounters
from ais_watch.api.handlers.fleet import fleet
from ais_watch.api.handlers.health import healthz, metrics, readyz
from ais_watch.api.handlers.incidents import (
    ack_incident,
    add_incident_note,
    get_incident,
    list_incidents,
    update_incident,
)
from ais_watch.api.handlers.live import live
from ais_watch.api.handlers.port_calls import list_port_calls
from ais_watch.api.handlers.reception import list_reception
from ais_watch.api.handlers.tokens import delete_token, get_tokens, post_token
from ais_watch.api.handlers.vessels import (
    count_vessels,
    get_vessel,
    map_vessels,
    search_vessels,
    vessel_identity,
    vessel_track,
    vessels_in_zone,
)
from ais_watch.api.handlers.watchlist import delete_watchlist_entry, import_watchlist, list_watchlist
from ais_watch.api.handlers.zones import list_zones
from ais_watch.api.openapi import openapi_document
from ais_watch.api.params import json_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: str | None  # None: no token needed
    summary: str
    params: tuple[tuple[str, str, str], ...] = ()  # (name, in, description)
    body: dict[str, Any] = field(default_factory=dict)


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(ROUTES))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", healthz, None, "The process is up."),
    Route("GET", "/readyz", readyz, None, "The database is reachable."),
    Route("GET", "/metrics", metrics, None,
          "Prometheus metrics: ingest, rejects, alerts, deliveries, lag, stations and areas in outage."),
    Route("GET", "/api/openapi.json", openapi, "viewer", "This document."),
    Route("GET", "/basemap/{z}/{x}/{y}.json", basemap_tile, None,
          "The offline basemap: one web-mercator tile of Natural Earth land (the coast is its outline), "
          "country borders and names, as GeoJSON (a FeatureCollection of layer land, borders and label "
          "features), simplified to half a pixel at its zoom. No token: it holds no data of the service. "
          "Cacheable (Cache-Control, ETag); 400 for a zoom past 10 or x, y outside 0 to 2^z - 1.",
          (("z", "path", "zoom, 0-10"), ("x", "path", "column, 0 to 2^z - 1, east from 180°W"),
           ("y", "path", "row, 0 to 2^z - 1, south from 85.05°N"))),
    Route("GET", "/api/stats", count_vessels, "viewer", "Counts of what the store holds."),
    Route("GET", "/api/config", dashboard_config, "viewer",
          "What the dashboard needs: tiles, alert kinds, the service's time and whether the demo runs."),
    Route(
        "GET",
        "/api/map",
        map_vessels,
        "viewer",
        "The latest position of every vessel heard recently, watchlisted ones flagged.",
        (("hours", "query", "1-720, default 24"), ("limit", "query", "1-20000, default 5000")),
    ),
    Route(
        "GET",
        "/api/vessels",
        search_vessels,
        "viewer",
        "Vessels by name, MMSI or IMO, latest first.",
        (("q", "query", "name part, MMSI or IMO"), ("limit", "query", "1-1000, default 50")),
    ),
    Route(
        "GET",
        "/api/vessels/{mmsi}",
        get_vessel,
        "viewer",
        "A vessel: latest static data and position, identity history, watchlist entries.",
        (("mmsi", "path", "9 digits"),),
    ),
    Route(
        "GET",
        "/api/vessels/{mmsi}/track",
        vessel_track,
        "viewer",
        "A vessel's positions over a time range, oldest first, paged by cursor: the believed ones (its "
        "main segment) unless all_segments; each with its segment and anomaly.",
        (
            ("mmsi", "path", "9 digits"),
            ("since", "query", "ISO 8601"),
            ("until", "query", "ISO 8601"),
            ("format", "query", "json, geojson, csv or parquet (GeoParquet, one row per position; csv and "
             "parquet give the next page's cursor in the X-Next-Cursor header)"),
            ("limit", "query", "1-50000, default 5000"),
            ("cursor", "query", "next_cursor of the previous page"),
            ("every", "query", "keep one point per this many seconds (default: all; 600 past 30 days)"),
            ("all_segments", "query", "true: also the positions off the believed track, each with its "
             "anomaly (default false: the main segment only)"),
        ),
    ),
    Route(
        "GET",
        "/api/vessels/{mmsi}/identity",
        vessel_identity,
        "viewer",
        "A vessel's identity now (name, call sign, IMO, ship type, flag, ...), its identity history newest "
        "first, and every other MMSI that has broadcast the same IMO, each with its name, flag, first and "
        "last seen and its own history. 404 for an MMSI never stored.",
        (("mmsi", "path", "9 digits"),),
    ),
    Route(
        "GET",
        "/api/alerts",
        list_alerts,
        "viewer",
        "Alerts, newest first.",
        (
            ("kind", "query", "alert kind"),
            ("state", "query", "open, acknowledged or resolved"),
            ("vessel", "query", "MMSI or IMO:1234567"),
            ("since", "query", "ISO 8601"),
            ("until", "query", "ISO 8601"),
            ("limit", "query", "1-10000, default 100"),
        ),
    ),
    Route(
        "GET",
        "/api/alerts/{id}",
        get_alert,
        "viewer",
        "One alert, who acknowledged or resolved it (with notes), and its deliveries and attempts.",
        (("id", "path", "alert id"),),
    ),
    Route(
        "POST",
        "/api/alerts/{id}/ack",
        ack_alert,
        "operator",
        "Acknowledge an alert, with a note.",
        (("id", "path", "alert id"),),
        {"note": "string"},
    ),
    Route(
        "POST",
        "/api/alerts/{id}/resolve",
        resolve_alert,
        "operator",
        "Resolve an alert, with a note.",
        (("id", "path", "alert id"),),
        {"note": "string"},
    ),
    Route(
        "GET",
        "/api/incidents",
        list_incidents,
        "viewer",
        "Incidents (alerts of one vessel that belong together: a voyage, an encounter and its partner's "
        "later moves), newest first by their latest alert, each with its state, owner, notes and partners.",
        (
            ("state", "query", "open, acknowledged or closed"),
            ("mmsi", "query", "9 digits: incidents about this vessel (as its own or an encounter partner)"),
            ("since", "query", "ISO 8601: a latest alert at or after it"),
            ("until", "query", "ISO 8601: a first alert at or before it"),
            ("ids", "query", "comma-separated incident ids (at most 500)"),
            ("limit", "query", "1-1000, default 100"),
        ),
    ),
    Route(
        "GET",
        "/api/incidents/{id}",
        get_incident,
        "viewer",
        "One incident with its notes, and its alerts (the alert objects), oldest first.",
        (("id", "path", "incident id"),),
    ),
    Route(
        "POST",
        "/api/incidents/{id}/ack",
        ack_incident,
        "operator",
        "Acknowledge an incident and every open alert in it, with a note (kept on the incident and on each "
        "alert).",
        (("id", "path", "incident id"),),
        {"note": "string"},
    ),
    Route(
        "POST",
        "/api/incidents/{id}/notes",
        add_incident_note,
        "operator",
        "Add a note to an incident (recorded under the token's name).",
        (("id", "path", "incident id"),),
        {"text": "string"},
    ),
    Route(
        "PATCH",
        "/api/incidents/{id}",
        update_incident,
        "operator",
        "Change an incident: owner (a name, or null to clear), state (acknowledged acknowledges its open "
        "alerts; closed resolves its alerts and no later alert joins it; open again), and a note.",
        (("id", "path", "incident id"),),
        {"owner": "string", "state": "string", "note": "string"},
    ),
    Route(
        "GET",
        "/api/port-calls",
        list_port_calls,
        "viewer",
        "Port calls, oldest arrival first.",
        (
            ("vessel", "query", "MMSI or IMO:1234567"),
            ("port", "query", "port id, name or alias"),
            ("since", "query", "ISO 8601"),
            ("until", "query", "ISO 8601"),
            ("limit", "query", "1-10000"),
        ),
    ),
    Route(
        "GET",
        "/api/encounters",
        list_encounters,
        "viewer",
        "Encounters (two vessels close, slow and away from ports for long enough), watched or not, oldest "
        "start first: the pair with both names, IMOs and flags, start, end (null while together), duration, "
        "minimum and median distance, median implied speed, meeting point, distance from shore and the "
        "nearest port. since/until select those overlapping the window.",
        (
            ("vessel", "query", "MMSI or IMO:1234567 (either side of the pair)"),
            ("since", "query", "ISO 8601"),
            ("until", "query", "ISO 8601"),
            ("limit", "query", "1-10000, default 500"),
        ),
    ),
    Route(
        "GET",
        "/api/fleet",
        fleet,
        "viewer",
        "The fleet board: one object per watchlist entry (listed, and associated until its association "
        "expires), heard or not: key, name, IMO, MMSIs, flag, why it is watched, its state (dark {since, "
        "hours}, anomalous {reason, since}, in_port {port, since}, at_sea or not_heard: the first that "
        "holds, in that order), last position with its age and place, open alerts (count, highest "
        "severity) and last port call.",
        (
            ("sort", "query", "state (default: the most urgent first), name, age (freshest first), alerts "
             "or severity (most first)"),
            ("order", "query", "asc or desc (default: the sort's own)"),
            ("state", "query", "only these states, comma-separated: dark, anomalous, in_port, at_sea, "
             "not_heard"),
            ("watch", "query", "listed or associated"),
        ),
    ),
    Route(
        "GET",
        "/api/reception",
        list_reception,
        "viewer",
        "The receiving stations (feeds naming one) and grid-cell areas (feeds naming none) this service "
        "judges, those in outage first: state (ok or outage) and since when, last message, usual messages "
        "per hour, the bounds [south, west, north, east] of the positions heard through it, vessels last "
        "heard there, and for areas whether they are heard terrestrially or only by satellite (with the "
        "upper-quartile gap between one vessel's reports). 404 when no pipeline runs in this process or "
        "reception.enabled is off.",
        (
            ("state", "query", "ok or outage"),
            ("kind", "query", "stations or areas (the other list is left out)"),
            ("source", "query", "a source's name"),
            ("bbox", "query", "west,south,east,north in degrees: only those whose bounds meet it "
             "(west > east crosses the antimeridian)"),
        ),
    ),
    Route("GET", "/api/zones", list_zones, "viewer", "Every geofence, as GeoJSON."),
    Route("GET", "/api/watchlist", list_watchlist, "viewer",
          "The watchlist: imported entries and associated vessels (the partners of watched ships in "
          "encounters, with `association` and `expires_at`), associations expired by now left out.",
          (("associations", "query", "true: only the associated vessels"),
           ("expired", "query", "true: the associations expired by now too"))),
    Route("POST", "/api/watchlist", import_watchlist, "admin",
          "Add or update entries: the body is a watchlist file (CSV name,imo,mmsi,flag,reason,source; OFAC "
          "SDN.CSV; OpenSanctions), re-importing updates, never duplicates.",
          (("format", "query", "csv, ofac-sdn, opensanctions or auto"),)),
    Route("DELETE", "/api/watchlist/{key}", delete_watchlist_entry, "admin", "Remove an entry.",
          (("key", "path", "imo:1234567, mmsi:123456789 or name:NAME"),)),
    Route("GET", "/api/tokens", get_tokens, "admin",
          "Every API token: id, name, role, state (active, revoked, expired), created, expires, last used "
          "and from where, revoked; never the secret.",
          (("active", "query", "true: only the tokens that work now"),)),
    Route("POST", "/api/tokens", post_token, "admin",
          "Create a token: role (viewer, operator or admin), name (who holds it; unique among active "
          "tokens), expires (optional: 90d, 12h, 30m, 2w or an ISO 8601 date); 201 with the secret in "
          "`token`, shown this once.",
          body={"role": "string", "name": "string", "expires": "string"}),
    Route("DELETE", "/api/tokens/{ref}", delete_token, "admin",
          "Revoke a token by id or name: refused at once on every request, and this instance's live "
          "websockets holding it are closed (code 1008).",
          (("ref", "path", "the token's id, or the name of an active token"),)),
    Route("GET", "/api/audit", get_audit, "admin",
          "The audit log, newest first: every change made through the API or the CLI (watchlist import and "
          "remove, alert ack and resolve, incident changes, token create and revoke) with who, via (api, "
          "cli), from where (client address, or login@host), the action, its target and details.",
          (("action", "query", "one action, e.g. watchlist.import, alert.ack, token.revoke"),
           ("actor", "query", "a token name or login name"),
           ("since", "query", "ISO 8601"), ("until", "query", "ISO 8601"),
           ("limit", "query", "1-10000, default 100"))),
    Route("GET", "/api/zones/{zone}/vessels", vessels_in_zone, "viewer",
          "Vessels with a position inside a zone during a time window.",
          (("zone", "path", "zone id, name or alias"), ("since", "query", "ISO 8601"),
           ("until", "query", "ISO 8601"))),
    Route(
        "GET",
        "/api/live",
        live,
        "viewer",
        "Websocket: new and changed alerts, positions of watchlisted vessels, and every vessel in the "
        'viewport the client sends as {"viewport": [south, west, north, east]}. Browsers, which cannot '
        "set headers on a websocket, pass the token as ?token=.",
        (("token", "query", "API token"),),
    ),
)
