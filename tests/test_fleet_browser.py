"""The fleet board in a real browser: headless Chromium (Debian's) driven by Playwright against a real
`python -m ais_watch serve`, on a store the watched fleet of tests/helpers/fleet.py was replayed into
(DARKIE silent for 8 hours, PORTER moored at Rajin, ...). The board says each state in words ("dark for
8 h"), sorts by the column clicked, shows AIS names as text, centres the map on a vessel clicked and
opens it; when DARKIE speaks again its reappeared alert, arriving live, refreshes the board to "at sea".
The browser reaches 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ais_watch.simulate import position_lines
from tests.helpers.browser import loopback_page, no_tiles_config, playwright_or_skip, serve_env, sign_in
from tests.helpers.fleet import DARKIE, PARTNER, build_fleet, keys
from tests.helpers.paths import REPO
from tests.helpers.serve import Serve, cli_token, get_json, nmea_feed

LIMIT = 150  # seconds for the whole test
STEP = 15_000  # ms any one browser step may take
SCREENSHOT = REPO / "test-results" / "dashboard-fleet.png"
KEYS = keys()

pytestmark = [pytest.mark.browser, pytest.mark.timeout(LIMIT + 60)]


def row(page: Any, name: str) -> Any:
    return page.locator(f'#fleet-rows tr.fleet-row[data-key="{KEYS[name]}"]')


async def shown_keys(page: Any) -> list[str]:
    return list(await page.locator("#fleet-rows tr.fleet-row").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.key)"))


async def test_the_fleet_board_in_a_real_browser(tmp_path: Path) -> None:
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'fleet.db'}"
    await asyncio.to_thread(build_fleet, db_url, tmp_path, datetime.now(UTC).replace(microsecond=0))
    page_errors: list[str] = []
    outside: list[str] = []
    async with (Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed,
                aiohttp.ClientSession() as http):
        serve.env = serve_env(db_url, no_tiles_config(tmp_path), feed.port)
        token = await asyncio.to_thread(cli_token, serve.env, db_url)
        await serve.start()
        base = await serve.api_base()
        await serve.wait_for(feed.connected.is_set, 30, "serve to connect to the NMEA feed")
        api = {r["key"]: r for r in (await get_json(http, base, token, "/api/fleet"))["vessels"]}
        darkie = api[KEYS["DARKIE"]]
        assert darkie["state"]["state"] == "dark", darkie
        hours = math.floor(darkie["state"]["hours"])

        async with loopback_page(async_api, outside) as page:
            expect.set_options(timeout=STEP)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            await sign_in(page, expect, base, token)

            # --- the board: closed until asked for, then every watched vessel, the most urgent first
            await expect(page.locator("#fleet")).to_be_hidden()
            await page.click("#fleet-toggle")
            await expect(page.locator("#fleet")).to_be_visible()
            await expect(page.locator("#fleet-rows tr.fleet-row")).to_have_count(len(api))
            await expect(page.locator("#fleet-count")).to_have_text(f"{len(api)} vessels")
            await expect(row(page, "DARKIE").locator(".fleet-state")).to_have_text(f"dark for {hours} h")
            assert (await shown_keys(page))[0] == KEYS["DARKIE"]
            # The time alone when it is today's (UTC, the service's clock), with its date when not: a
            # port call seeded hours ago is yesterday's for a run just after midnight.
            since = api[KEYS["PORTER"]]["state"]["since"]
            today = datetime.now(UTC).date().isoformat()
            await expect(row(page, "PORTER").locator(".fleet-state")).to_have_text(
                f"in Rajin since {since[11:16] if since[:10] == today else since[:16].replace('T', ' ')}")
            await expect(row(page, "SPOOFER").locator(".fleet-state")).to_have_text(
                "anomalous: impossible_speed")
            await expect(row(page, "SAILOR").locator(".fleet-state")).to_have_text("at sea")
            await expect(row(page, "GHOST").locator(".fleet-state")).to_have_text("not heard")
            await expect(row(page, "DARKIE").locator(".fleet-age")).to_have_text(f"{hours} h ago")
            await expect(row(page, "DARKIE").locator(".fleet-place")).to_have_text(
                darkie["position"]["place"])
            await expect(row(page, "DARKIE").locator(".fleet-alerts")).to_have_text("1")
            await expect(row(page, "SAILOR").locator(".fleet-call")).to_contain_text("Vostochny ")
            # AIS text as text: "PARTNER <B>&" is shown literally, and makes no <b>.
            await expect(row(page, "PARTNER").locator(".fleet-vessel")).to_have_text(PARTNER.name)
            await expect(row(page, "PARTNER").locator(".fleet-associated")).to_have_text("associated")
            assert await page.locator("#fleet b").count() == 0

            # --- sorting by the column clicked, the API's order; again for the other way
            by_name = [r["key"] for r in
                       (await get_json(http, base, token, "/api/fleet?sort=name"))["vessels"]]
            await page.click('#fleet-table th[data-sort="name"]')
            await expect(page.locator('#fleet-table th[data-sort="name"]')).to_have_attribute(
                "aria-sort", "ascending")
            assert await shown_keys(page) == by_name
            await page.click('#fleet-table th[data-sort="name"]')
            await expect(page.locator('#fleet-table th[data-sort="name"]')).to_have_attribute(
                "aria-sort", "descending")
            assert await shown_keys(page) == by_name[::-1]
            await page.click('#fleet-table th[data-sort="state"]')
            await expect(page.locator('#fleet-table th[data-sort="state"]')).to_have_attribute(
                "aria-sort", "ascending")
            assert (await shown_keys(page))[0] == KEYS["DARKIE"]

            # --- a click on the dark ship centres the map on where it was last heard, and opens it
            await row(page, "DARKIE").click()
            await expect(page.locator("#vessel-name")).to_have_text("DARKIE")
            await expect(row(page, "DARKIE")).to_have_class("fleet-row heard selected")
            # In the middle of what the board leaves of the map.
            seen = await page.evaluate("""([lat, lon]) => {
                const p = state.map.latLngToContainerPoint([lat, lon]), size = state.map.getSize();
                const covered = document.getElementById("fleet").offsetHeight;
                return [p.x, p.y, size.x / 2, (size.y - covered) / 2]; }""",
                [darkie["position"]["lat"], darkie["position"]["lon"]])
            assert seen[0] == pytest.approx(seen[2], abs=2) and seen[1] == pytest.approx(seen[3], abs=2), seen
            assert await page.evaluate("state.map.getZoom()") >= 9
            await expect(page.locator("#map path.track")).to_have_count(1)  # its track, as a vessel opened
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT))

            # --- DARKIE speaks again: its reappeared alert comes live and the board asks again (the
            # periodic refresh stopped, so only the alert can have done it)
            await page.evaluate("clearInterval(fleetState.timer)")
            now = datetime.now(UTC)
            lat, lon = darkie["position"]["lat"], darkie["position"]["lon"] + 0.01
            await feed.send(position_lines(DARKIE, now, lat, lon, 6.0, 90.0, 0))
            await expect(page.locator('#alerts li.alert[data-kind="reappeared"]')).to_have_count(1)
            await expect(row(page, "DARKIE").locator(".fleet-state")).to_have_text("at sea")
            await expect(row(page, "DARKIE").locator(".fleet-age")).to_have_text("just now")

            # --- the board closes, and the map is whole again
            await page.click("#fleet-toggle")
            await expect(page.locator("#fleet")).to_be_hidden()
            assert page_errors == [], page_errors
            assert outside == [], f"the page reached beyond loopback: {outside}"
        code, _ = await serve.stop()
        assert code == 0, serve.tail()
