"""The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright, on a page
that may reach loopback only; signing in; reading what the page shows, pixel by pixel; and `serve`'s
environment for such a test (a local NMEA feed, no demo, no base-map tiles).

Locally a missing Chromium or Playwright skips with the reason; under CI=true it fails (.ci/run installs
Chromium). Never `playwright install`: nothing can be downloaded here.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.helpers.needs import require
from tests.helpers.serve import child_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STEP = 15_000  # ms any one browser step may take
LOOPBACK = ("127.0.0.1", "localhost")


def playwright_or_skip() -> Any:
    """Playwright's async API, or skip (fail under CI) saying what is missing."""
    try:
        from playwright import async_api
    except ImportError as err:
        require("no Playwright", f"pip install -e '.[dev]' ({err})")
    if not CHROMIUM.exists():
        require("no Chromium", f"{CHROMIUM} is missing: apt-get install -y chromium "
                "(never `playwright install`)")
    return async_api


@asynccontextmanager
async def loopback_page(async_api: Any, outside: list[str],
                        requested: list[str] | None = None) -> AsyncIterator[Any]:
    """Debian's Chromium with one 1280x800 page that reaches loopback only: any other request (map tiles,
    a CDN) is aborted and noted in `outside`; every request, wherever to, is noted in `requested` when
    given. Browser and Playwright are closed on the way out."""
    pw = await async_api.async_playwright().start()
    browser = None
    try:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                           timeout=30_000)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})

        async def only_loopback(route: Any) -> None:
            url = route.request.url
            if requested is not None:
                requested.append(url)
            if urlsplit(url).hostname in LOOPBACK or url.startswith("data:"):
                await route.continue_()
            else:
                outside.append(url)
                await route.abort()

        await context.route("**/*", only_loopback)
        page = await context.new_page()
        page.set_default_timeout(STEP)
        yield page
        await context.close()
    finally:
        if browser is not None:
            await browser.close()
        await pw.stop()


async def sign_in(page: Any, expect: Any, base: str, token: str) -> None:
    """Open the dashboard and sign in with the token: the app shows."""
    await page.goto(base + "/")
    await page.fill("#token", token)
    await page.click("#signin")
    await expect(page.locator("#app")).to_be_visible()


async def pixel_at(page: Any, x: float, y: float) -> tuple[int, int, int]:
    """The colour the page shows at (x, y) CSS pixels: a screenshot of that one pixel, decoded."""
    png = await page.screenshot(clip={"x": int(x), "y": int(y), "width": 1, "height": 1})
    return one_pixel_png(png)


def one_pixel_png(png: bytes) -> tuple[int, int, int]:
    """The RGB of a 1x1 8-bit PNG (RGB or RGBA). With one pixel in one row, every PNG filter leaves the
    bytes as they are (each predicts from pixels that are not there, which count as zero)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        chunks[kind] = chunks.get(kind, b"") + png[at + 8:at + 8 + length]
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, height, depth) == (1, 1, 8) and colour in (2, 6), (width, height, depth, colour)
    row = zlib.decompress(chunks[b"IDAT"])
    return row[1], row[2], row[3]


def solid_png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A size x size PNG of one colour: a map tile from a local stand-in for an online tile server."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + bytes(rgb) * size) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def serve_env(db_url: str, config: Path, feed_port: int, **more: str) -> dict[str, str]:
    """`serve` on this database and config file, reading the local NMEA feed on `feed_port` (so no
    demo), on a free port."""
    return child_env(AIS_WATCH_DB=db_url, AIS_WATCH_CONFIG=str(config), AIS_WATCH_HTTP_PORT="0",
                     AIS_WATCH_DEMO_REPLAY="false", AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed_port}",
                     AIS_WATCH_LOG_LEVEL="INFO", **more)


def no_tiles_config(folder: Path) -> Path:
    """A config file with no base-map tiles: the page reaches nothing but loopback."""
    config = folder / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')
    return config
