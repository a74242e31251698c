"""The watchlist: list it, import a watchlist file into it, remove an entry. A change is used by this
instance's detectors and map at once (service.watch_from_now)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from aiohttp import web

from ais_watch.api import service
from ais_watch.api.keys import ACTOR, ENGINE
from ais_watch.api.params import BadRequest, json_response, query_flag
from ais_watch.errors import AisWatchError
from ais_watch.watchlist.entries import entry_json
from ais_watch.watchlist.importers import FORMATS as IMPORT_FORMATS
from ais_watch.watchlist.importers import read_watchlist
from ais_watch.watchlist.store import list_entries, remove, upsert


async def list_watchlist(request: web.Request) -> web.Response:
    """Every entry, associations expired by the service's time left out unless `expired`; only the
    associations with `associations`."""
    now = None if query_flag(request, "expired") else service.now(request)
    rows = await list_entries(request.app[ENGINE], now=now, associations=query_flag(request, "associations"))
    return json_response({"entries": [entry_json(e) for e in rows]})


async def import_watchlist(request: web.Request) -> web.Response:
    """The body is a watchlist file (CSV, OFAC SDN.CSV or OpenSanctions), read by the CLI's importers.
    One entry is a one-row CSV: name,imo,mmsi,flag,reason,source."""
    fmt = request.query.get("format", "auto")
    if fmt not in IMPORT_FORMATS:
        raise BadRequest(f"format: one of {', '.join(IMPORT_FORMATS)}")
    body = await request.read()
    if not body.strip():
        raise BadRequest("an empty body: send a watchlist file")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(body)
        try:
            entries, report = await asyncio.to_thread(read_watchlist, path, fmt)
        except AisWatchError as err:
            raise BadRequest(str(err).replace(str(path), "the upload")) from err
    report.imported, report.updated = await upsert(
        request.app[ENGINE], entries, actor=request[ACTOR],
        about={"file": "upload", "format": fmt, "bytes": len(body), "read": report.read})
    await service.watch_from_now(request)
    return json_response({"read": report.read, "imported": report.imported, "updated": report.updated,
                          "skipped": report.skipped, "problems": report.problems})


async def delete_watchlist_entry(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    try:
        found = await remove(request.app[ENGINE], key, actor=request[ACTOR])
    except AisWatchError as err:
        raise BadRequest(str(err)) from err
    if not found:
        return json_response({"error": f"no watchlist entry {key!r}"}, status=404)
    await service.watch_from_now(request)
    return json_response({"removed": key})
