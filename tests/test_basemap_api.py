"""The offline basemap over HTTP, in process (an aiohttp TestServer on loopback): a tile is GeoJSON, gzipped
when asked, cacheable (Cache-Control, an ETag and a 304 for it), needs no token while the data routes do,
and a bad address is a 400 with one line that says what is wrong."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import test_utils

from ais_watch.api.app import create_app
from ais_watch.api.handlers import basemap as handler
from ais_watch.zones import ZoneRegistry

pytestmark = pytest.mark.integration

LIMIT = 60
RAJIN_Z6 = "/basemap/6/55/23.json"  # the tile with Rajin, Vladivostok and the sea south-east of them


@pytest.fixture
async def client() -> AsyncIterator[test_utils.TestClient]:
    # No database: the routes asked here never reach one (a data route refuses before, with no token).
    app = create_app(None, ZoneRegistry([]))  # type: ignore[arg-type]
    async with test_utils.TestClient(test_utils.TestServer(app)) as http:
        yield http


async def test_a_tile_needs_no_token_and_is_cacheable(client: test_utils.TestClient) -> None:
    async with asyncio.timeout(LIMIT):
        handler.TILES.clear()
        response = await client.get(RAJIN_Z6)  # aiohttp's client accepts gzip and unpacks it
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "application/geo+json"
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Cache-Control"] == "public, max-age=86400"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        body = await response.json(content_type=None)
        assert body["type"] == "FeatureCollection"
        assert {f["properties"]["layer"] for f in body["features"]} == {"land", "borders"}
        etag = response.headers["ETag"]
        assert len(handler.TILES) == 1

        again = await client.get(RAJIN_Z6, headers={"If-None-Match": etag})
        assert again.status == 304 and again.headers["ETag"] == etag and await again.read() == b""
        other = await client.get(RAJIN_Z6, headers={"If-None-Match": '"0.0.0-stale"'})
        assert other.status == 200

        plain = await client.get(RAJIN_Z6, headers={"Accept-Encoding": "identity"}, auto_decompress=False)
        raw = await plain.read()
        assert "Content-Encoding" not in plain.headers and json.loads(raw) == body
        packed = await client.get(RAJIN_Z6, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
        squeezed = await packed.read()
        assert gzip.decompress(squeezed) == raw and len(squeezed) < len(raw) / 2

        # An empty tile (open Pacific) is smaller as it is: sent so, whatever the client accepts.
        empty = await client.get("/basemap/5/3/13.json", headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in empty.headers
        assert await empty.json(content_type=None) == {"type": "FeatureCollection", "features": []}

        # The data routes still need a token.
        assert (await client.get("/api/zones")).status == 401


@pytest.mark.parametrize(("path", "says"), [
    ("/basemap/11/0/0.json", "z must be 0 to 10"),
    ("/basemap/6/64/0.json", "x must be 0 to 63 at zoom 6, got 64"),
    ("/basemap/6/0/64.json", "y must be 0 to 63 at zoom 6, got 64"),
    ("/basemap/six/0/0.json", "z must be a whole number, got 'six'"),
    ("/basemap/6/-1/0.json", "x must be a whole number, got '-1'"),
])
async def test_a_bad_tile_is_a_400_that_says_why(client: test_utils.TestClient, path: str, says: str) -> None:
    async with asyncio.timeout(LIMIT):
        response = await client.get(path)
        assert response.status == 400
        error = (await response.json())["error"]
        assert says in error and "\n" not in error


async def test_the_openapi_document_has_the_tile_route_without_a_token(client: test_utils.TestClient) -> None:
    from ais_watch.api.openapi import openapi_document
    from ais_watch.api.routes import ROUTES

    operation = openapi_document(ROUTES)["paths"]["/basemap/{z}/{x}/{y}.json"]["get"]
    assert "security" not in operation
    assert {p["name"] for p in operation["parameters"]} == {"z", "x", "y"}
