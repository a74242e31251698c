"""The detector stages, in pipeline order (enrichers, then detectors), from the settings and the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.config import Settings
from ais_watch.detectors.geofence import GeofenceStage, ZoneEnricher
from ais_watch.detectors.port_calls import PortCallRules
from ais_watch.detectors.watch import DarkStage, WatchlistEnricher
from ais_watch.pipeline import Stage
from ais_watch.watchlist.store import load_index, seed_default
from ais_watch.zones import ZoneRegistry


async def build_stages(engine: AsyncEngine, settings: Settings) -> tuple[list[Stage], dict[str, Any]]:
    """Enrichers first (watchlist), then detectors (dark). Returns the stages and the parts that
    scheduler jobs refresh (the watchlist enricher, the zone registry)."""
    await seed_default(engine)
    zones = ZoneRegistry([Path(d) for d in settings["zones.dirs"]])
    zone_enricher = ZoneEnricher(zones, exit_margin_km=settings["zones.exit_margin_km"])
    enricher = WatchlistEnricher(await load_index(engine))
    dark = DarkStage(enricher, zones.index.ports(), threshold=timedelta(hours=settings["dark.threshold"]),
                     max_speed_kn=settings["dark.max_speed_kn"],
                     min_dwell=timedelta(hours=settings["dark.min_dwell"]))
    geofence = GeofenceStage(PortCallRules(min_dwell=timedelta(minutes=settings["port_calls.min_dwell"]),
                                           stop_speed=settings["port_calls.stop_speed"]))
    return ([zone_enricher, enricher, dark, geofence],
            {"watchlist": enricher, "zones": zones, "dark": dark, "geofence": geofence})
