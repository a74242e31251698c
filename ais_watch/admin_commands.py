"""`ais-watch token ...` (create, list, revoke) and `ais-watch audit`: who may use the API, and what was
changed by whom. Token changes made here are audited with the login name and host (ais_watch/audit.py)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from ais_watch.api.tokens import ROLES, issue_token, list_tokens, parse_expiry, revoke_token
from ais_watch.audit import ACTIONS, Actor, entries
from ais_watch.cli_output import write_items
from ais_watch.config import Settings
from ais_watch.store.db import open_database

TOKEN_COLUMNS = ("id", "name", "role", "state", "created_at", "expires_at", "last_used_at", "last_used_from")
AUDIT_COLUMNS = ("at", "actor", "via", "origin", "action", "target")


def add_parsers(sub: Any, parse_time: Callable[[str], datetime]) -> None:
    token = sub.add_parser("token", help="API tokens: create, list, revoke")
    actions = token.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="print a new API token (shown once)")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--name", help="who or what holds it (shown as who acknowledged an alert and in "
                        "the audit log); unique among active tokens")
    create.add_argument("--expires", metavar="WHEN", help="90d, 12h, 30m, 2w, or a date (2027-03-01); "
                        "default: until revoked")
    listed = actions.add_parser("list", help="every token: name, role, state, created, expiry, last use; "
                                "never the secret")
    listed.add_argument("--active", action="store_true", help="only those that work now")
    listed.add_argument("--format", choices=("table", "jsonl"), default="table")
    revoke = actions.add_parser("revoke", help="revoke a token by id or name: refused at once; open live "
                                "websockets holding it are closed within seconds")
    revoke.add_argument("ref", metavar="NAME|ID")
    revoke.add_argument("--by", default=None, help="who (default: the login name)")

    audit = sub.add_parser("audit", help="the audit log: every change made through the API or the CLI, "
                           "newest first")
    audit.add_argument("--action", choices=ACTIONS)
    audit.add_argument("--actor", help="a token name or login name")
    audit.add_argument("--since", type=parse_time)
    audit.add_argument("--until", type=parse_time)
    audit.add_argument("--limit", type=int, default=1000)
    audit.add_argument("--format", choices=("table", "jsonl"), default="table")


async def run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    # Refuse a bad expiry before opening the database.
    expires_at = (parse_expiry(args.expires, datetime.now(UTC))
                  if args.command == "token" and args.token_action == "create" and args.expires else None)
    engine = await open_database(settings["db"])
    try:
        if args.command == "audit":
            rows = await entries(engine, since=args.since, until=args.until, actor=args.actor,
                                 action=args.action, limit=max(1, args.limit))
            write_items(rows, args.format, AUDIT_COLUMNS, out)
        elif args.token_action == "create":
            secret, _ = await issue_token(engine, args.role, args.name, expires_at=expires_at,
                                          actor=Actor.cli())
            out.write(secret + "\n")
        elif args.token_action == "list":
            write_items(await list_tokens(engine, include_ended=not args.active), args.format, TOKEN_COLUMNS,
                        out)
        else:
            revoked = await revoke_token(engine, args.ref, actor=Actor.cli(args.by))
            out.write(json.dumps(revoked, ensure_ascii=False) + "\n")
        return 0
    finally:
        await engine.dispose()
