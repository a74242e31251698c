"""`ais-watch watchlist ...`: import a list (CSV, OFAC SDN, OpenSanctions), list it, remove an entry."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ais_watch.audit import Actor
from ais_watch.cli_output import write_items
from ais_watch.config import Settings
from ais_watch.store.db import open_database
from ais_watch.watchlist.entries import WatchlistError, canonical_key, entry_json
from ais_watch.watchlist.importers import FORMATS, ImportReport, read_watchlist
from ais_watch.watchlist.store import list_entries, remove, upsert

TABLE_FIELDS = ("key", "name", "imo", "mmsi", "flag", "tags", "source")
# `list --associations --format table`: whom each met, on which day, until when it is watched.
ASSOCIATION_TABLE_FIELDS = ("key", "name", "imo", "mmsi", "flag", "met", "met_on", "expires_at")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("watchlist", help="the watchlist: import, list, remove")
    actions = parser.add_subparsers(dest="watchlist_action", metavar="ACTION", required=True)
    imported = actions.add_parser("import", help="add or update entries from a file (never duplicates)")
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--format", dest="watchlist_format", choices=FORMATS, default="auto",
                          help="csv (name,imo,mmsi,flag,reason,source), ofac-sdn (OFAC SDN.CSV), "
                               "opensanctions (FollowTheMoney JSON lines or maritime.csv); default: auto")
    listed = actions.add_parser("list", help="every entry (associations expired by now left out)")
    listed.add_argument("--format", dest="watchlist_format", choices=("jsonl", "table"), default="jsonl")
    listed.add_argument("--associations", action="store_true",
                        help="only the associated vessels (partners of watched ships in encounters)")
    listed.add_argument("--expired", action="store_true", help="also the associations expired by now")
    removed = actions.add_parser("remove", help="delete one entry by its key")
    removed.add_argument("key", metavar="KEY", help="imo:1234567, mmsi:123456789 or name:NAME")


async def run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    action = args.watchlist_action
    # Read the file (refusing one that is not the format) and check the key before opening the database.
    entries, report = read_watchlist(args.file, args.watchlist_format) if action == "import" else ([], None)
    key = canonical_key(args.key) if action == "remove" else ""
    engine = await open_database(settings["db"])
    try:
        if report is not None:
            report.imported, report.updated = await upsert(
                engine, entries, actor=Actor.cli(),
                about={"file": str(args.file)[-120:], "format": args.watchlist_format, "read": report.read})
            print_report(report, out)
        elif action == "remove":
            if not await remove(engine, key, actor=Actor.cli()):
                raise WatchlistError(f"no watchlist entry with key {key}")
            out.write(f"removed {key}\n")
        else:
            rows = await list_entries(engine, now=None if args.expired else datetime.now(UTC),
                                      associations=args.associations)
            items = [entry_json(row) for row in rows]
            if args.associations and args.watchlist_format == "table":
                write_items([association_row(item) for item in items], "table", ASSOCIATION_TABLE_FIELDS, out)
            else:
                write_items(items, args.watchlist_format, TABLE_FIELDS, out)
        return 0
    finally:
        await engine.dispose()


def association_row(item: dict[str, Any]) -> dict[str, Any]:
    """An association's table row: the ship it met (name, else key), the day they met, its expiry day."""
    association = item["association"] or {}
    met = association.get("met") or {}
    start = (association.get("encounter") or {}).get("start") or ""
    return {**item, "met": met.get("name") or met.get("key"), "met_on": start[:10],
            "expires_at": (item["expires_at"] or "")[:10]}


def print_report(report: ImportReport, out: TextIO) -> None:
    skipped = sum(report.skipped.values())
    out.write(f"read {report.read}, imported {report.imported}, updated {report.updated}, "
              f"skipped {skipped}\n")
    for reason, count in sorted(report.skipped.items()):
        out.write(f"  skipped {count}: {reason}\n")
    for problem in report.problems:
        out.write(f"  {problem}\n")
