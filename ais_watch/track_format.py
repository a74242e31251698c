"""The track contract, shared by `ais-watch track` and `GET /api/vessels/{mmsi}/track` so the two cannot
drift: the fields of one position, and the GeoJSON form.

Every position carries its `segment` (ais_watch.pipeline.segments) and `anomaly`: null for a believed fix
(the vessel's main segment), else why it is not believed (impossible_speed, track_conflict, on_land,
gnss_interference). Queries return the believed positions unless all segments are asked for.

In GeoJSON a map wants one line it can trust: the believed positions are a LineString (its `coordTimes`
and `segments` follow its coordinates); a marked position is a Point feature of its own with its
`anomaly` and `segment`, so it can be drawn apart from the line and never pulls it across the sea.
"""

from __future__ import annotations

from typing import Any

from ais_watch.alerts.model import iso

POINT_FIELDS = ("time", "lat", "lon", "sog", "cog", "heading", "nav_status", "source", "segment", "anomaly")


def track_point(row: dict[str, Any]) -> dict[str, Any]:
    """One stored position as the contract has it (time as ISO 8601 UTC)."""
    point = {f: row[f] for f in POINT_FIELDS}
    point["time"] = iso(row["time"])
    return point


def marked_feature(mmsi: int, point: dict[str, Any]) -> dict[str, Any]:
    """A position off the believed track (`track_point` form) as a Point feature with why."""
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [point["lon"], point["lat"]]},
            "properties": {"mmsi": mmsi, "time": point["time"], "anomaly": point["anomaly"],
                           "segment": point["segment"], "sog": point["sog"], "cog": point["cog"]}}


def split_marked(points: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(believed, marked), each in the order given."""
    return [p for p in points if p["anomaly"] is None], [p for p in points if p["anomaly"] is not None]
