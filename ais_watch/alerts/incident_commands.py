"""`ais-watch incidents ...`: list, show, acknowledge, note, owner, close, reopen."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from ais_watch.alerts.incident_rules import STATES
from ais_watch.alerts.incidents import IncidentError, IncidentStore
from ais_watch.alerts.model import alert_json
from ais_watch.alerts.store import AlertStore
from ais_watch.audit import Actor
from ais_watch.cli_output import write_items
from ais_watch.config import Settings
from ais_watch.errors import AisWatchError
from ais_watch.store.db import open_database

TABLE_COLUMNS = ("id", "last_alert_at", "state", "severity", "alert_count", "title", "mmsi", "owner",
                 "last_kind")


def _mmsi(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) == 9):
        raise argparse.ArgumentTypeError(f"not an MMSI (9 digits): {text!r}")
    return int(text)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parse_time: Callable[[str], datetime]) -> None:
    found = sub.add_parser("incidents", help="incidents (alerts of one vessel that belong together): list "
                           "(default), show, ack, note, owner, close, reopen")
    found.add_argument("--state", choices=STATES)
    found.add_argument("--vessel", type=_mmsi, metavar="MMSI", help="about this vessel (own or partner)")
    found.add_argument("--since", type=parse_time, help="a latest alert at or after this time")
    found.add_argument("--until", type=parse_time, help="a first alert at or before this time")
    found.add_argument("--limit", type=int, default=None)
    found.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    actions = found.add_subparsers(dest="incidents_action", metavar="ACTION")
    show = actions.add_parser("show", help="an incident with its notes and alerts, as JSON")
    show.add_argument("id", type=int)
    for name, help_text in (("ack", "acknowledge an incident and every open alert in it"),
                            ("close", "close an incident: its alerts resolved, no later alert joins it"),
                            ("reopen", "open a closed or acknowledged incident again")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("id", type=int)
        action.add_argument("--note")
        action.add_argument("--by", default=None, help="who (default: the login name)")
    note = actions.add_parser("note", help="add a note to an incident")
    note.add_argument("id", type=int)
    note.add_argument("text")
    note.add_argument("--by", default=None, help="who (default: the login name)")
    owner = actions.add_parser("owner", help="set (or, with no NAME, clear) an incident's owner")
    owner.add_argument("id", type=int)
    owner.add_argument("name", nargs="?", default=None)
    owner.add_argument("--by", default=None, help="who (default: the login name)")


async def run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    engine = await open_database(settings["db"])
    try:
        store = IncidentStore(AlertStore(engine))
        action = getattr(args, "incidents_action", None)
        try:
            if action is None:
                found = await store.query(state=args.state, mmsi=args.vessel, since=args.since,
                                          until=args.until, limit=args.limit)
                write_items(found, args.format, TABLE_COLUMNS, out)
                return 0
            if action == "show":
                incident = await store.get(args.id)
                rows = await store.alert_rows(args.id)
                _write(out, {"incident": incident, "alerts": [alert_json(r) for r in rows]})
                return 0
            if action == "note" and not args.text.strip():
                raise IncidentError("a note needs some text")
            actor = Actor.cli(args.by)
            change: dict[str, Any] = {
                "ack": {"state": "acknowledged", "note": getattr(args, "note", None)},
                "close": {"state": "closed", "note": getattr(args, "note", None)},
                "reopen": {"state": "open", "note": getattr(args, "note", None)},
                "note": {"note": getattr(args, "text", None)},
                "owner": {"owner": getattr(args, "name", None), "set_owner": True},
            }[action]
            _write(out, await store.update(args.id, actor.name, actor=actor, **change))
            return 0
        except IncidentError as err:
            raise AisWatchError(str(err)) from err
    finally:
        await engine.dispose()


def _write(out: TextIO, item: dict[str, Any]) -> None:
    out.write(json.dumps(item, ensure_ascii=False) + "\n")
