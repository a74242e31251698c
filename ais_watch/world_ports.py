"""The world's ports, for telling a meeting in a harbour from one at sea where the service has no port
geofence: the 3,962 ports (UN/LOCODE codes, names, positions) that the `searoute` package ships
(Apache-2.0; already a dependency for the sea routes). The bundled geofences cover only the ports the
watch is about; two ships moored together in Aarhus or Gothenburg must not be an encounter either.
"""

from __future__ import annotations

import importlib.util
import json
import math
from functools import cache
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ais_watch.errors import AisWatchError

EARTH_RADIUS_KM = 6371.0088


class WorldPorts:
    """Port positions in a k-d tree on the unit sphere, where chord length orders as distance does."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray, names: list[str]) -> None:
        self.names = names
        self.tree = cKDTree(_unit(lat, lon))

    def nearest_km(self, lat: float, lon: float) -> float:
        """Great-circle kilometres to the nearest port (inf with none)."""
        chord, _ = self.tree.query(_unit(np.array([lat]), np.array([lon]))[0])
        return float(2 * EARTH_RADIUS_KM * math.asin(min(chord / 2, 1.0)))

    def within_km(self, lat: float, lon: float, km: float) -> bool:
        return self.nearest_km(lat, lon) <= km


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


@cache
def world_ports() -> WorldPorts:
    """searoute's ports.geojson, loaded once per process (a few milliseconds, under a megabyte). The
    file is found without importing the package: its import loads the whole sea-lane network (~40 MB)."""
    spec = importlib.util.find_spec("searoute")
    if spec is None or not spec.submodule_search_locations:
        raise AisWatchError("the searoute package (a dependency) is not installed: no world port list")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "ports.geojson"
    text = path.read_text(encoding="utf-8")
    features = json.loads(text)["features"]
    lon, lat = np.array([f["geometry"]["coordinates"][:2] for f in features], dtype=float).T
    return WorldPorts(lat, lon, [str(f["properties"].get("name") or "") for f in features])
