"""The audit log: every change made through the API or the CLI, who made it, by which way, from where.

A change records its entry with `record(conn, actor, ...)` inside its own transaction, so the change and
its entry commit together or not at all. The actor is the token's name on the API (or "<role> token <id>"
for an unnamed token) and the login name on the CLI (or its --by). Read with `ais-watch audit` and
`GET /api/audit` (admin). Retention never touches this table.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.model import iso
from ais_watch.store.schema import audit_log

# What gets recorded: the action names, as stored and as `--action` / `?action=` accept them.
ACTIONS = (
    "watchlist.import", "watchlist.remove",
    "alert.ack", "alert.resolve",
    "incident.update",
    "token.create", "token.revoke",
)
TARGET_MAX, DETAILS_KEYS_MAX = 128, 200


@dataclass(frozen=True)
class Actor:
    name: str
    via: str  # api, cli
    origin: str  # the client's address, or login@host

    @classmethod
    def cli(cls, by: str | None = None) -> Actor:
        """Someone at this machine's shell: named by --by when given, else by the login name."""
        login = _login()
        return cls(name=(by or login)[:64], via="cli", origin=f"{login}@{socket.gethostname()}"[:128])


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid) and no LOGNAME
        return "unknown"


async def record(conn: AsyncConnection, actor: Actor, action: str, target: str,
                 details: dict[str, Any], at: datetime) -> None:
    """One entry, in the caller's transaction. `details` says what changed (before and after where there
    is a before); lists in it are capped at DETAILS_KEYS_MAX items with the full count beside them."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    await conn.execute(insert(audit_log).values(
        at=at, actor=actor.name[:64], via=actor.via, origin=actor.origin[:128], action=action,
        target=target[:TARGET_MAX], details=details))


def capped(items: list[str]) -> dict[str, Any]:
    """A list for `details` that stays a sane size however large the import: the first items and the count."""
    return {"count": len(items), "items": items[:DETAILS_KEYS_MAX]}


async def entries(engine: AsyncEngine, *, since: datetime | None = None, until: datetime | None = None,
                  actor: str | None = None, action: str | None = None, limit: int = 1000
                  ) -> list[dict[str, Any]]:
    """Entries newest first, as JSON objects."""
    query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at <= until)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [entry_json(row) for row in rows]


def entry_json(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "at": iso(row["at"]), "actor": row["actor"], "via": row["via"],
            "origin": row["origin"], "action": row["action"], "target": row["target"],
            "details": row["details"]}
