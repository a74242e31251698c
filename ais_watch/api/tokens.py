"""API tokens with roles: viewer (read), operator (acknowledge, resolve), admin (watchlist, zones, tokens).

A token is 32 random bytes, shown once when created; the store keeps only its SHA-256, so a copy of the
database does not hand out access. A token may expire (`--expires 90d`); a revoked or expired one is
refused on the next request, and an open live websocket holding it is closed (see api/app.py). Creating
and revoking are recorded in the audit log (ais_watch/audit.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.alerts.model import iso
from ais_watch.audit import Actor, record
from ais_watch.errors import AisWatchError
from ais_watch.store.schema import api_tokens

ROLES = ("viewer", "operator", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
TOUCH_EVERY = 60.0  # seconds between writes of a token's last use: a busy dashboard is not a write load
EXPIRY_MAX = timedelta(days=3660)
_DURATION = re.compile(r"(\d{1,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TokenError(AisWatchError):
    """A token that cannot be created, found or revoked as asked; the message says why."""


@dataclass(frozen=True)
class Holder:
    """Who a valid token belongs to."""

    id: int
    role: str
    name: str | None

    @property
    def label(self) -> str:
        """How the holder is named where people read it (who acknowledged, the audit log)."""
        return self.name or f"{self.role} token {self.id}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def allows(role: str, needed: str) -> bool:
    """An admin may do what an operator may, an operator what a viewer may."""
    return RANK.get(role, -1) >= RANK[needed]


def parse_expiry(text: str, now: datetime) -> datetime:
    """'90d', '12h', '30m', '2w', or a date or time (ISO 8601, UTC when no zone is given)."""
    text = text.strip()
    match = _DURATION.fullmatch(text)
    if match:
        when = now + timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise TokenError(f"expires: {text[:40]!r} is neither a duration (90d, 12h, 30m, 2w) nor a date "
                             "(2027-03-01)") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise TokenError(f"expires: {iso(when)} is not in the future")
    if when - now > EXPIRY_MAX:
        raise TokenError("expires: at most 10 years ahead")
    return when


def _check_name(name: str | None) -> str | None:
    name = (name or "").strip() or None
    if name is None:
        return None
    if len(name) > 64:
        raise TokenError("name: at most 64 characters")
    if name.isdigit():
        raise TokenError(f"name: {name!r} is digits only and would read as a token id")
    return name


def _active(now: datetime) -> Any:
    return and_(api_tokens.c.revoked_at.is_(None),
                or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now))


async def create_token(engine: AsyncEngine, role: str, name: str | None = None, *,
                       expires_at: datetime | None = None, actor: Actor | None = None,
                       replace: bool = False) -> str:
    """A new token's secret (shown once); see issue_token."""
    secret, _ = await issue_token(engine, role, name, expires_at=expires_at, actor=actor, replace=replace)
    return secret


async def issue_token(engine: AsyncEngine, role: str, name: str | None = None, *,
                      expires_at: datetime | None = None, actor: Actor | None = None,
                      replace: bool = False) -> tuple[str, dict[str, Any]]:
    """A new token: its secret and the token as listed. A name names one active token only: it is who
    acknowledged an alert and who changed the watchlist in the audit log, so two live tokens must not
    share it. `replace` revokes the active one of that name instead of refusing (the demo's sign-in
    token, made afresh at every start)."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    name = _check_name(name)
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        if name is not None and replace:
            await conn.execute(update(api_tokens).where(api_tokens.c.name == name, _active(now))
                               .values(revoked_at=now))
        if name is not None and await conn.scalar(
                select(func.count()).select_from(api_tokens).where(api_tokens.c.name == name, _active(now))):
            raise TokenError(f"an active token is already named {name!r}; revoke it first or choose another "
                             "name")
        token_id = (await conn.execute(insert(api_tokens).values(
            token_hash=token_hash(token), role=role, name=name, created_at=now, expires_at=expires_at,
        ).returning(api_tokens.c.id))).scalar_one()
        if actor is not None:
            await record(conn, actor, "token.create", f"token {token_id}",
                         {"id": token_id, "name": name, "role": role, "expires_at": iso(expires_at)}, now)
        row = (await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id))).mappings().one()
    return token, token_json(row, now)


async def list_tokens(engine: AsyncEngine, *, include_ended: bool = True) -> list[dict[str, Any]]:
    """Every token without its secret (only its hash is stored; not even that is shown), oldest first."""
    now = datetime.now(UTC)
    query = select(api_tokens).order_by(api_tokens.c.id)
    if not include_ended:
        query = query.where(_active(now))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [token_json(row, now) for row in rows]


def token_json(row: Any, now: datetime) -> dict[str, Any]:
    state = ("revoked" if row["revoked_at"] is not None
             else "expired" if row["expires_at"] is not None and row["expires_at"] <= now else "active")
    return {"id": row["id"], "name": row["name"], "role": row["role"], "state": state,
            "created_at": iso(row["created_at"]), "expires_at": iso(row["expires_at"]),
            "last_used_at": iso(row["last_used_at"]), "last_used_from": row["last_used_from"],
            "revoked_at": iso(row["revoked_at"])}


async def revoke_token(engine: AsyncEngine, ref: str, actor: Actor | None = None) -> dict[str, Any]:
    """Revoke by id (digits) or by name (the active token of that name). Returns the token as listed."""
    ref = ref.strip()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        row = await _find(conn, ref, now)
        if row["revoked_at"] is not None:
            raise TokenError(f"token {row['id']} ({row['name'] or 'unnamed'}) was already revoked at "
                             f"{iso(row['revoked_at'])}")
        await conn.execute(update(api_tokens).where(api_tokens.c.id == row["id"]).values(revoked_at=now))
        if actor is not None:
            await record(conn, actor, "token.revoke", f"token {row['id']}",
                         {"id": row["id"], "name": row["name"], "role": row["role"]}, now)
        revoked = (await conn.execute(select(api_tokens).where(api_tokens.c.id == row["id"]))
                   ).mappings().one()
    return token_json(revoked, now)


async def _find(conn: AsyncConnection, ref: str, now: datetime) -> Any:
    if ref.isdigit() and len(ref) <= 18:
        row = (await conn.execute(select(api_tokens).where(api_tokens.c.id == int(ref)))).mappings().first()
        if row is None:
            raise TokenError(f"no token with id {ref}")
        return row
    rows = (await conn.execute(select(api_tokens).where(api_tokens.c.name == ref)
                               .order_by(api_tokens.c.id))).mappings().all()
    if not rows:
        raise TokenError(f"no token named {ref[:64]!r}")
    active = [r for r in rows if token_json(r, now)["state"] == "active"]
    if len(active) > 1:  # names were not unique before tokens could be revoked
        raise TokenError(f"{len(active)} active tokens are named {ref[:64]!r}; revoke one by id: "
                         + ", ".join(str(r["id"]) for r in active))
    return active[0] if active else rows[-1]


class TokenAuth:
    """Who a presented token belongs to, for the security middleware; notes its last use."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._touched: dict[int, float] = {}  # token id -> monotonic time of the last write of its use

    async def holder(self, token: str, origin: str = "") -> Holder | None:
        """The holder of a valid token (known, not revoked, not expired); None for anything else."""
        if not token or len(token) > 200:
            return None
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(api_tokens.c.id, api_tokens.c.role, api_tokens.c.name).where(
                api_tokens.c.token_hash == token_hash(token), _active(now)))).first()
        if row is None:
            return None
        holder = Holder(row[0], row[1], row[2])
        if time.monotonic() - self._touched.get(holder.id, -TOUCH_EVERY) >= TOUCH_EVERY:
            self._touched[holder.id] = time.monotonic()
            async with self.engine.begin() as conn:
                await conn.execute(update(api_tokens).where(api_tokens.c.id == holder.id)
                                   .values(last_used_at=now, last_used_from=origin[:64] or None))
        return holder

    async def still_valid(self, ids: set[int]) -> set[int]:
        """Those of these token ids that are neither revoked nor expired now."""
        if not ids:
            return set()
        async with self.engine.connect() as conn:
            return set((await conn.scalars(select(api_tokens.c.id).where(
                api_tokens.c.id.in_(sorted(ids)), _active(datetime.now(UTC))))).all())
