"""The dashboard in a real browser: headless Chromium (Debian's, /usr/bin/chromium) driven by Playwright,
against a real `python -m ais_watch serve` fed live NMEA through a local TCP server.

ANGARA (IMO 9179842, in the default watchlist) is seen off Rajin, then sails in and stops: a port_call
alert is raised while the page is open and must arrive over the websocket. A ship whose name (and
destination) is HTML must be shown literally and never become markup. AIS type 5 names and destinations
are 20 six-bit characters at most, so the payloads are the longest that fit: `<IMG SRC=X ONERROR=>` would
make an <img src="X"> if it were ever parsed as HTML.

Locally a missing Chromium or Playwright skips with the reason; under CI=true it fails (.ci/run installs
Chromium; tests/helpers/browser.py). The browser may only talk to 127.0.0.1: any other request is aborted
and fails the test (the base-map tiles are switched off).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from ais_watch.alerts.model import AlertDraft, iso
from ais_watch.alerts.store import AlertStore
from ais_watch.simulate import Ship, position_lines, static_lines
from ais_watch.store.schema import vessels
from tests.helpers.browser import STEP, loopback_page, playwright_or_skip, sign_in
from tests.helpers.db import engine_on, insert_positions
from tests.helpers.paths import REPO
from tests.helpers.serve import Serve, child_env, cli_child, cli_token, get_json, nmea_feed

LIMIT = 150  # seconds for the whole test
SCREENSHOT = REPO / "test-results" / "dashboard.png"

ANGARA = Ship(mmsi=273111111, name="ANGARA", imo=9179842, call_sign="UBXX", destination="RAJIN")
HOSTILE_NAME = "<IMG SRC=X ONERROR=>"  # 20 characters: a type 5 name holds no more
HOSTILE_DESTINATION = "<SVG ONLOAD=ALERT()>"
HOSTILE = Ship(mmsi=273444444, name=HOSTILE_NAME, imo=None, call_sign="XSS1", destination=HOSTILE_DESTINATION)
OFF_RAJIN = (42.15, 130.45)  # in the approaches, not in the port
BERTH = (42.2333, 130.30)  # Rajin's reference point
HOSTILE_AT = (42.60, 131.10)  # well away from ANGARA, so its marker is not covered
NOTE = "tasked imagery <b>now</b>"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(LIMIT + 30)]


def serve_env(db_url: str, config: Path, feed_port: int) -> dict[str, str]:
    return child_env(
        AIS_WATCH_DB=db_url, AIS_WATCH_CONFIG=str(config), AIS_WATCH_HTTP_PORT="0",
        AIS_WATCH_DEMO_REPLAY="false", AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed_port}",
        AIS_WATCH_PORT_CALLS_MIN_DWELL="0.05",  # minutes: a port call within seconds
        AIS_WATCH_LOG_LEVEL="INFO",
    )


def now() -> datetime:
    return datetime.now(UTC)


async def test_dashboard_in_a_real_browser(tmp_path: Path) -> None:
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    config = tmp_path / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')  # no base-map tiles: nothing but loopback is reached
    dialogs: list[str] = []
    page_errors: list[str] = []
    csp_violations: list[str] = []
    outside: list[str] = []
    async with (Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed,
                aiohttp.ClientSession() as http):
        serve.env = serve_env(db_url, config, feed.port)
        token = await asyncio.to_thread(cli_token, serve.env, db_url)
        await serve.start()
        base = await serve.api_base()
        await serve.wait_for(feed.connected.is_set, 30, "serve to connect to the NMEA feed")

        # Before the page opens: both ships known, on the map. ANGARA was off Rajin 20 minutes ago: the
        # 8 nm to the berth at 25 kn, a track it could sail (an instant jump there would be a spoof).
        t = now()
        off_rajin_at = t - timedelta(minutes=20)
        await feed.send(static_lines(HOSTILE, t) + position_lines(HOSTILE, t, *HOSTILE_AT, 8.0, 90.0, 0)
                        + static_lines(ANGARA, off_rajin_at)
                        + position_lines(ANGARA, off_rajin_at, *OFF_RAJIN, 8.0, 290.0, 0))

        async def on_the_map() -> bool:
            names = {v["name"] for v in (await get_json(http, base, token, "/api/map"))["vessels"]}
            return {HOSTILE_NAME, ANGARA.name} <= names

        await serve.wait_for(on_the_map, 30, "both ships in /api/map", interval=0.3)
        before = (await get_json(http, base, token, "/api/alerts"))["alerts"]
        assert before == [], "no alert before the call"

        async with loopback_page(async_api, outside) as page:
            expect.set_options(timeout=STEP)

            async def on_dialog(dialog: Any) -> None:
                dialogs.append(f"{dialog.type}: {dialog.message}")
                await dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            page.on("console", lambda msg: csp_violations.append(msg.text)
                    if msg.type == "error" and "Content Security Policy" in msg.text else None)

            # --- sign in
            response = await page.goto(base + "/")
            assert response is not None and response.ok, response
            assert urlsplit(page.url).path == "/dashboard/", page.url
            await expect(page.locator("#app")).to_be_hidden()
            await page.fill("#token", token)
            await page.click("#signin")
            await expect(page.locator("#app")).to_be_visible()
            kept = await page.evaluate("Object.values(sessionStorage)")
            assert token in kept, "the token is kept in sessionStorage"
            await expect(page.locator("#live-status")).to_have_text("live")
            await expect(page.locator("#demo-banner")).to_be_hidden()  # a live feed: no demo banner

            # --- the map: the watchlisted ship highlighted, geofences drawn
            angara = page.locator('#map .vessel-marker.watched[title="ANGARA"]')
            await expect(angara).to_have_count(1)
            await expect(angara).to_be_visible()
            assert await page.locator("#map .zone").count() > 0, "geofences drawn with class 'zone'"
            hostile = page.locator(f'#map .vessel-marker[title="{HOSTILE_NAME}"]')
            await expect(hostile).to_have_count(1)
            assert "watched" not in (await hostile.get_attribute("class") or "").split()

            # --- the hostile name and destination, shown literally in the vessel panel
            await hostile.click()
            await expect(page.locator("#vessel")).to_be_visible()
            await expect(page.locator("#vessel-name")).to_have_text(HOSTILE_NAME)
            shown = await page.evaluate(
                """(texts) => texts.map((t) => [...document.querySelectorAll('body *')]
                                      .some((e) => e.textContent === t))""",
                [HOSTILE_NAME, HOSTILE_DESTINATION])
            assert shown == [True, True], "the AIS text is shown literally"

            # --- the alert, live: ANGARA sails in and stops at Rajin
            await expect(page.locator("#alerts li.alert")).to_have_count(0)
            alert_item = page.locator('#alerts li.alert[data-kind="port_call"]')

            async def sail_in() -> None:
                for _ in range(30):  # a moored report every 2 s for at most a minute
                    t = now()
                    await feed.send(position_lines(ANGARA, t, *BERTH, 0.0, 290.0, 5))
                    await asyncio.sleep(2)

            sailing = asyncio.create_task(sail_in())
            try:
                await expect(alert_item).to_have_count(1, timeout=60_000)
            finally:
                sailing.cancel()
                await asyncio.gather(sailing, return_exceptions=True)
            await expect(page.locator("#live-status")).to_have_text("live")  # it came over the socket
            item = alert_item.first
            alert_id = int(await item.get_attribute("data-id") or "0")
            await expect(item).to_have_attribute("data-state", "open")
            await expect(item.locator(".alert-name")).to_have_text("ANGARA")

            # Newest first: the list's order is the event-time order the API gives.
            listed = (await get_json(http, base, token, "/api/alerts"))["alerts"]
            times = {a["id"]: a["occurred_at"] for a in listed}
            ids = [int(i) for i in await page.locator("#alerts li.alert").evaluate_all(
                "(items) => items.map((li) => li.dataset.id)")]
            assert set(ids) == set(times), (ids, listed)
            assert [times[i] for i in ids] == sorted((times[i] for i in ids), reverse=True), ids

            # --- clicking the alert centres the map on it (and opens the vessel)
            await item.locator(".alert-name").click()
            await expect(page.locator("#vessel-name")).to_have_text("ANGARA")
            map_box = await page.locator("#map").bounding_box()
            assert map_box is not None
            centre = (map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2)

            async def marker_offset() -> float:
                box = await angara.bounding_box()
                assert box is not None
                return max(abs(box["x"] + box["width"] / 2 - centre[0]),
                           abs(box["y"] + box["height"] / 2 - centre[1]))

            await serve.wait_for(lambda: _under(marker_offset(), 12), 10,
                                 "the map to centre on the alert", interval=0.2)

            # --- acknowledge with a note
            await item.locator(".ack-note").fill(NOTE)
            await item.locator(".ack").click()
            acked = page.locator(f'#alerts li.alert[data-id="{alert_id}"]')
            await expect(acked).to_have_attribute("data-state", "acknowledged")
            acknowledged = await get_json(http, base, token, "/api/alerts?state=acknowledged")
            (via_api,) = [a for a in acknowledged["alerts"] if a["id"] == alert_id]
            assert via_api["kind"] == "port_call" and via_api["vessel_name"] == "ANGARA"
            assert "rajin" in (via_api["place"] or "").lower(), via_api
            # Who acknowledged it, with the note: GET /api/alerts/{id} (the list has the contract object).
            one = await get_json(http, base, token, f"/api/alerts/{alert_id}")
            assert one["alert"]["state"] == "acknowledged", one
            assert one["review"]["ack_note"] == NOTE and one["review"]["acknowledged_by"] == "e2e", one

            # --- the filters
            await page.select_option("#filter-state", "open")
            await expect(acked).to_have_count(0)
            await page.select_option("#filter-state", "acknowledged")
            await expect(acked).to_have_count(1)
            await page.select_option("#filter-kind", "went_dark")
            await expect(acked).to_have_count(0)
            await page.select_option("#filter-kind", "port_call")
            await expect(acked).to_have_count(1)
            await page.select_option("#filter-kind", "")
            await page.select_option("#filter-state", "")

            # --- nothing became markup, nothing ran
            injected = await page.evaluate("""() => ({
                img: [...document.querySelectorAll('img')].filter((i) =>
                    (i.getAttribute('src') || '').toUpperCase() === 'X').length,
                svgOnload: document.querySelectorAll('svg[onload], [onerror]').length })""")
            assert injected == {"img": 0, "svgOnload": 0}, injected
            assert await page.locator('img[src="X"]').count() == 0

            await expect(page.locator("#alerts li.alert")).to_have_count(len(times))  # unfiltered again
            await page.locator("#alerts").scroll_into_view_if_needed()  # the alert feed in the picture
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT))
            assert SCREENSHOT.stat().st_size > 10_000, SCREENSHOT.stat().st_size
            assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

            assert dialogs == [], dialogs
            assert page_errors == [], page_errors
            assert csp_violations == [], csp_violations
            assert outside == [], f"the page reached beyond loopback: {outside}"
        code, _ = await serve.stop()
        assert code == 0, serve.tail()


async def _under(value: Any, limit: float) -> bool:
    return await value < limit


DEMO_SPEED = "600"  # a port call (30 min stopped) in 3 s
DEMO_SCREENSHOT = REPO / "test-results" / "dashboard-demo.png"


async def test_the_demo_in_a_real_browser(tmp_path: Path) -> None:
    """`serve` with nothing configured runs the demo: the banner says so, with the speed and the demo
    time; the simulated ship is on the map, watched, and its port call at Rajin arrives live; the page's
    own times follow the demo clock, not the browser's."""
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    config = tmp_path / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')
    env = child_env(AIS_WATCH_DB=db_url, AIS_WATCH_CONFIG=str(config), AIS_WATCH_HTTP_PORT="0",
                    AIS_WATCH_DEMO_SPEED=DEMO_SPEED, AIS_WATCH_LOG_LEVEL="INFO")
    page_errors: list[str] = []
    outside: list[str] = []
    async with Serve(env, tmp_path / "serve.log") as serve:
        async with asyncio.timeout(LIMIT):
            token = await asyncio.to_thread(cli_token, env, db_url)
            await serve.start()
            base = await serve.api_base()
            async with loopback_page(async_api, outside) as page:
                expect.set_options(timeout=STEP)
                page.on("pageerror", lambda err: page_errors.append(str(err)))

                await sign_in(page, expect, base, token)

                # --- the banner: visible, what runs and how fast, the demo time ticking
                banner = page.locator("#demo-banner")
                await expect(banner).to_be_visible()
                await expect(page.locator("#demo-text")).to_have_text(
                    f"DEMO — recorded traffic replayed and one simulated ship; demo time runs {DEMO_SPEED}x")
                await expect(page.locator("#demo-clock")).to_contain_text("demo time ")
                box = await banner.bounding_box()
                assert box is not None and box["y"] < 5 and box["height"] > 10, box

                # --- the page's clock is the service's: far ahead of the browser's after a few seconds
                ahead = await page.evaluate("serverNow() - Date.now()")
                config_now = (await page.evaluate(
                    "(t) => fetch('/api/config', {headers: {Authorization: 'Bearer ' + t}})"
                    ".then((r) => r.json())",
                    token))["now"]
                assert ahead > 0, ahead
                server_ahead = (datetime.fromisoformat(config_now) - now()).total_seconds() * 1000
                assert abs(ahead - server_ahead) < 0.25 * server_ahead + 60_000, (ahead, server_ahead)

                # --- the simulated ship: on the map, watched; its port call at Rajin arrives live
                ship = page.locator('#map .vessel-marker.watched[title="SIMULATED DEMO SHIP"]')
                await expect(ship).to_have_count(1, timeout=30_000)
                call = page.locator('#alerts li.alert[data-kind="port_call"]')
                await expect(call.first).to_be_visible(timeout=60_000)
                await expect(call.first.locator(".alert-name")).to_have_text("SIMULATED DEMO SHIP")
                await call.first.locator(".alert-name").click()
                await expect(page.locator("#vessel-name")).to_have_text("SIMULATED DEMO SHIP")
                await expect(page.locator("#vessel-watchlist")).to_contain_text(
                    "simulated demo vessel, not a real ship")
                await expect(page.locator("#map path.track")).to_have_count(1)
                DEMO_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(DEMO_SCREENSHOT))
                assert page_errors == [], page_errors
                assert outside == [], f"the page reached beyond loopback: {outside}"
            code, _ = await serve.stop()
            assert code == 0, serve.tail()
# ------------------------------------------------------------------------------------- coverage layer
# Two receiving stations on one feed, with reception judged on a scale of seconds: NORTH falls silent
# while SOUTH carries on, so NORTH is a reception loss within a few seconds.
COVERAGE_ENV = {"AIS_WATCH_RECEPTION_WINDOW": "1", "AIS_WATCH_RECEPTION_MIN_USUAL": "2",
                "AIS_WATCH_RECEPTION_MIN_SILENCE": "2", "AIS_WATCH_RECEPTION_LEARN": "2",
                "AIS_WATCH_TICKS_INTERVAL": "0.5"}
COVERAGE_STATIONS = {"NORTH": (42.9, 132.5), "SOUTH": (41.0, 129.0)}  # both in the map's first view
COVERAGE_SHIPS = {"NORTH": [Ship(mmsi=273500000 + i, name=f"NORTH {i}") for i in range(2)],
                  "SOUTH": [Ship(mmsi=273600000 + i, name=f"SOUTH {i}") for i in range(2)]}
COVERAGE_SCREENSHOT = REPO / "test-results" / "dashboard-coverage.png"


async def test_the_coverage_layer_in_a_real_browser(tmp_path: Path) -> None:
    """The coverage layer draws each station as a rectangle, the one in outage red (with a dot that shows
    at any zoom), with its tooltip; the switch hides and shows it; the reception_loss alert names the
    station, no vessel, and clicking it centres the map on the station."""
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'coverage.db'}"
    config = tmp_path / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')
    page_errors: list[str] = []
    outside: list[str] = []
    silent: set[str] = set()
    async with (Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed,
                aiohttp.ClientSession() as http):
        serve.env = {**serve_env(db_url, config, feed.port), **COVERAGE_ENV}
        token = await asyncio.to_thread(cli_token, serve.env, db_url)
        await serve.start()
        base = await serve.api_base()
        await serve.wait_for(feed.connected.is_set, 30, "serve to connect to the NMEA feed")

        async def stations_talk() -> None:
            step = 0
            while True:  # 8 messages a second from each station still talking
                t = now()
                lines: list[str] = []
                for station, (lat, lon) in COVERAGE_STATIONS.items():
                    if station in silent:
                        continue
                    for i, ship in enumerate(COVERAGE_SHIPS[station]):
                        lines += position_lines(ship, t, lat - i / 50 + step / 10000, lon - i / 50, 8.0,
                                                90.0, 0, station)
                await feed.send(lines)
                step += 1
                await asyncio.sleep(0.25)

        talking = asyncio.create_task(stations_talk())
        try:
            async def reception() -> dict[str, str]:
                body = await get_json(http, base, token, "/api/reception?kind=stations")
                return {s["label"]: s["state"] for s in body["stations"]}

            async def both_judged() -> bool:
                rates = await get_json(http, base, token, "/api/reception?kind=stations")
                return sum(s["per_hour"] is not None for s in rates["stations"]) == 2

            await serve.wait_for(both_judged, 30, "both stations' usual rates", interval=0.3)
            silent.add("NORTH")
            await serve.wait_for(lambda: _equals(reception(), {"NORTH": "outage", "SOUTH": "ok"}), 30,
                                 "NORTH in outage, SOUTH ok", interval=0.3)

            async with loopback_page(async_api, outside) as page:
                expect.set_options(timeout=STEP)
                page.on("pageerror", lambda err: page_errors.append(str(err)))
                await sign_in(page, expect, base, token)

                # --- the layer: NORTH red (its box and its dot), SOUTH a subtle station box
                outage = page.locator("#map path.coverage-station.coverage-outage")
                await expect(outage).to_have_count(2)
                assert {await outage.nth(i).get_attribute("stroke") for i in range(2)} == {"#ff3b30"}
                ok = page.locator("#map path.coverage-station.coverage-ok")
                await expect(ok).to_have_count(1)
                assert await ok.get_attribute("stroke") != "#ff3b30"
                assert await page.locator("#map .leaflet-coverage-pane path.coverage").count() >= 3

                # --- the switch
                await expect(page.locator("#map .coverage-legend")).to_be_visible()
                await page.uncheck("#coverage-toggle")
                await expect(page.locator("#map path.coverage")).to_have_count(0)
                await expect(page.locator("#map .coverage-legend")).to_have_count(0)
                await page.check("#coverage-toggle")
                await expect(outage).to_have_count(2)

                # --- the alert: the station, no vessel; a click centres the map on it
                loss = page.locator('#alerts li.alert[data-kind="reception_loss"]')
                await expect(loss).to_have_count(1)
                await expect(loss.locator(".alert-name")).to_contain_text("station NORTH")
                (alert,) = (await get_json(http, base, token, "/api/alerts?kind=reception_loss"))["alerts"]
                assert alert["mmsi"] is None and alert["lat"] is not None, alert
                async with page.expect_response(lambda r: "/api/reception?bbox=" in r.url):
                    await page.evaluate("state.map.setView([38, 125], 6)")
                async with page.expect_response(lambda r: "/api/reception?bbox=" in r.url):
                    await loss.locator(".alert-name").click()  # the layer follows the map
                centre = await page.evaluate("(() => { const c = state.map.getCenter(); "
                                             "return [c.lat, c.lng]; })()")
                assert abs(centre[0] - alert["lat"]) < 0.01 and abs(centre[1] - alert["lon"]) < 0.01, \
                    (centre, alert)

                # --- the tooltip, on a corner of the red box (its ships' markers are at its middle)
                box = page.locator("#map path.coverage-outage:not(.coverage-dot)")
                await expect(box).to_have_count(1)
                await box.hover(position={"x": 3, "y": 3})
                tip = page.locator(".leaflet-tooltip .coverage-tip")
                await expect(tip).to_contain_text("NORTH")
                await expect(tip).to_contain_text("OUTAGE")
                await expect(tip).to_contain_text("2 vessels")
                await expect(page.locator("#vessel")).to_be_hidden()  # no vessel to open
                COVERAGE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(COVERAGE_SCREENSHOT))
                assert page_errors == [], page_errors
                assert outside == [], f"the page reached beyond loopback: {outside}"
        finally:
            talking.cancel()
            await asyncio.gather(talking, return_exceptions=True)
        code, _ = await serve.stop()
        assert code == 0, serve.tail()


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


# ------------------------------------------------------------------------------- integrity alerts
SPOOFED_AT, REALLY_AT = (42.24, 130.30), (42.90, 133.90)  # at Rajin, while really off Nakhodka
ODD_NAME = "<B>M&M</B> \"O'NEIL\""  # shown literally, never as markup
INTEGRITY_SCREENSHOT = REPO / "test-results" / "dashboard-integrity.png"


def integrity_drafts(t: datetime) -> list[AlertDraft]:
    """One alert of each integrity kind, as the detectors word them (ais_watch/detectors/)."""
    real = {"lat": REALLY_AT[0], "lon": REALLY_AT[1], "time": iso(t - timedelta(minutes=3))}
    return [
        AlertDraft(kind="position_anomaly", occurred_at=t, event_key="impossible_speed|1", mmsi=ANGARA.mmsi,
                   imo=ANGARA.imo, vessel_name=ODD_NAME, lat=SPOOFED_AT[0], lon=SPOOFED_AT[1],
                   details={"reason": "impossible_speed", "segment": 2, "main_segment": 1, "fixes": 1,
                            "real_position": real, "distance_nm": 212.4, "implied_speed_kn": 4248.0}),
        AlertDraft(kind="identity_change", occurred_at=t - timedelta(minutes=1), event_key="mmsi",
                   mmsi=620999999, imo=ANGARA.imo, vessel_name=ODD_NAME, lat=REALLY_AT[0], lon=REALLY_AT[1],
                   details={"fields": {"mmsi": {"old": ANGARA.mmsi, "new": 620999999},
                                       "flag": {"old": "RU", "new": "KM"},
                                       "name": {"old": "ANGARA", "new": ODD_NAME}}}),
        AlertDraft(kind="draught_change", occurred_at=t - timedelta(minutes=2), event_key="d",
                   mmsi=ANGARA.mmsi, vessel_name="ANGARA",
                   details={"old": 6.1, "new": 9.8, "change": 3.7, "while_dark": True}),
        AlertDraft(kind="gnss_interference", occurred_at=t - timedelta(minutes=4), event_key="g",
                   place="off Rajin", lat=42.3, lon=130.5,
                   details={"vessels": list(range(12)), "vessel_count": 12}),
    ]


async def test_integrity_alerts_in_a_real_browser(tmp_path: Path) -> None:
    """A position_anomaly is drawn at the false position with a dashed line to where the ship really was;
    the list says why, and names identity, draught and GNSS alerts readably, AIS text as text."""
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'integrity.db'}"
    config = tmp_path / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')
    page_errors: list[str] = []
    outside: list[str] = []
    async with (Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed):
        async with engine_on(db_url) as engine:
            await AlertStore(engine, cooldown=0).raise_alerts(integrity_drafts(now()))
        serve.env = serve_env(db_url, config, feed.port)
        token = await asyncio.to_thread(cli_token, serve.env, db_url)
        await serve.start()
        base = await serve.api_base()
        async with loopback_page(async_api, outside) as page:
            expect.set_options(timeout=STEP)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            await sign_in(page, expect, base, token)
            await expect(page.locator("#alerts li.alert")).to_have_count(4)

            # --- the map: a marker at the false position, a dashed line from it to the real one
            marker = page.locator("#map path.anomaly.anomaly-impossible_speed")
            line = page.locator("#map path.anomaly-line")
            await expect(marker).to_have_count(1)
            await expect(line).to_have_count(1)
            assert await line.get_attribute("stroke-dasharray") == "6 6"
            drawn = await page.evaluate("""() => {
                const found = {};
                state.map.eachLayer((layer) => {
                    const cls = (layer.options || {}).className || "";
                    if (cls.split(" ").includes("anomaly-line"))
                        found.line = layer.getLatLngs().map((p) => [p.lat, p.lng]);
                    if (cls.split(" ").includes("anomaly")) {
                        const p = layer.getLatLng(); found.marker = [p.lat, p.lng];
                    }
                });
                return found; }""")
            assert drawn == {"marker": list(SPOOFED_AT), "line": [list(SPOOFED_AT), list(REALLY_AT)]}, drawn
            await marker.hover()
            await expect(page.locator(".leaflet-tooltip")).to_contain_text("impossible speed")

            # --- the list: why, in words; AIS text literally
            def item(kind: str) -> Any:
                return page.locator(f'#alerts li.alert[data-kind="{kind}"]')

            await expect(item("position_anomaly").locator(".alert-detail")).to_have_text(
                "impossible speed · 212 nm from its track")
            await expect(item("position_anomaly").locator(".alert-name")).to_have_text(ODD_NAME)
            await expect(item("identity_change").locator(".alert-detail")).to_have_text(
                f"name ANGARA → {ODD_NAME}; MMSI {ANGARA.mmsi} → 620999999; flag RU → KM")
            await expect(item("draught_change").locator(".alert-detail")).to_have_text(
                "draught 6.1 → 9.8 m, while dark")
            await expect(item("gnss_interference").locator(".alert-detail")).to_have_text("12 vessels")
            await expect(item("gnss_interference").locator(".alert-name")).to_have_text("off Rajin")
            assert await page.locator("#alerts b, #map b, .leaflet-tooltip b").count() == 0

            # --- the kind filter hides the drawing with the alert
            await page.select_option("#filter-kind", "draught_change")
            await expect(marker).to_have_count(0)
            await expect(line).to_have_count(0)
            await page.select_option("#filter-kind", "")
            await expect(marker).to_have_count(1)
            INTEGRITY_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(INTEGRITY_SCREENSHOT))
            assert page_errors == [], page_errors
            assert outside == [], f"the page reached beyond loopback: {outside}"
        code, _ = await serve.stop()
        assert code == 0, serve.tail()


# ------------------------------------------------------------------------------ encounters, loitering
PARTNER = Ship(mmsi=352222222, name="TANKER <9> & \"O'NEIL\"", imo=None, call_sign="TNK9", destination="")
MEETING = (41.5, 132.2)
ENCOUNTER_SCREENSHOT = REPO / "test-results" / "dashboard-encounter.png"
FIX_EVERY = 10  # minutes between the seeded fixes
MET_AT = 4 * 60  # minutes after the first fix the two pass the meeting point (mid-encounter)


def fix_position(side: int, minutes: int) -> tuple[float, float]:
    """Where a seeded ship was `minutes` after the first fix: the latitude says when (to read the drawn
    window back), the longitude which ship: side by side (300 m apart) through the meeting point."""
    return MEETING[0] + (minutes - MET_AT) / 2000, MEETING[1] + (0.002 if side else -0.002)


def encounter_drafts(start: datetime, end: datetime) -> list[AlertDraft]:
    """An encounter of ANGARA (watched) with PARTNER, and two loitering spells, as the encounters stage
    words them (ais_watch/detectors/encounters.py)."""
    partner = {"mmsi": PARTNER.mmsi, "imo": None, "name": PARTNER.name, "flag": "PA", "ship_type": 80,
               "watched": False, "why": None}
    return [
        AlertDraft(kind="encounter", occurred_at=end, event_key=f"{PARTNER.mmsi}|{iso(start)}",
                   mmsi=ANGARA.mmsi, imo=ANGARA.imo, vessel_name=ANGARA.name,
                   place="at sea, 40 nm E of Rajin", lat=MEETING[0], lon=MEETING[1],
                   details={"partner": partner, "start": iso(start), "end": iso(end),
                            "duration_seconds": (end - start).total_seconds(), "min_distance_m": 310.4,
                            "median_distance_m": 380.0, "median_speed_kn": 0.4, "lat": MEETING[0],
                            "lon": MEETING[1], "shore_distance_nm": 45.3,
                            "nearest_port": {"name": "Rajin", "distance_nm": 40.2}, "flag": "RU"}),
        AlertDraft(kind="loitering", occurred_at=end - timedelta(hours=3), event_key="alone",
                   mmsi=273777777, vessel_name="LONER", lat=40.0, lon=133.0,
                   details={"start": iso(start - timedelta(hours=9)),
                            "end": iso(start - timedelta(hours=3.8)),
                            "duration_seconds": 5.2 * 3600, "neighbours": [], "others_seen": False,
                            "shore_distance_nm": 60.0, "nearest_port": None}),
        AlertDraft(kind="loitering", occurred_at=end - timedelta(hours=4), event_key="company",
                   mmsi=273888888, vessel_name="DRIFTER", lat=40.5, lon=133.5,
                   details={"start": iso(start - timedelta(hours=9)), "end": None,
                            "duration_seconds": 4.5 * 3600, "neighbours": [412333333], "others_seen": True,
                            "shore_distance_nm": 30.0, "nearest_port": None}),
    ]


async def test_an_encounter_in_a_real_browser(tmp_path: Path) -> None:
    """An encounter alert says who met whom, how long and how close; selected, it draws both ships' tracks
    over its window (an hour either side, nothing outside it) with the meeting point marked, the partner's
    AIS name as text. Loitering says how long and whether anyone was near."""
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'encounter.db'}"
    config = tmp_path / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')
    page_errors: list[str] = []
    outside: list[str] = []
    first = (now() - timedelta(hours=9)).replace(second=0, microsecond=0)
    start, end = first + timedelta(hours=3), first + timedelta(hours=5, minutes=30)  # 2.5 h together
    minutes = range(0, 9 * 60, FIX_EVERY)  # every 10 minutes for 9 hours: well beyond the window
    async with (Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed):
        async with engine_on(db_url) as engine:
            async with engine.begin() as conn:
                await conn.execute(vessels.insert(), [
                    {"mmsi": ANGARA.mmsi, "mmsi_valid": True, "name": ANGARA.name, "imo": ANGARA.imo},
                    {"mmsi": PARTNER.mmsi, "mmsi_valid": True, "name": PARTNER.name, "imo": None},
                    {"mmsi": 273777777, "mmsi_valid": True, "name": "LONER", "imo": None},
                    {"mmsi": 273888888, "mmsi_valid": True, "name": "DRIFTER", "imo": None}])
            await insert_positions(engine, [
                {"mmsi": mmsi, "time": first + timedelta(minutes=m),
                 **dict(zip(("lat", "lon"), fix_position(side, m), strict=True))}
                for side, mmsi in enumerate((ANGARA.mmsi, PARTNER.mmsi)) for m in minutes])
            await AlertStore(engine, cooldown=0).raise_alerts(encounter_drafts(start, end))
        serve.env = serve_env(db_url, config, feed.port)
        token = await asyncio.to_thread(cli_token, serve.env, db_url)
        await serve.start()
        base = await serve.api_base()
        async with loopback_page(async_api, outside) as page:
            expect.set_options(timeout=STEP)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            await sign_in(page, expect, base, token)
            await expect(page.locator("#alerts li.alert")).to_have_count(3)

            # --- the list, in words; the partner's name as it came
            def item(kind: str) -> Any:
                return page.locator(f'#alerts li.alert[data-kind="{kind}"]')

            met = item("encounter")
            await expect(met.locator(".alert-detail")).to_have_text(
                f"met {PARTNER.name} ({PARTNER.mmsi}) · 2.5 h · 310 m")
            await expect(met.locator(".alert-name")).to_have_text(ANGARA.name)
            await expect(item("loitering").locator(".alert-detail")).to_have_text(
                ["slow 5.2 h · no vessel within 2 km", "slow 4.5 h so far · 1 vessel within 2 km"])

            # --- before it is selected: the meeting point only, no tracks
            await expect(page.locator("#map path.encounter-meeting")).to_have_count(1)
            await expect(page.locator("#map path.encounter-track")).to_have_count(0)

            # --- selected: both tracks over the window, the meeting point on top, the watched ship's panel
            await met.locator(".alert-name").click()
            await expect(page.locator("#map path.encounter-track-watched")).to_have_count(1)
            await expect(page.locator("#map path.encounter-track-partner")).to_have_count(1)
            await expect(page.locator("#map path.encounter-point")).to_have_count(1)
            await expect(page.locator("#vessel-name")).to_have_text(ANGARA.name)
            await expect(page.locator("#map path.track")).to_have_count(0)  # its window, not the last 7 days
            drawn = await page.evaluate("""() => {
                const found = {};
                state.map.eachLayer((layer) => {
                    const cls = ((layer.options || {}).className || "").split(" ");
                    for (const side of ["watched", "partner"])
                        if (cls.includes("encounter-track-" + side) && layer.getLatLngs)
                            found[side] = layer.getLatLngs().map((p) => [p.lat, p.lng]);
                    if (cls.includes("encounter-point"))
                        found.point = [layer.getLatLng().lat, layer.getLatLng().lng];
                });
                return found; }""")
            assert drawn["point"] == list(MEETING), drawn
            # An hour either side of the encounter, every fix in it and none outside.
            window = [m for m in minutes if start - timedelta(hours=1) <= first + timedelta(minutes=m)
                      <= end + timedelta(hours=1)]
            for side, name in enumerate(("watched", "partner")):
                expected = [list(fix_position(side, m)) for m in window]
                got = [[pytest.approx(lat), pytest.approx(lon)] for lat, lon in drawn[name]]
                assert got == expected, name
            # The map shows them: the meeting point is inside the view.
            inside = await page.evaluate(f"state.map.getBounds().contains([{MEETING[0]}, {MEETING[1]}])")
            assert inside is True
            await page.locator("#map path.encounter-point").hover()
            await expect(page.locator(".leaflet-tooltip")).to_contain_text(f"ANGARA met {PARTNER.name}")
            assert await page.locator("#alerts b, #map b, .leaflet-tooltip b").count() == 0
            ENCOUNTER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ENCOUNTER_SCREENSHOT))

            # --- another alert selected: the encounter's tracks go
            await item("loitering").first.locator(".alert-name").click()
            await expect(page.locator("#vessel-name")).to_have_text("LONER")
            await expect(page.locator("#map path.encounter-track")).to_have_count(0)
            await expect(page.locator("#map path.encounter-meeting")).to_have_count(1)
            assert page_errors == [], page_errors
            assert outside == [], f"the page reached beyond loopback: {outside}"
        code, _ = await serve.stop()
        assert code == 0, serve.tail()


# ------------------------------------------------------------------------------------------ incidents
INCIDENT_SCREENSHOT = REPO / "test-results" / "dashboard-incident.png"
INCIDENT_NOTE = "tasked <b>imagery</b> & called the agent"


def voyage_drafts(t: datetime) -> list[AlertDraft]:
    """Three alerts of ANGARA's one voyage (one incident), and a port call of another ship (another)."""
    def angara(kind: str, hours: float, key: str, place: str) -> AlertDraft:
        return AlertDraft(kind=kind, occurred_at=t - timedelta(hours=hours), event_key=key, place=place,
                          mmsi=ANGARA.mmsi, imo=ANGARA.imo, vessel_name=ANGARA.name, lat=BERTH[0],
                          lon=BERTH[1])

    return [
        angara("zone_entry", 20, "v1", "kp-rajin"),
        angara("port_call", 12, "v2", "Rajin"),
        angara("port_departure", 2, "v3", "Rajin"),
        AlertDraft(kind="port_call", occurred_at=t - timedelta(hours=5), event_key="o1", place="Nakhodka",
                   mmsi=HOSTILE.mmsi, vessel_name=HOSTILE_NAME, lat=42.8, lon=132.9),
    ]


async def test_an_incident_groups_three_alerts_and_acknowledging_it_acknowledges_them(tmp_path: Path) -> None:
    """Three alerts of one ship's voyage show as one incident row with its alerts beneath; acknowledging the
    incident (with a note) acknowledges all three and leaves another ship's alert open; an owner is set;
    the note, with markup in it, is shown as text."""
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'incident.db'}"
    config = tmp_path / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')
    page_errors: list[str] = []
    outside: list[str] = []
    async with (Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(LIMIT), nmea_feed() as feed,
                aiohttp.ClientSession() as http):
        async with engine_on(db_url) as engine:
            rows = await AlertStore(engine, cooldown=0).raise_alerts(voyage_drafts(now()))
        voyage = {r["incident_id"] for r in rows if r["mmsi"] == ANGARA.mmsi}
        assert len(voyage) == 1
        (incident_id,) = voyage
        serve.env = serve_env(db_url, config, feed.port)
        token = await asyncio.to_thread(cli_token, serve.env, db_url)
        await serve.start()
        base = await serve.api_base()
        async with loopback_page(async_api, outside) as page:
            expect.set_options(timeout=STEP)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            await sign_in(page, expect, base, token)

            # --- one row per incident, the voyage's three alerts beneath its row, newest first
            await expect(page.locator("#alerts li.alert")).to_have_count(4)
            await expect(page.locator("#alerts > li.incident")).to_have_count(2)
            row = page.locator(f'#alerts > li.incident[data-incident-id="{incident_id}"]')
            await expect(row.locator("ul.incident-alerts > li.alert")).to_have_count(3)
            await expect(row.locator(".incident-title")).to_have_text("ANGARA")
            await expect(row.locator(".incident-meta")).to_contain_text("3 alerts")
            await expect(row).to_have_attribute("data-state", "open")
            kinds = await row.locator("li.alert").evaluate_all(
                "(items) => items.map((li) => li.dataset.kind)")
            assert kinds == ["port_departure", "port_call", "zone_entry"], kinds
            first = await page.locator("#alerts > li").first.get_attribute("data-incident-id")
            assert first == str(incident_id), "the voyage's latest alert is the newest in the feed"

            # --- acknowledge the incident, with a note: its three alerts with it, the other ship's not
            await row.locator("input.incident-note").fill(INCIDENT_NOTE)
            await row.locator("button.incident-ack").click()
            await expect(row).to_have_attribute("data-state", "acknowledged")
            await expect(row.locator('li.alert[data-state="acknowledged"]')).to_have_count(3)
            await expect(row.locator("button.incident-ack")).to_be_hidden()
            other = page.locator(f'#alerts li.alert[data-kind="port_call"]:not([data-id="{rows[1]["id"]}"])')
            await expect(other).to_have_attribute("data-state", "open")
            await expect(row.locator(".incident-notes li")).to_contain_text(INCIDENT_NOTE)
            assert await page.locator("#alerts b").count() == 0  # the note's markup is text

            # --- an owner
            await row.locator("input.incident-owner").fill("desk 3")
            await row.locator("button.incident-assign").click()
            await expect(row.locator(".incident-meta")).to_contain_text("owner desk 3")

            # --- what the service has: the incident and each alert acknowledged by the token's holder
            one = await get_json(http, base, token, f"/api/incidents/{incident_id}")
            assert one["incident"]["state"] == "acknowledged" and one["incident"]["owner"] == "desk 3"
            assert [n["text"] for n in one["incident"]["notes"]] == [INCIDENT_NOTE]
            assert [(a["state"], a["incident_id"]) for a in one["alerts"]] == [
                ("acknowledged", incident_id)] * 3
            for a in one["alerts"]:
                review = (await get_json(http, base, token, f"/api/alerts/{a['id']}"))["review"]
                assert review["acknowledged_by"] == "e2e" and review["ack_note"] == INCIDENT_NOTE

            # --- the state filter: the acknowledged incident goes with its alerts
            await page.select_option("#filter-state", "open")
            await expect(row).to_have_count(0)
            await expect(page.locator("#alerts > li.incident")).to_have_count(1)
            await page.select_option("#filter-state", "")
            await expect(page.locator("#alerts > li.incident")).to_have_count(2)
            INCIDENT_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(INCIDENT_SCREENSHOT))

            # --- the token revoked from the CLI (another process): the open page is signed out, says why
            await asyncio.to_thread(cli_child, serve.env, db_url, "token", "revoke", "e2e")
            await expect(page.locator("#signin-form")).to_be_visible()
            await expect(page.locator("#signin-error")).to_contain_text("revoked or has expired")
            await expect(page.locator("#app")).to_be_hidden()
            assert page_errors == [], page_errors
            assert outside == [], f"the page reached beyond loopback: {outside}"
        code, _ = await serve.stop()
        assert code == 0, serve.tail()
