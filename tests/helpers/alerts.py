"""Alerts and the outbox as the store left them: the alert objects, deliveries, and their attempts; and
the alerts' details emptied behind the detectors' backs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import alert_json
from ais_watch.alerts.store import AlertStore
from ais_watch.store.schema import alerts, deliveries, delivery_attempts
from tests.helpers.db import engine_on


async def alerts_in(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every stored alert as the JSON object notifiers and the API send, in AlertStore.query's order."""
    return [alert_json(row) for row in await AlertStore(engine).query()]


async def stored_alerts(db_url: str) -> list[dict[str, Any]]:
    async with engine_on(db_url) as engine:
        return await alerts_in(engine)


async def delivery_rows(engine: AsyncEngine, notifier: str | None = None) -> list[dict[str, Any]]:
    """The deliveries (of one notifier, or all), oldest first."""
    query = select(deliveries).order_by(deliveries.c.id)
    if notifier is not None:
        query = query.where(deliveries.c.notifier == notifier)
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def attempt_rows(engine: AsyncEngine, delivery_id: int) -> list[dict[str, Any]]:
    """One delivery's attempts, in attempt order."""
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(
            select(delivery_attempts).where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.attempt))).mappings()]


async def attempts_by_delivery(engine: AsyncEngine) -> dict[int, list[tuple[int, Any, bool, Any]]]:
    """delivery id -> its attempts as (attempt, status, ok, at), in attempt order."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(delivery_attempts).order_by(
            delivery_attempts.c.delivery_id, delivery_attempts.c.attempt))).mappings().all()
    out: dict[int, list[tuple[int, Any, bool, Any]]] = {}
    for r in rows:
        out.setdefault(r["delivery_id"], []).append((r["attempt"], r["status"], r["ok"], r["at"]))
    return out


async def empty_alert_details(db_url: str) -> None:
    """Every stored alert's details emptied, as a reworded alert text between two runs would change them:
    a detector whose restart state came back from the alerts would show it."""
    async with engine_on(db_url) as engine, engine.begin() as conn:
        await conn.execute(update(alerts).values(details={}))
