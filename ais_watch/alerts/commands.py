"""`ais-watch alerts ...`: list, acknowledge, resolve, and the delivery record."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from ais_watch.alerts.model import KINDS, STATES, alert_json, iso
from ais_watch.alerts.store import AlertError, AlertStore
from ais_watch.audit import Actor
from ais_watch.cli_output import write_items
from ais_watch.config import Settings
from ais_watch.errors import AisWatchError
from ais_watch.store.db import open_database
from ais_watch.store.queries import resolve_vessel


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parse_time: Callable[[str], datetime]) -> None:
    alerts = sub.add_parser("alerts", help="alerts: list (default), ack, resolve, deliveries")
    alerts.add_argument("--kind", choices=KINDS)
    alerts.add_argument("--vessel", metavar="VESSEL", help="MMSI or IMO:1234567")
    alerts.add_argument("--since", type=parse_time)
    alerts.add_argument("--until", type=parse_time)
    alerts.add_argument("--state", choices=STATES)
    alerts.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    actions = alerts.add_subparsers(dest="alerts_action", metavar="ACTION")
    for name, help_text in (("ack", "acknowledge an alert"), ("resolve", "resolve an alert")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("id", type=int)
        action.add_argument("--note")
        action.add_argument("--by", default=None, help="who (default: the login name)")
    shown = actions.add_parser("deliveries", help="each alert's deliveries and their attempts")
    shown.add_argument("--state", dest="delivery_state", choices=("pending", "delivered", "failed"))
    shown.add_argument("--alert", type=int)


async def run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    engine = await open_database(settings["db"])
    try:
        store = AlertStore(engine)
        action = getattr(args, "alerts_action", None)
        try:
            if action in ("ack", "resolve"):
                actor = Actor.cli(args.by)
                change = store.acknowledge if action == "ack" else store.resolve
                row = await change(args.id, actor.name, args.note, actor=actor)
                out.write(json.dumps(alert_json(row), ensure_ascii=False) + "\n")
                return 0
            if action == "deliveries":
                await _print_deliveries(store, args, out)
                return 0
            mmsis, imo = await resolve_vessel(engine, args.vessel) if args.vessel else (None, None)
            rows = await store.query(kind=args.kind, mmsis=mmsis, imo=imo, since=args.since,
                                     until=args.until, state=args.state)
        except AlertError as err:
            raise AisWatchError(str(err)) from err
        write_items([alert_json(r) for r in rows], args.format, TABLE_COLUMNS, out)
        return 0
    finally:
        await engine.dispose()


TABLE_COLUMNS = ("id", "occurred_at", "kind", "severity", "state", "mmsi", "imo", "vessel_name", "place")


async def _print_deliveries(store: AlertStore, args: argparse.Namespace, out: TextIO) -> None:
    for row in await store.deliveries(alert_id=args.alert, state=args.delivery_state):
        out.write(json.dumps({
            "id": row["id"], "alert_id": row["alert_id"], "notifier": row["notifier"],
            "state": row["state"], "attempts": row["attempts"], "idempotency_key": row["idempotency_key"],
            "created_at": iso(row["created_at"]), "next_attempt_at": iso(row["next_attempt_at"]),
            "delivered_at": iso(row["delivered_at"]), "last_status": row["last_status"],
            "last_error": row["last_error"],
            "attempt_log": [{"attempt": a["attempt"], "at": iso(a["at"]), "ok": a["ok"],
                             "status": a["status"], "response": a["response"],
                             "duration_ms": a["duration_ms"]} for a in row["attempt_log"]],
        }, ensure_ascii=False) + "\n")
