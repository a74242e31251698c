"""Geofences (ports and zones) as GeoJSON."""

from __future__ import annotations

from aiohttp import web
from shapely.geometry import mapping

from ais_watch.api.keys import ZONES
from ais_watch.api.params import json_response


async def list_zones(request: web.Request) -> web.Response:
    features = [
        {
            "type": "Feature",
            "geometry": mapping(z.geometry),
            "properties": {
                "id": z.id,
                "name": z.name,
                "aliases": list(z.aliases),
                "country": z.country,
                "kind": z.kind,
                "wpi": z.wpi,
                "locode": z.locode,
                "ref_point": [z.ref_lon, z.ref_lat],
                "source": z.source,
            },
        }
        for z in request.app[ZONES].index
    ]
    return json_response({"type": "FeatureCollection", "features": features})
