"""API tokens with roles: viewer (read), operator (acknowledge, resolve), admin (watchlist, zones, tokens).

A token is 32 random bytes, shown once when created; the store keeps only its SHA-256, so a copy of the
database does not hand out access.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.errors import AisWatchError
from ais_watch.store.schema import api_tokens

ROLES = ("viewer", "operator", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def allows(role: str, needed: str) -> bool:
    """An admin may do what an operator may, an operator what a viewer may."""
    return RANK.get(role, -1) >= RANK[needed]


async def create_token(engine: AsyncEngine, role: str, name: str | None = None) -> str:
    if role not in ROLES:
        raise AisWatchError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(insert(api_tokens).values(token_hash=token_hash(token), role=role,
                                                     name=(name or "")[:64] or None,
                                                     created_at=datetime.now(UTC)))
    return token


async def role_of(engine: AsyncEngine, token: str) -> tuple[str, str | None] | None:
    """(role, name) of a valid, unrevoked token; None for anything else."""
    if not token or len(token) > 200:
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(select(api_tokens.c.role, api_tokens.c.name).where(
            api_tokens.c.token_hash == token_hash(token), api_tokens.c.revoked_at.is_(None)))).first()
    return (row[0], row[1]) if row else None
