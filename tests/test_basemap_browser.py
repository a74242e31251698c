"""The offline basemap in a real browser: headless Chromium (Debian's) driven by Playwright against a real
`python -m ais_watch serve` with no online tiles configured (the default), on a page that may reach
127.0.0.1 only. Every request the page makes is recorded; land must be drawn where the land is (a pixel
over North Korea is land-coloured, one over the Sea of Japan sea-coloured), Rajin must be named, and
zooms past the service's deepest tiles must be drawn from them. With online tiles configured, they are
the base map and a layer control switches to the offline map (and remembers it)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from ais_watch.basemap import MAX_ZOOM
from ais_watch.land import LandMask, shared_land
from tests.helpers.browser import LOOPBACK, STEP, loopback_page, pixel_at, playwright_or_skip, sign_in
from tests.helpers.paths import REPO
from tests.helpers.serve import Serve, child_env, cli_token, nmea_feed
from tests.helpers.waiting import wait_for

LIMIT = 120  # seconds for a whole test
SCREENSHOT = REPO / "test-results" / "dashboard-basemap.png"
NORTH_KOREA = (40.95, 128.3)  # inland, between Kimchaek and the mountains: nothing else drawn there
SEA_OF_JAPAN = (41.6, 132.3)
INLAND_OF_RAJIN = (42.29, 130.24)  # at zoom 12, a few km inland of the port
COLOUR_SLACK = 8  # per channel: antialiasing, colour management

pytestmark = [pytest.mark.browser, pytest.mark.timeout(LIMIT + 30)]

# Where a latitude/longitude is on the page, and whether anything the user can point at (a zone, a
# vessel, a control) is drawn there: the tiles and the names are not (Leaflet: pointer-events none), so
# the map's own container is what is under the pointer where only the basemap is drawn.
POINT_ON_PAGE = """([lat, lon]) => {
  const point = state.map.latLngToContainerPoint([lat, lon]);
  const box = state.map.getContainer().getBoundingClientRect();
  const x = box.left + point.x, y = box.top + point.y;
  const top = document.elementFromPoint(x, y);
  const clear = top === state.map.getContainer();
  return { x, y, clear, top: top && top.tagName + "." + top.className.toString() };
}"""


def serve_env(db_url: str, feed_port: int, **settings: str) -> dict[str, str]:
    # No dashboard.tile_url: the default, which is no online tiles.
    return child_env(AIS_WATCH_DB=db_url, AIS_WATCH_HTTP_PORT="0", AIS_WATCH_DEMO_REPLAY="false",
                     AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed_port}", AIS_WATCH_LOG_LEVEL="INFO", **settings)


def rgb_of(css: str) -> tuple[int, int, int]:
    """'#a8c0d2' or 'rgb(168, 192, 210)'."""
    if css.startswith("#"):
        return int(css[1:3], 16), int(css[3:5], 16), int(css[5:7], 16)
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def close_to(got: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= COLOUR_SLACK for a, b in zip(got, expected, strict=True))


async def page_holds(page: Any, expression: str, timeout: float = STEP / 1000) -> None:
    """Until the page's `expression` is true (polled with evaluate: the page's CSP allows no eval)."""
    await wait_for(lambda: page.evaluate(f"() => Boolean({expression})"), timeout, expression, interval=0.1)


async def colour_at(page: Any, lat: float, lon: float) -> tuple[int, int, int]:
    spot = await page.evaluate(POINT_ON_PAGE, [lat, lon])
    assert spot["clear"], f"({lat}, {lon}) has something else than the basemap drawn over it: {spot}"
    return await pixel_at(page, spot["x"], spot["y"])


async def settled_colour_at(page: Any, lat: float, lon: float, expected: tuple[int, int, int]
                            ) -> tuple[int, int, int]:
    """The colour at a point once it is `expected`, or the last one seen after STEP: Leaflet fades a new
    tile in (0.2 s), and a pixel read as the last tile is drawn can be part way from the sea's colour."""
    deadline = asyncio.get_running_loop().time() + STEP / 1000
    while True:
        colour = await colour_at(page, lat, lon)
        if close_to(colour, expected) or asyncio.get_running_loop().time() > deadline:
            return colour
        await asyncio.sleep(0.05)


async def test_the_offline_map_draws_land_and_ports_with_nothing_leaving_loopback(tmp_path: Path) -> None:
    async_api = playwright_or_skip()
    expect = async_api.expect
    mask = LandMask(shared_land(), tolerance_km=3.0)
    assert mask.inland_exact(*NORTH_KOREA) and mask.inland_exact(*INLAND_OF_RAJIN)
    assert not shared_land().contains(np.array([SEA_OF_JAPAN[0]]), np.array([SEA_OF_JAPAN[1]]))[0]
    db_url = f"sqlite:///{tmp_path / 'basemap.db'}"
    requested: list[str] = []
    outside: list[str] = []
    page_errors: list[str] = []
    async with Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed:
        serve.env = serve_env(db_url, feed.port)
        token = await asyncio.to_thread(cli_token, serve.env, db_url, "viewer", "wall")
        await serve.start()
        base = await serve.api_base()
        async with loopback_page(async_api, outside, requested) as page:
            expect.set_options(timeout=STEP)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            await sign_in(page, expect, base, token)

            # --- the first view: land drawn on the basemap's tiles, the ports named, no layer control
            await page_holds(page, "Basemap.stats.tilesDrawn >= 9 && Basemap.stats.landRings > 0")
            rajin = page.locator(".port-label .map-label-text", has_text=re.compile(r"^Rajin$"))
            await expect(rajin).to_be_visible()
            await expect(page.locator(".port-label .map-label-text", has_text="Vladivostok")).to_be_visible()
            await expect(page.locator(".leaflet-control-layers")).to_have_count(0)
            assert await page.evaluate("state.map.getZoom()") == 6
            land = rgb_of(await page.evaluate("Basemap.STYLE.land"))
            sea = rgb_of(await page.evaluate("getComputedStyle(state.map.getContainer()).backgroundColor"))
            assert not close_to(land, sea)
            korea = await settled_colour_at(page, *NORTH_KOREA, land)
            open_sea = await settled_colour_at(page, *SEA_OF_JAPAN, sea)
            assert close_to(korea, land), (korea, land)
            assert close_to(open_sea, sea), (open_sea, sea)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT))

            # --- past the service's deepest zoom: drawn from its zoom-10 tiles, land still land
            drawn = await page.evaluate("Basemap.stats.tilesDrawn")
            await page.evaluate("([lat, lon]) => state.map.setView([lat, lon], 12, { animate: false })",
                                list(INLAND_OF_RAJIN))
            await page_holds(page, f"Basemap.stats.tilesDrawn >= {drawn + 4}")
            await page.wait_for_timeout(300)  # the zoom's last tiles in place
            assert close_to(await colour_at(page, *INLAND_OF_RAJIN), land)
            await expect(rajin).to_be_visible()
            assert await page.evaluate("Basemap.stats.errors") == 0

    hosts = {urlsplit(url).hostname for url in requested if not url.startswith("data:")}
    assert outside == [] and hosts <= set(LOOPBACK), (outside, hosts)
    tiles = [urlsplit(url).path for url in requested if "/basemap/" in url]
    zooms = {int(path.split("/")[2]) for path in tiles}
    assert 6 in zooms and MAX_ZOOM in zooms and max(zooms) == MAX_ZOOM, sorted(zooms)
    assert page_errors == [], page_errors


async def test_with_online_tiles_a_layer_control_switches_to_the_offline_map(tmp_path: Path) -> None:
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'online.db'}"
    # A tile server that is never reached: the page may not leave loopback, and this one is not there.
    online = "https://tiles.invalid/{z}/{x}/{y}.png"
    outside: list[str] = []
    page_errors: list[str] = []
    async with Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed:
        serve.env = serve_env(db_url, feed.port, AIS_WATCH_DASHBOARD_TILE_URL=online)
        token = await asyncio.to_thread(cli_token, serve.env, db_url, "viewer", "wall")
        await serve.start()
        base = await serve.api_base()
        async with loopback_page(async_api, outside) as page:
            expect.set_options(timeout=STEP)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            await sign_in(page, expect, base, token)

            # The setting's meaning: the online tiles are the base map; the offline one is not drawn.
            await expect(page.locator(".leaflet-control-layers")).to_have_count(1)
            await expect(page.locator(".leaflet-tile-pane img.leaflet-tile").first).to_be_attached()
            assert await page.evaluate("Basemap.stats.tilesDrawn") == 0
            assert any(url.startswith("https://tiles.invalid/6/") for url in outside), outside[:3]

            # Switch: the offline map is drawn, the online tiles go, and the choice is kept.
            await page.locator(".leaflet-control-layers").hover()
            await page.get_by_label("Offline map (Natural Earth)").check()
            await page_holds(page, "Basemap.stats.tilesDrawn >= 9")
            await expect(page.locator(".leaflet-tile-pane img.leaflet-tile")).to_have_count(0)
            await page.reload()
            await expect(page.locator("#app")).to_be_visible()  # signed in still (this tab's session)
            await page_holds(page, "Basemap.stats.tilesDrawn >= 9")
            await expect(page.locator(".leaflet-tile-pane img.leaflet-tile")).to_have_count(0)
    assert page_errors == [], page_errors
