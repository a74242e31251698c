"""Place names for events at sea: every alert a watched ship raises at sea reads "at sea, 35 nm SE of Rajin"
(the nearest port, the distance and the compass point from it), not the nearest port's name alone nor
nothing, in the alert's `place`, in Slack and in the dashboard. A zone alert keeps the zone as its place
and says where in it (`details.where`); a possible dark port call names its port.

The voyage (tests/helpers/voyage.py) is replayed through the real pipeline. Each place is checked against
the geofences' own port reference points with a great-circle distance and bearing computed here."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.helpers.browser import STEP, loopback_page, playwright_or_skip, sign_in
from tests.helpers.cli import cli, jsonl, summary_value
from tests.helpers.paths import REPO
from tests.helpers.receiver import Receiver
from tests.helpers.serve import Serve, child_env, cli_token, nmea_feed
from tests.helpers.voyage import AT_SEA_KINDS, PORT_KINDS, TERRITORIAL_SEA, ZONE_KINDS, write_voyage

AT_SEA = re.compile(r"at sea, (\d[\d,]*) nm (N|NE|E|SE|S|SW|W|NW) of ([A-Z][A-Za-z -]+)")
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def port_points() -> dict[str, tuple[float, float]]:
    """Each bundled port's reference point (lat, lon), from the geofence files."""
    points = {}
    for path in (REPO / "geofences").glob("*_ports.geojson"):
        for feature in json.loads(path.read_text())["features"]:
            props = feature["properties"]
            if props.get("kind") == "port":
                lon, lat = props["ref_point"]
                points[props["name"]] = (lat, lon)
    return points


def haversine_nm(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 3440.065 * math.asin(math.sqrt(h))


def compass_from(port: tuple[float, float], at: tuple[float, float]) -> str:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (port, at))
    x = math.sin(lon2 - lon1) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return COMPASS[round((math.degrees(math.atan2(x, y)) % 360) / 45) % 8]


def assert_placed_at_sea(text: str | None, at: tuple[float, float],
                         ports: dict[str, tuple[float, float]]) -> None:
    """`text` says "at sea, N nm DIR of PORT" and it is true of `at`: PORT the nearest port, N its
    distance, DIR the compass point from the port."""
    match = AT_SEA.fullmatch(text or "")
    assert match, f"{text!r} does not say where at sea"
    miles, direction, name = int(match.group(1).replace(",", "")), match.group(2), match.group(3)
    nearest = min(ports, key=lambda p: haversine_nm(ports[p], at))
    assert name == nearest, (text, nearest)
    assert abs(miles - haversine_nm(ports[name], at)) <= 1, (text, haversine_nm(ports[name], at))
    assert direction == compass_from(ports[name], at), text


def replay_voyage(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                  *extra: str) -> list[dict[str, Any]]:
    """The voyage through `ais-watch replay`; its alerts as `ais-watch alerts --format jsonl` gives them.
    Associations off: the tanker ANGARA meets would become an associated vessel (tests/test_associations.py)
    whose own leaving and silence add alerts of their own; the subject here is ANGARA's places."""
    voyage = write_voyage(tmp_path / "voyage.csv")
    with mock.patch.dict(os.environ, {"AIS_WATCH_ASSOCIATE_DAYS": "0"}):
        code, out, err = cli(capsys, "--db", url, "replay", str(voyage), "--no-progress", *extra)
    assert code == 0, err
    assert summary_value(out, "alerts raised") == len(AT_SEA_KINDS + ZONE_KINDS + PORT_KINDS)
    code, out, err = cli(capsys, "--db", url, "alerts")
    assert code == 0, err
    return jsonl(out)


@pytest.mark.integration
def test_every_alert_at_sea_says_where_it_is_from_the_nearest_port(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alerts = replay_voyage(db_url, tmp_path, capsys)
    by_kind = {a["kind"]: a for a in alerts}
    assert sorted(by_kind) == sorted(AT_SEA_KINDS + ZONE_KINDS + PORT_KINDS)
    ports = port_points()
    for kind in AT_SEA_KINDS:
        alert = by_kind[kind]
        assert_placed_at_sea(alert["place"], (alert["lat"], alert["lon"]), ports)
    for kind in ZONE_KINDS:  # the zone is the place; where in it, in details
        alert = by_kind[kind]
        assert alert["place"] == TERRITORIAL_SEA
        assert_placed_at_sea(alert["details"]["where"], (alert["lat"], alert["lon"]), ports)
    assert by_kind["possible_dark_port_call"]["place"] == "Chongjin"  # a port: its name is the place
    # Silent in the territorial sea and heard again outside it: both at sea, off Chongjin, not "Chongjin".
    assert by_kind["went_dark"]["place"].endswith(" of Chongjin")
    assert by_kind["reappeared"]["place"].endswith(" of Chongjin")


@pytest.mark.integration
async def test_slack_messages_say_where_at_sea(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIS_WATCH_SLACK_WEBHOOK_URL", receiver.url("/slack"))
    alerts = await asyncio.to_thread(replay_voyage, f"sqlite:///{tmp_path / 'x.db'}", tmp_path, capsys,
                                     "--notify")
    sent = {}
    for request in receiver.accepted("/slack"):
        message = request.json()
        fields = {f["text"].split("\n", 1)[0].strip("*"): f["text"].split("\n", 1)[1]
                  for block in message["blocks"] if block["type"] == "section" for f in block["fields"]}
        sent[fields["Alert"]] = (message["blocks"][0]["text"]["text"], fields)
    assert len(sent) == len(alerts)
    for alert in alerts:
        header, fields = sent[f"#{alert['id']}"]
        place = alert["place"]
        assert fields["Place"] == place
        if alert["kind"] in AT_SEA_KINDS:
            assert header.endswith(f": {alert['vessel_name']}, {place}"), header  # no "at at sea"
        else:
            assert header.endswith(f" {place}") and ", at sea" not in header, header
        if alert["kind"] in ZONE_KINDS:
            assert fields["Where"] == alert["details"]["where"] and fields["Where"].startswith("at sea, ")
        else:
            assert "Where" not in fields


@pytest.mark.browser
@pytest.mark.timeout(180)
async def test_the_dashboard_says_where_at_sea(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async_api = playwright_or_skip()
    expect = async_api.expect
    db_url = f"sqlite:///{tmp_path / 'voyage.db'}"
    alerts = await asyncio.to_thread(replay_voyage, db_url, tmp_path, capsys)
    config = tmp_path / "ais-watch.toml"
    config.write_text('[dashboard]\ntile_url = ""\n')
    outside: list[str] = []
    page_errors: list[str] = []
    async with Serve({}, tmp_path / "serve.log") as serve, asyncio.timeout(150), nmea_feed() as feed:
        serve.env = child_env(AIS_WATCH_DB=db_url, AIS_WATCH_CONFIG=str(config), AIS_WATCH_HTTP_PORT="0",
                              AIS_WATCH_DEMO_REPLAY="false", AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}")
        token = await asyncio.to_thread(cli_token, serve.env, db_url, "viewer")
        await serve.start()
        base = await serve.api_base()
        async with loopback_page(async_api, outside) as page:
            expect.set_options(timeout=STEP)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            await sign_in(page, expect, base, token)
            await expect(page.locator("#alerts li.alert")).to_have_count(len(alerts))
            for alert in alerts:
                meta = page.locator(f'#alerts li.alert[data-id="{alert["id"]}"] .alert-meta')
                text = await meta.inner_text()
                parts = text.split(" · ")
                assert parts[0] == alert["place"], text
                if alert["kind"] in ZONE_KINDS:  # the zone, then where in it
                    assert parts[1] == alert["details"]["where"] and parts[1].startswith("at sea, "), text
                else:
                    assert not any(p.startswith("at sea, ") for p in parts[1:]), text
            assert page_errors == [] and outside == [], (page_errors, outside)
        code, _ = await serve.stop()
        assert code == 0, serve.tail()
