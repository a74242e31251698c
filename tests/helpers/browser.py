"""The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright, one page that
reaches loopback only, signed in with a token; and `serve`'s environment for such a test (a local NMEA feed,
no demo, no base-map tiles).

Locally a missing Chromium or Playwright skips with the reason; under CI=true it fails (.ci/run installs
Chromium). Never `playwright install`: nothing can be downloaded here.
"""

from __future__ import annotations

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


def playwright_or_skip() -> Any:
    """playwright.async_api, or skip (fail under CI) saying what is missing."""
    try:
        from playwright import async_api
    except ImportError as err:
        require("no Playwright", f"pip install -e '.[dev]' ({err})")
    if not CHROMIUM.exists():
        require("no Chromium", f"{CHROMIUM} is missing: apt-get install -y chromium "
                "(never `playwright install`)")
    return async_api


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


async def sign_in(page: Any, expect: Any, base: str, token: str) -> None:
    """Open the dashboard and sign in with the token: the app shows."""
    await page.goto(base + "/")
    await page.fill("#token", token)
    await page.click("#signin")
    await expect(page.locator("#app")).to_be_visible()


@asynccontextmanager
async def loopback_page(async_api: Any, outside: list[str]) -> AsyncIterator[Any]:
    """Debian's Chromium with one 1280x800 page that reaches loopback only: any other request (map tiles,
    a CDN) is aborted and noted in `outside`. Browser and Playwright are closed on the way out."""
    pw = await async_api.async_playwright().start()
    browser = None
    try:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                           timeout=30_000)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})

        async def only_loopback(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
                await route.continue_()
            else:
                outside.append(route.request.url)
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
