"""The track contract, shared by `ais-watch track` and `GET /api/vessels/{mmsi}/track` so the two cannot
drift: the fields of one position, and the GeoJSON form.

Every position carries its `segment` (ais_watch.pipeline.segments) and `anomaly`: null for a believed fix
(the vessel's main segment), else why it is not believed (impossible_speed, track_conflict, on_land,
gnss_interference). Queries return the believed positions unless all segments are asked for.

In GeoJSON a map wants one line it can trust: the believed positions are a LineString (its `coordTimes`
and `segments` follow its coordinates); a marked position is a Point feature of its own with its
`anomaly` and `segment`, so it can be drawn apart from the line and never pulls it across the sea.

GeoParquet (`GeoParquetTrack`) is one row per position, for GeoPandas and QGIS.
"""

from __future__ import annotations

import json
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


# ---------------------------------------------------------------------------------------- GeoParquet
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
GEOPARQUET_VERSION = "1.1.0"
_ROW_GROUP = 65_536


class GeoParquetTrack:
    """Positions (stored rows: `mmsi` and POINT_FIELDS, `time` a datetime) as a GeoParquet file for
    GeoPandas and QGIS: one row per position with its fields as columns and a `geometry` column of WKB
    points (shapely), described by the GeoParquet `geo` metadata (encoding WKB, Point, bbox). No `crs` is
    written: GeoParquet's default is OGC:CRS84, longitude then latitude on WGS 84, which is what AIS is.

    Rows are added one at a time and kept as Arrow record batches (a few dozen bytes a position), so a long
    track streamed from the store never sits in memory as dicts; the file is written at the end, when its
    bbox is known (readers take the `geo` metadata from the schema, which is written first)."""

    def __init__(self) -> None:
        import pyarrow as pa

        self._pa = pa
        self.schema = pa.schema([
            ("mmsi", pa.int64()), ("time", pa.timestamp("us", tz="UTC")), ("lat", pa.float64()),
            ("lon", pa.float64()), ("sog", pa.float64()), ("cog", pa.float64()), ("heading", pa.int32()),
            ("nav_status", pa.int32()), ("source", pa.string()), ("segment", pa.int64()),
            ("anomaly", pa.string()), ("geometry", pa.binary()),
        ])
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names if name != "geometry"}
        self._batches: list[Any] = []
        self._bbox = [float("inf"), float("inf"), float("-inf"), float("-inf")]

    def add(self, row: dict[str, Any]) -> None:
        for name, values in self._columns.items():
            values.append(row[name])
        if len(self._columns["mmsi"]) >= _ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import numpy as np
        import shapely

        if not self._columns["mmsi"]:
            return
        lon = np.asarray(self._columns["lon"], dtype=float)
        lat = np.asarray(self._columns["lat"], dtype=float)
        wkb = shapely.to_wkb(shapely.points(lon, lat), output_dimension=2)
        box = self._bbox
        self._bbox = [min(box[0], float(lon.min())), min(box[1], float(lat.min())),
                      max(box[2], float(lon.max())), max(box[3], float(lat.max()))]
        arrays = [self._pa.array(self._columns[f.name], type=f.type) for f in self.schema
                  if f.name != "geometry"]
        arrays.append(self._pa.array(wkb, type=self._pa.binary()))
        self._batches.append(self._pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        for values in self._columns.values():
            values.clear()

    def geo_metadata(self) -> dict[str, Any]:
        column: dict[str, Any] = {"encoding": "WKB", "geometry_types": ["Point"] if self._batches else []}
        if self._batches:
            column["bbox"] = self._bbox
        return {"version": GEOPARQUET_VERSION, "primary_column": "geometry", "columns": {"geometry": column}}

    def to_bytes(self) -> bytes:
        """The whole file (Parquet, zstd-compressed) with its `geo` metadata."""
        import pyarrow.parquet as pq

        self._flush()
        table = self._pa.Table.from_batches(self._batches, schema=self.schema)
        table = table.replace_schema_metadata({"geo": json.dumps(self.geo_metadata())})
        sink = self._pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", row_group_size=_ROW_GROUP)
        return bytes(sink.getvalue().to_pybytes())
