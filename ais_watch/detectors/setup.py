"""The detector stages, in pipeline order, built from the settings and the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.config import Settings
from ais_watch.detectors.watch import DarkStage, WatchlistEnricher
from ais_watch.pipeline import Stage
from ais_watch.watchlist import load_index, seed_default


async def build_stages(engine: AsyncEngine, settings: Settings) -> tuple[list[Stage], dict[str, Any]]:
    """Enrichers first (watchlist), then detectors (dark). Returns the stages and the parts that
    scheduler jobs refresh (the watchlist enricher, the zone registry)."""
    from ais_watch.zones import ZoneRegistry

    await seed_default(engine)
    zones = ZoneRegistry([Path(d) for d in settings["zones.dirs"]])
    enricher = WatchlistEnricher(await load_index(engine))
    dark = DarkStage(enricher, zones.index.ports(), threshold=timedelta(hours=settings["dark.threshold"]),
                     max_speed_kn=settings["dark.max_speed_kn"],
                     min_dwell=timedelta(hours=settings["dark.min_dwell"]))
    return [enricher, dark], {"watchlist": enricher, "zones": zones, "dark": dark}
