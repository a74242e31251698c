"""The offline basemap's tiles (ais_watch/basemap.py): public like the dashboard's static files (Natural
Earth's land is no data of ours), cut on first request in one of `CUTTERS` threads of their own (a flood of
requests for new tiles queues there rather than take the process's CPU or the default executor), then
answered from a bounded cache with HTTP caching headers (a browser asks again after a day, and gets a
304 while nothing changed), gzipped for a client that accepts it."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from ais_watch import __version__
from ais_watch.api.params import BadRequest
from ais_watch.basemap import TileError, basemap_ready, parse_tile, prepare_in_background, shared_basemap

CACHE_BYTES = 32 * 1024 * 1024  # tiles kept, raw and gzipped: ~2,000 tiles of a few KB
MAX_AGE = 86_400  # seconds a browser keeps a tile before asking again (with If-None-Match)
CUTTERS = 2  # tiles cut at once; a cold tile takes 1-15 ms
_CUTTING = ThreadPoolExecutor(max_workers=CUTTERS, thread_name_prefix="basemap")

Key = tuple[int, int, int]


@dataclass(frozen=True)
class EncodedTile:
    body: bytes
    gzipped: bytes  # empty when gzip would not make it smaller
    etag: str

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


class TileCache:
    """Tiles by (z, x, y), the least recently used dropped past `max_bytes`; a tile asked for twice while
    it is being cut is cut once. Used from the event loop only; the cutting runs in the cutters' threads."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._tiles: OrderedDict[Key, EncodedTile] = OrderedDict()
        self._cutting: dict[Key, asyncio.Future[EncodedTile]] = {}

    def __len__(self) -> int:
        return len(self._tiles)

    def clear(self) -> None:
        self._tiles.clear()
        self.bytes = 0

    async def get(self, key: Key) -> EncodedTile:
        tile = self._tiles.get(key)
        if tile is not None:
            self._tiles.move_to_end(key)
            return tile
        pending = self._cutting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[EncodedTile] = asyncio.get_running_loop().create_future()
        self._cutting[key] = future
        try:
            await _built()
            tile = await asyncio.get_running_loop().run_in_executor(_CUTTING, encode_tile, *key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as err:
            future.set_exception(err)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._cutting[key]
        future.set_result(tile)
        self._put(key, tile)
        return tile

    def _put(self, key: Key, tile: EncodedTile) -> None:
        self._tiles[key] = tile
        self.bytes += tile.size
        while self.bytes > self.max_bytes and len(self._tiles) > 1:
            _, dropped = self._tiles.popitem(last=False)
            self.bytes -= dropped.size


async def _built() -> None:
    """Once the shared basemap is built (started here if `serve` has not): waited for on the event loop,
    so the cutters' threads never wait on the build, and a stop never waits on them."""
    if basemap_ready():
        return
    prepare_in_background()
    while not basemap_ready():
        await asyncio.sleep(0.05)


def encode_tile(z: int, x: int, y: int) -> EncodedTile:
    """A tile cut (the basemap built first, if it is not yet), gzipped (unless that makes it no smaller:
    an empty tile), and its ETag: the service's version and a digest of the body (the data changes only
    with an upgrade)."""
    body = shared_basemap().tile(z, x, y)
    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
    gzipped = gzip.compress(body, compresslevel=6, mtime=0)
    return EncodedTile(body, gzipped if len(gzipped) < len(body) else b"", f'"{__version__}-{digest}"')


TILES = TileCache()


async def basemap_tile(request: web.Request) -> web.Response:
    match = request.match_info
    try:
        key = parse_tile(match["z"], match["x"], match["y"])
    except TileError as err:
        raise BadRequest(str(err)) from None
    tile = await TILES.get(key)
    headers = {"Cache-Control": f"public, max-age={MAX_AGE}", "ETag": tile.etag, "Vary": "Accept-Encoding"}
    if tile.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    if tile.gzipped and "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=tile.gzipped, content_type="application/geo+json", headers=headers)
    return web.Response(body=tile.body, content_type="application/geo+json", headers=headers)
