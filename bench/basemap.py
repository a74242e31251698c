"""The offline basemap: what it costs to build, how fast its tiles come at every zoom, and what the
dashboard downloads for its first view.

1. Build, in a child process of its own (so its memory is its own): Natural Earth loaded, then the
   basemap built (land merged, projected, simplified for its levels, borders found); seconds, resident
   memory before, at the peak and after (glibc handed back what the build freed, as `serve` does).
2. Tiles over HTTP: the service's app (routes, security middleware, cache, gzip) on 127.0.0.1, asked
   one request at a time by an aiohttp client, for every zoom the service serves (0-10; the dashboard
   draws 11-18 from the zoom-10 tiles, so they cost no request). At each zoom the tiles over the watched
   area (the Sea of Japan box, 33-46 N, 119-142 E) and as many elsewhere, picked with a fixed seed;
   `cold` is each tile's first request (cut then), `warm` the same again (from the cache). Beside them in
   the same run: a static file of the zoom's median tile size served by the same app (the floor of
   answering at all), and the shapely clip alone of each tile's land (the floor of cutting one).
3. The first view: the dashboard's files (HTML, CSS, JS, Leaflet) and the basemap tiles of its opening
   view (centre 42.5 N 131.5 E, zoom 6) for a 1280x800 window (the map 860x764) and a 1920x1080 one
   (1500x1044), in bytes on the wire (tiles gzipped as a browser gets them), cold; and the same view's
   tiles asked all at once, as the browser does, timed to the last.

The machine is shared and noisy: compare the ratios to the baselines, not the absolutes.

    python bench/basemap.py [--tiles 40] [--seed 15] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gzip
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WATCHED = (33.0, 46.0, 119.0, 142.0)  # south, north, west, east: the Sea of Japan box
VIEW = (42.5, 131.5, 6)  # the dashboard's opening view (app.js)
WINDOWS = {"1280x800": (860, 764), "1920x1080": (1500, 1044)}  # the map's size in each


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build_figures() -> dict[str, float]:
    """In a fresh process: land, then the basemap; time and memory."""
    before = rss_mib()
    started = time.perf_counter()
    from ais_watch.land import shared_land

    shared_land()
    land_s, with_land = time.perf_counter() - started, rss_mib()
    started = time.perf_counter()
    from ais_watch.basemap import shared_basemap

    basemap = shared_basemap()
    build_s, built = time.perf_counter() - started, rss_mib()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc_trim(0)
    return {"land_s": land_s, "build_s": build_s, "rss_start_mib": before, "rss_land_mib": with_land,
            "rss_built_mib": built, "rss_kept_mib": rss_mib(),
            "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "vertices": basemap.vertices}


def tile_of(lat: float, lon: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = (lon + 180.0) / 360.0
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0
    return min(n - 1, int(x * n)), min(n - 1, max(0, int(y * n)))


def tiles_for(z: int, count: int, rng: random.Random) -> dict[str, list[tuple[int, int, int]]]:
    """Up to `count` tiles over the watched box and `count` elsewhere (anywhere else in the world)."""
    south, north, west, east = WATCHED
    x0, y0 = tile_of(north, west, z)
    x1, y1 = tile_of(south, east, z)
    watched = [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    n = 2 ** z
    others = [(z, x, y) for x in range(n) for y in range(n) if not (x0 <= x <= x1 and y0 <= y <= y1)] \
        if n <= 64 else None
    if others is None:  # too many to list: draw them
        others_set: set[tuple[int, int, int]] = set()
        while len(others_set) < count:
            x, y = rng.randrange(n), rng.randrange(n)
            if not (x0 <= x <= x1 and y0 <= y <= y1):
                others_set.add((z, x, y))
        others = sorted(others_set)
    pick = {"watched": watched, "elsewhere": others}
    return {k: rng.sample(v, min(count, len(v))) for k, v in pick.items()}


def view_tiles(lat: float, lon: float, z: int, width: int, height: int) -> list[tuple[int, int, int]]:
    """The tiles Leaflet asks for a map of width x height centred there (its pixel bounds, floored)."""
    n = 2 ** z
    cx = (lon + 180.0) / 360.0 * 256 * n
    cy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * 256 * n
    xs = range(math.floor((cx - width / 2) / 256), math.floor((cx + width / 2) / 256) + 1)
    top, bottom = math.floor((cy - height / 2) / 256), math.floor((cy + height / 2) / 256)
    ys = range(max(0, top), min(n - 1, bottom) + 1)
    return [(z, x % n, y) for x in xs for y in ys]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def clip_ms(tile: tuple[int, int, int]) -> float:
    """The shapely clip of the tile's land alone, from the level it is cut from."""
    import shapely

    from ais_watch.basemap import BUFFER_PX, pixel, shared_basemap

    z, x, y = tile
    level = shared_basemap().level_for(z)
    size, buffer = 1.0 / 2 ** z, BUFFER_PX * pixel(z)
    box = (x * size - buffer, y * size - buffer, (x + 1) * size + buffer, (y + 1) * size + buffer)
    started = time.perf_counter()
    hits = level.land_tree.query(shapely.box(*box))
    shapely.clip_by_rect(level.land[hits], *box)
    return (time.perf_counter() - started) * 1000


async def timed_get(session: Any, url: str) -> tuple[float, int, int]:
    """(ms, bytes on the wire, bytes unpacked)."""
    started = time.perf_counter()
    async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
        body = await response.read()
        assert response.status == 200, (url, response.status)
        gzipped = response.headers.get("Content-Encoding") == "gzip"
    return (time.perf_counter() - started) * 1000, len(body), len(gzip.decompress(body) if gzipped else body)


async def http_figures(count: int, seed: int) -> dict[str, Any]:
    import aiohttp
    from aiohttp import web

    from ais_watch.api.app import create_app
    from ais_watch.api.handlers import basemap as handler
    from ais_watch.basemap import MAX_ZOOM, prepare
    from ais_watch.zones import ZoneRegistry

    await asyncio.to_thread(prepare)  # built before timing: the build has figures of its own
    rng = random.Random(seed)
    static_dir = Path(tempfile.mkdtemp(prefix="basemap-bench-"))
    app = create_app(None, ZoneRegistry([]))  # type: ignore[arg-type]  # no data route is asked
    app.router.add_static("/bench-static/", static_dir)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    zooms: list[dict[str, Any]] = []
    first_view: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            handler.TILES.clear()
            for z in range(MAX_ZOOM + 1):
                picked = tiles_for(z, count, rng)
                tiles = [t for group in picked.values() for t in group]
                urls = [f"{base}/basemap/{tz}/{tx}/{ty}.json" for tz, tx, ty in tiles]
                cold, wire, raw = [], [], []
                watched = set(picked["watched"])
                for url in urls:
                    ms, on_wire, unpacked = await timed_get(session, url)
                    cold.append(ms)
                    wire.append(on_wire)
                    raw.append(unpacked)
                warm = [(await timed_get(session, url))[0] for url in urls]
                median = int(statistics.median(wire))
                (static_dir / f"z{z}.bin").write_bytes(rng.randbytes(median))
                static = [(await timed_get(session, f"{base}/bench-static/z{z}.bin"))[0] for _ in tiles]
                clips = [clip_ms(tile) for tile in tiles]
                zooms.append({
                    "z": z, "tiles": len(tiles), "watched": len(picked["watched"]),
                    "cold_p50": percentile(cold, 50), "cold_p95": percentile(cold, 95),
                    "warm_p50": percentile(warm, 50), "warm_p95": percentile(warm, 95),
                    "static_p50": percentile(static, 50), "static_p95": percentile(static, 95),
                    "clip_p50": percentile(clips, 50), "clip_p95": percentile(clips, 95),
                    "gzip_mean": statistics.mean(wire), "gzip_max": max(wire),
                    "gzip_watched_mean": statistics.mean(w for w, t in zip(wire, tiles, strict=True)
                                                         if t in watched),
                    "raw_mean": statistics.mean(raw), "raw_max": max(raw),
                })
                print(f"  zoom {z}: {len(tiles)} tiles done", file=sys.stderr)

            # The first view: files, then the opening view's tiles (cold, all at once).
            files = ["/dashboard/", "/dashboard/style.css", "/dashboard/leaflet/leaflet.css",
                     "/dashboard/leaflet/leaflet.js", "/dashboard/encounters.js", "/dashboard/basemap.js",
                     "/dashboard/app.js"]
            file_bytes = {path: (await timed_get(session, base + path))[1] for path in files}
            for window, (width, height) in WINDOWS.items():
                handler.TILES.clear()
                tiles = view_tiles(*VIEW, width, height)
                started = time.perf_counter()
                got = await asyncio.gather(*(timed_get(session, f"{base}/basemap/{z}/{x}/{y}.json")
                                             for z, x, y in tiles))
                all_at_once = (time.perf_counter() - started) * 1000
                tile_bytes = sum(wire for _, wire, _ in got)
                first_view[window] = {"tiles": len(tiles), "tile_bytes": tile_bytes,
                                      "tiles_all_at_once_ms": all_at_once,
                                      "file_bytes": sum(file_bytes.values()),
                                      "total_bytes": sum(file_bytes.values()) + tile_bytes}
            first_view["files"] = file_bytes
            first_view["zones_json"] = await zones_json_bytes()
    finally:
        await runner.cleanup()
    return {"zooms": zooms, "first_view": first_view}


async def zones_json_bytes() -> int:
    """The size of /api/zones for the bundled geofences (the ports' names come with it), as its handler
    answers; it needs a token, so it is asked in process."""
    from aiohttp.test_utils import make_mocked_request

    from ais_watch.api.app import create_app
    from ais_watch.api.handlers.zones import list_zones
    from ais_watch.zones import ZoneRegistry

    app = create_app(None, ZoneRegistry())  # type: ignore[arg-type]
    response = await list_zones(make_mocked_request("GET", "/api/zones", app=app))
    return len(response.body)  # type: ignore[arg-type]


def kib(n: float) -> str:
    return f"{n / 1024:.1f}"


def report(build: dict[str, float], served: dict[str, Any]) -> str:
    kept = build["rss_kept_mib"] - build["rss_land_mib"]
    lines = [
        f"build: Natural Earth loaded in {build['land_s']:.2f} s, basemap built in {build['build_s']:.2f} s "
        f"({build['vertices']:,} vertices in its levels); resident {build['rss_start_mib']:.0f} MB at start, "
        f"{build['rss_land_mib']:.0f} with the land, peak {build['rss_peak_mib']:.0f}, "
        f"{build['rss_kept_mib']:.0f} kept once built (+{kept:.0f} MB)",
        "",
        "| z | tiles (watched) | cold p50 / p95 ms | warm p50 / p95 ms | static file p50 / p95 ms | "
        "clip alone p50 / p95 ms | KB gzip mean / max (watched mean) | KB raw mean / max |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in served["zooms"]:
        def ms(name: str, row: dict[str, Any] = row) -> str:
            return f"{row[name + '_p50']:.2f} / {row[name + '_p95']:.2f}"

        sizes = [f"{kib(row[k + '_mean'])} / {kib(row[k + '_max'])}" for k in ("gzip", "raw")]
        sizes[0] += f" ({kib(row['gzip_watched_mean'])})"
        lines.append(f"| {row['z']} | {row['tiles']} ({row['watched']}) | {ms('cold')} | {ms('warm')} | "
                     f"{ms('static')} | {ms('clip')} | {sizes[0]} | {sizes[1]} |")
    lines += ["", "zooms 11-18: drawn by the dashboard from the zoom-10 tiles (no request of their own)", ""]
    files = served["first_view"]["files"]
    lines.append("first view files (bytes): " + ", ".join(f"{p} {n:,}" for p, n in files.items()))
    zones = served["first_view"]["zones_json"]
    lines.append(f"and the API's /api/zones (the ports' names and polygons, uncompressed): {kib(zones)} KB")
    for window in WINDOWS:
        view = served["first_view"][window]
        lines.append(
            f"first view {window}: {view['tiles']} tiles {kib(view['tile_bytes'])} KB gzipped "
            f"(all at once, cold: {view['tiles_all_at_once_ms']:.0f} ms) "
            f"+ files {kib(view['file_bytes'])} KB = {kib(view['total_bytes'])} KB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", type=int, default=40, help="tiles per group (watched, elsewhere) a zoom")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.build_only:
        print(json.dumps(build_figures()))
        return 0
    child = subprocess.run([sys.executable, __file__, "--build-only"], capture_output=True, text=True,
                           cwd=REPO, timeout=300, check=True)
    build = json.loads(child.stdout.strip().splitlines()[-1])
    served = asyncio.run(http_figures(args.tiles, args.seed))
    print(report(build, served))
    if args.json:
        args.json.write_text(json.dumps({"build": build, **served}, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
