"""Make the README's screenshot (docs/dashboard.png): `ais-watch serve` with nothing configured (the demo,
on a fresh SQLite database), its dashboard in headless Chromium at 1280x800 once the simulated ship's port
call at Rajin has come in, with that alert clicked (the ship selected, its track drawn).

    .venv/bin/python scripts/screenshot.py [--out docs/dashboard.png] [--speed 60] [--tiles]

Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`), driven by Playwright; never
`playwright install`. Without --tiles the map is the service's own offline map (the default: no online
tiles) and the page may only reach 127.0.0.1; --tiles sets OpenStreetMap's tiles as the base map (needs
internet).
At the default speed (60x) the port call comes after about 75 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEW = (42.185, 130.37, 11)  # Rajin, its approaches and the sea south-east of them


def env_for(tmp: Path, speed: str, tiles: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIS_WATCH_") and k not in ("AISSTREAM_API_KEY", "PYTHONPATH")}
    env.update({"AIS_WATCH_DB": f"sqlite:///{tmp / 'demo.db'}", "AIS_WATCH_HTTP_PORT": "0",
                "AIS_WATCH_DEMO_SPEED": speed, "PYTHONUNBUFFERED": "1"})
    if tiles:
        env["AIS_WATCH_DASHBOARD_TILE_URL"] = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    return env


def create_token(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-m", "ais_watch", "token", "create", "--role", "viewer", "--name",
                          "screenshot"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                         check=True)
    return out.stdout.strip().splitlines()[-1]


def wait_for_api(log: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        match = re.search(r"API on http://([^\s/]+)/", log.read_text(errors="replace"))
        if match:
            return f"http://{match.group(1)}"
        time.sleep(0.2)
    raise SystemExit("serve did not start its API")


async def shoot(base: str, token: str, out: Path, tiles: bool, wait: float) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            if not tiles:
                async def only_loopback(route: Any) -> None:
                    if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                        await route.continue_()
                    else:
                        await route.abort()

                await context.route("**/*", only_loopback)
            page = await context.new_page()
            await page.goto(base + "/")
            await page.fill("#token", token)
            await page.click("#signin")
            await expect(page.locator("#demo-banner")).to_be_visible(timeout=15_000)
            call = page.locator('#alerts li.alert[data-kind="port_call"]').first
            await expect(call).to_be_visible(timeout=wait * 1000)
            await page.wait_for_timeout(3000)  # the port call's row is written with the next batch
            await call.locator(".alert-name").click()
            await expect(page.locator("#map path.track")).to_have_count(1, timeout=15_000)
            await page.wait_for_timeout(1500)  # the map's animated move to the alert, over
            lat, lon, zoom = VIEW
            await page.evaluate(f"state.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
            await page.wait_for_timeout(1500)  # the markers and the track redrawn at the new zoom
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    parser.add_argument("--speed", default="60", help="demo.speed (default 60, the default of the setting)")
    parser.add_argument("--tiles", action="store_true",
                        help="OpenStreetMap's tiles as the base map (needs internet)")
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the port call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = env_for(tmp, args.speed, args.tiles)
        token = create_token(env)
        log = tmp / "serve.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "ais_watch", "serve"], cwd=REPO, env=env,
                                    stdin=subprocess.DEVNULL, stdout=fh, stderr=fh)
        try:
            base = wait_for_api(log, proc)
            asyncio.run(shoot(base, token, args.out, args.tiles, args.wait))
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
