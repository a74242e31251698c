"""Notifiers against a real aiohttp server on 127.0.0.1 standing in for Slack and a webhook receiver:
delivery, signatures, error mapping, Slack escaping and limits, the file notifier, and configuration."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ais_watch.alerts.model import Severity, alert_json
from ais_watch.alerts.notifiers import (
    FileNotifier,
    NotifierFilter,
    SlackNotifier,
    WebhookNotifier,
    notifiers_from_settings,
    verify_signature,
)
from ais_watch.alerts.notifiers.base import RESPONSE_SNIPPET
from ais_watch.alerts.notifiers.http import parse_retry_after
from ais_watch.alerts.notifiers.slack import FIELD_MAX, FIELDS_MAX, HEADER_MAX, format_duration, slack_message
from ais_watch.config import ConfigError, load_settings
from tests.helpers.receiver import Receiver, receiver_server
from tests.helpers.serve import free_port

MAP_URL = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=10/{lat}/{lon}"
SECRET = "s3cret-webhook-key"
HOSTILE = '<!channel> & <@U123> "x"'
LIMIT = 10  # seconds any one test may take


def make_alert(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 42,
        "kind": "port_call",
        "severity": int(Severity.HIGH),
        "mmsi": 273350140,
        "imo": 9045211,
        "vessel_name": "ANGARA",
        "place": "Rajin",
        "occurred_at": datetime(2023, 9, 12, 14, 5, 31, tzinfo=UTC),
        "raised_at": datetime(2023, 9, 12, 14, 6, 2, tzinfo=UTC),
        "lat": 42.2412345,
        "lon": 130.298761,
        "state": "open",
        "details": {"flag": "RU", "duration_seconds": 5 * 3600 + 12 * 60, "destination": "RAJIN"},
    }
    row.update(overrides)
    return alert_json(row)


# --- the loopback receiver ------------------------------------------------------------------------------
async def answer_by_path(path: str) -> web.StreamResponse:
    """Each path is one way a receiver answers."""
    match path:
        case "/ok":
            return web.Response(text="ok")
        case "/500":
            return web.Response(status=500, text="rollup_error")
        case "/429":
            return web.Response(status=429, text="rate limited", headers={"Retry-After": "7"})
        case "/503-date":
            when = datetime.now(UTC) + timedelta(seconds=120)
            return web.Response(status=503, text="maintenance",
                                headers={"Retry-After": format_datetime(when, usegmt=True)})
        case "/503-long":
            return web.Response(status=503, headers={"Retry-After": "86400"})
        case "/404":
            return web.Response(status=404, text="no_service")
        case "/400":
            return web.Response(status=400, text="invalid_payload")
        case "/302":
            return web.Response(status=302, headers={"Location": "/ok"})
        case "/big":
            return web.Response(status=500, text="x" * 50_000)
        case "/slow":
            await asyncio.sleep(2)
            return web.Response(text="too late")
    return web.Response(status=404)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """Here the receiver answers by path (conftest's answers from a script)."""
    async with receiver_server(rec=Receiver(answer=answer_by_path)) as rec:
        yield rec


@pytest.fixture
def closed_port() -> int:
    return free_port()


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)


def slack_texts(message: dict[str, Any]) -> list[str]:
    """Every text Slack renders: the fallback, the header and each field."""
    texts = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(f["text"] for f in block.get("fields", []))
    return texts


def field_texts(message: dict[str, Any]) -> dict[str, str]:
    """Field label -> value, from the '*Label*\\nvalue' mrkdwn fields."""
    out = {}
    for block in message["blocks"]:
        for f in block.get("fields", []):
            label, _, value = f["text"].partition("\n")
            out[label.strip("*")] = value
    return out


# --- webhook --------------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_webhook_delivers_signed_alert_byte_for_byte(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        alert = make_alert(vessel_name="ПРИМОРЬЕ", details={"note": "ünïcode"})
        notifier = WebhookNotifier("hook", receiver.url("/ok"), SECRET, NotifierFilter(), timeout=5)
        try:
            result = await notifier.send(alert, "delivery-key-1")
        finally:
            await notifier.close()
        assert result.ok and result.status == 200 and result.response == "ok"
        assert not result.permanent and result.retry_after is None

        got = receiver.last()
        assert got.body == json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode()
        assert json.loads(got.body) == alert
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["X-AIS-Watch-Delivery"] == "delivery-key-1"
        assert got.headers["Idempotency-Key"] == "delivery-key-1"
        ts = got.headers["X-AIS-Watch-Timestamp"]
        sig = got.headers["X-AIS-Watch-Signature"]
        assert ts.isdigit() and abs(int(ts) - datetime.now(UTC).timestamp()) < 60
        assert re.fullmatch(r"sha256=[0-9a-f]{64}", sig)

        assert verify_signature(SECRET, ts, got.body, sig)
        assert not verify_signature("wrong-secret", ts, got.body, sig)
        assert not verify_signature(SECRET, ts, got.body.replace(b"42", b"43"), sig)
        assert not verify_signature(SECRET, ts, got.body + b" ", sig)
        assert not verify_signature(SECRET, str(int(ts) + 1), got.body, sig)  # timestamp is signed
        assert not verify_signature(SECRET, ts, got.body, sig, now=int(ts) + 301)  # replayed later
        assert verify_signature(SECRET, ts, got.body, sig, now=int(ts) + 299)
        assert not verify_signature(SECRET, ts, got.body, sig, now=int(ts) - 301)  # from the future
        assert not verify_signature(SECRET, "not-a-number", got.body, sig)
        assert not verify_signature(SECRET, ts, got.body, "")
        assert not verify_signature("", ts, got.body, sig)


@pytest.mark.integration
async def test_webhook_without_secret_is_unsigned(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = WebhookNotifier("hook", receiver.url("/ok"), None, NotifierFilter(), timeout=5)
        try:
            assert (await notifier.send(make_alert(), "k")).ok
        finally:
            await notifier.close()
        headers = receiver.last().headers
        assert "X-AIS-Watch-Signature" not in headers
        assert headers["X-AIS-Watch-Delivery"] == "k"


@pytest.mark.integration
async def test_webhook_gets_hostile_name_unchanged(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        alert = make_alert(vessel_name=HOSTILE, place="<b>Rajin</b> & co")
        notifier = WebhookNotifier("hook", receiver.url("/ok"), SECRET, NotifierFilter(), timeout=5)
        try:
            assert (await notifier.send(alert, "k")).ok
        finally:
            await notifier.close()
        received = json.loads(receiver.last().body)
        assert received["vessel_name"] == HOSTILE
        assert received["place"] == "<b>Rajin</b> & co"


@pytest.mark.parametrize("kind", ["webhook", "slack"])
@pytest.mark.integration
async def test_http_500_is_retryable(receiver: Receiver, kind: str) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = _http_notifier(kind, receiver.url("/500"))
        try:
            result = await notifier.send(make_alert(), "k")
        finally:
            await notifier.close()
        assert not result.ok and result.status == 500 and not result.permanent
        assert result.response == "rollup_error" and result.retry_after is None


@pytest.mark.integration
async def test_http_429_retry_after_seconds(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = _http_notifier("slack", receiver.url("/429"))
        try:
            result = await notifier.send(make_alert(), "k")
        finally:
            await notifier.close()
        assert not result.ok and result.status == 429 and not result.permanent
        assert result.retry_after == 7.0


@pytest.mark.integration
async def test_http_503_retry_after_date_and_cap(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = _http_notifier("webhook", receiver.url("/503-date"))
        try:
            dated = await notifier.send(make_alert(), "k")
            notifier._url = receiver.url("/503-long")
            long = await notifier.send(make_alert(), "k")
        finally:
            await notifier.close()
        assert not dated.ok and dated.status == 503 and not dated.permanent
        assert dated.retry_after is not None and 100 <= dated.retry_after <= 121
        assert long.retry_after == 3600.0


@pytest.mark.unit
def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("99999") == 3600.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True),
                             now=now.timestamp()) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True),
                             now=now.timestamp()) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("path", ["/404", "/400", "/302"])
@pytest.mark.integration
async def test_http_4xx_and_redirect_are_permanent(receiver: Receiver, path: str) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = _http_notifier("webhook", receiver.url(path))
        try:
            result = await notifier.send(make_alert(), "k")
        finally:
            await notifier.close()
        assert not result.ok and result.permanent and result.status == int(path[1:])
        assert [r.path for r in receiver.requests] == [path]  # the redirect was not followed


@pytest.mark.integration
async def test_long_error_body_is_cut_to_snippet(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = _http_notifier("webhook", receiver.url("/big"))
        try:
            result = await notifier.send(make_alert(), "k")
        finally:
            await notifier.close()
        assert result.status == 500 and result.response == "x" * RESPONSE_SNIPPET


@pytest.mark.parametrize("kind", ["webhook", "slack"])
@pytest.mark.integration
async def test_timeout(receiver: Receiver, kind: str) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = _http_notifier(kind, receiver.url("/slow"), timeout=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            result = await notifier.send(make_alert(), "k")
        finally:
            await notifier.close()
        assert loop.time() - started < 1.5
        assert not result.ok and result.status is None and not result.permanent
        assert "timeout" in result.response and "0.2" in result.response


@pytest.mark.parametrize("kind", ["webhook", "slack"])
@pytest.mark.integration
async def test_connection_refused(closed_port: int, kind: str) -> None:
    async with asyncio.timeout(LIMIT):
        url = f"http://127.0.0.1:{closed_port}/services/T000/B000/SECRETPATH"
        notifier = _http_notifier(kind, url)
        try:
            result = await notifier.send(make_alert(), "k")
        finally:
            await notifier.close()
        assert not result.ok and result.status is None and not result.permanent
        assert result.response == "connection refused"
        assert "SECRETPATH" not in repr(result) and str(closed_port) not in result.response
        assert "SECRETPATH" not in repr(notifier)


@pytest.mark.integration
async def test_session_is_reopened_after_close(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = _http_notifier("webhook", receiver.url("/ok"))
        try:
            assert (await notifier.send(make_alert(), "a")).ok
            await notifier.close()
            await notifier.close()  # twice is fine
            assert (await notifier.send(make_alert(), "b")).ok
        finally:
            await notifier.close()
        assert len(receiver.requests) == 2


def _http_notifier(kind: str, url: str, timeout: float = 5.0) -> SlackNotifier | WebhookNotifier:
    if kind == "slack":
        return SlackNotifier("slack", url, NotifierFilter(), timeout=timeout, map_url=MAP_URL)
    return WebhookNotifier("hook", url, SECRET, NotifierFilter(), timeout=timeout)


# --- Slack ----------------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_slack_delivery_escapes_hostile_name(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        alert = make_alert(vessel_name=HOSTILE, place="Rajin <!here>",
                           details={"flag": "<!everyone>", "destination": "<@U999|boss>", "gap_seconds": 60})
        notifier = SlackNotifier("slack", receiver.url("/ok"), NotifierFilter(), timeout=5, map_url=MAP_URL)
        try:
            result = await notifier.send(alert, "k")
        finally:
            await notifier.close()
        assert result.ok and result.status == 200

        got = receiver.last()
        assert got.headers["Content-Type"].startswith("application/json")
        assert b"<!channel>" not in got.body and b"<@U123>" not in got.body
        payload = json.loads(got.body)
        assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in json.dumps(payload, ensure_ascii=False)
        texts = slack_texts(payload)
        for text in all_strings(payload):
            for raw in ("<!channel>", "<@U123>", "<!here>", "<!everyone>", "<@U999"):
                assert raw not in text
        # The only raw '<' anywhere is our own map link.
        for text in texts:
            link_free = re.sub(r"<https://www\.openstreetmap\.org/[^<>|]*\|[-0-9., ]+>", "", text)
            assert "<" not in link_free and ">" not in link_free
        fields = field_texts(payload)
        assert fields["Vessel"] == '&lt;!channel&gt; &amp; &lt;@U123&gt; "x"'
        assert fields["Flag"] == "&lt;!everyone&gt;"
        assert fields["Destination"] == "&lt;@U999|boss&gt;"
        assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in payload["blocks"][0]["text"]["text"]
        assert "&lt;!channel&gt;" in payload["text"]
        for block in payload["blocks"]:
            for f in block.get("fields", []):
                assert f["type"] == "mrkdwn" and f["verbatim"] is True


@pytest.mark.unit
def test_slack_message_content() -> None:
    alert = make_alert(details={"flag": "RU", "gap_seconds": 3 * 86400 + 4 * 3600 + 59,
                                "duration_seconds": 5 * 3600 + 12 * 60})
    message = slack_message(alert, MAP_URL)
    header = message["blocks"][0]
    assert header == {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                                 "text": "HIGH · Port call: ANGARA at Rajin"}}
    fields = field_texts(message)
    assert fields["Vessel"] == "ANGARA"
    assert fields["IMO"] == "9045211"
    assert fields["MMSI"] == "273350140"
    assert fields["Flag"] == "RU"
    assert fields["Place"] == "Rajin"
    assert fields["Time"] == "2023-09-12 14:05 UTC"
    assert fields["Position"] == ("<https://www.openstreetmap.org/?mlat=42.2412&amp;mlon=130.2988"
                                  "#map=10/42.2412/130.2988|42.2412, 130.2988>")
    assert fields["AIS gap"] == "3 d 4 h"
    assert fields["Duration"] == "5 h 12 min"
    assert fields["Alert"] == "#42"
    assert message["text"] == "HIGH · Port call: ANGARA at Rajin · 2023-09-12 14:05 UTC"
    assert message["unfurl_links"] is False


@pytest.mark.unit
def test_slack_message_sparse_alerts() -> None:
    dark = slack_message(make_alert(kind="went_dark", vessel_name=None, place=None, imo=None, lat=None,
                                    lon=None, details={"gap_seconds": 7200}), MAP_URL)
    assert dark["blocks"][0]["text"]["text"] == "HIGH · Went dark: MMSI 273350140"
    fields = field_texts(dark)
    assert "Position" not in fields and "Vessel" not in fields and "IMO" not in fields
    assert fields["AIS gap"] == "2 h 0 min"

    outage = slack_message(make_alert(kind="feed_outage", severity=int(Severity.MEDIUM), mmsi=None,
                                      imo=None, vessel_name=None, place="aisstream", lat=None, lon=None,
                                      details={}), MAP_URL)
    assert outage["blocks"][0]["text"]["text"] == "MEDIUM · Feed outage: aisstream"

    departure = slack_message(make_alert(kind="port_departure", severity=int(Severity.MEDIUM)), MAP_URL)
    assert departure["blocks"][0]["text"]["text"] == "MEDIUM · Port departure: ANGARA from Rajin"


@pytest.mark.unit
def test_format_duration() -> None:
    assert format_duration(3 * 86400 + 4 * 3600 + 1800) == "3 d 4 h"
    assert format_duration(86400) == "1 d 0 h"
    assert format_duration(3 * 3600 + 5 * 60) == "3 h 5 min"
    assert format_duration(59 * 60 + 59) == "59 min"
    assert format_duration(12) == "12 s"
    assert format_duration("bogus") is None


@pytest.mark.unit
def test_slack_limits_with_a_500_char_name() -> None:
    name = ("<&>" * 200)[:499] + "Z"  # escapes to more than FIELD_MAX characters
    assert len(name) == 500
    alert = make_alert(vessel_name=name, place="P" * 300 + "&",
                       details={"flag": "F" * 3000, "destination": "D" * 500, "gap_seconds": 100_000,
                                "duration_seconds": 4000})
    message = slack_message(alert, MAP_URL)
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= HEADER_MAX
    assert header.startswith("HIGH · Port call: &lt;&amp;&gt;")
    assert header.endswith("…")  # the place keeps its own share of the header
    assert " at PPPP" in header
    fields = message["blocks"][1]["fields"]
    assert len(fields) <= FIELDS_MAX
    for f in fields:
        assert len(f["text"]) <= FIELD_MAX
    for text in slack_texts(message):
        # Cut only between entities: with the entities and our link removed, no control character is left.
        rest = re.sub(r"&(amp|lt|gt);", "", text)
        rest = re.sub(r"<https://[^<>|]*\|[-0-9., ]+>", "", rest)
        assert not set("&<>") & set(rest), text
    vessel = field_texts(message)["Vessel"]
    assert vessel.startswith("&lt;&amp;&gt;") and vessel.endswith("…")
    assert len(field_texts(message)["Flag"]) < FIELD_MAX
    # Eleven candidate fields: the least important one (the destination) is dropped.
    assert "Destination" not in field_texts(message)
    assert "Alert" in field_texts(message)


# --- encounters and loitering ---------------------------------------------------------------------------
PARTNER_NAME = 'TANKER <9> & "CO" <!here>'  # AIS text of the other ship: Slack must show it, not act on it


def encounter_alert(end: str | None = "2023-09-12T16:35:31Z", **partner: Any) -> dict[str, Any]:
    """An encounter alert as the encounters stage words it (ais_watch/detectors/encounters.py)."""
    return make_alert(kind="encounter", place="at sea, 40 nm E of Chongjin", details={
        "partner": {"mmsi": 352222222, "imo": 9300001, "name": PARTNER_NAME, "flag": "PA", "ship_type": 80,
                    "watched": True, "why": {"reason": "UN PoE <2023> & OFAC", "source": "csv"}, **partner},
        "start": "2023-09-12T14:05:31Z", "end": end, "duration_seconds": 2.5 * 3600, "min_distance_m": 310.4,
        "median_distance_m": 380.0, "median_speed_kn": 0.4, "lat": 41.5, "lon": 132.2,
        "shore_distance_nm": 45.3, "nearest_port": {"name": "Chongjin", "distance_nm": 60.1}, "flag": "RU",
        "watchlist": {"reason": "sanctioned"}})


def without_our_link(text: str) -> str:
    return re.sub(r"<https://www\.openstreetmap\.org/[^<>|]*\|[-0-9., ]+>", "", text)


@pytest.mark.unit
def test_slack_encounter_names_the_partner_escaped() -> None:
    message = slack_message(encounter_alert(), MAP_URL)
    fields = field_texts(message)
    assert fields["Partner"] == ('TANKER &lt;9&gt; &amp; "CO" &lt;!here&gt; · MMSI 352222222 · IMO 9300001'
                                 " · PA · watched: UN PoE &lt;2023&gt; &amp; OFAC")
    assert fields["Together"] == "2 h 30 min, closest 310 m"
    assert fields["Position"].endswith(" · 45 nm from shore")
    assert "Duration" not in fields  # said as "Together"
    assert fields["Vessel"] == "ANGARA" and fields["Flag"] == "RU" and fields["Alert"] == "#42"
    assert len(message["blocks"][1]["fields"]) <= FIELDS_MAX
    assert message["blocks"][0]["text"]["text"] == "HIGH · Encounter: ANGARA, at sea, 40 nm E of Chongjin"
    for text in slack_texts(message):
        assert "<" not in without_our_link(text) and ">" not in without_our_link(text), text
    for text in all_strings(message):
        assert "<!here>" not in text

    # Still together: the duration so far; a partner no static report named, not watched.
    ongoing = field_texts(slack_message(encounter_alert(end=None, name=None, imo=None, flag=None,
                                                        watched=False, why=None), MAP_URL))
    assert ongoing["Together"] == "2 h 30 min so far, closest 310 m"
    assert ongoing["Partner"] == "MMSI 352222222"


@pytest.mark.unit
def test_slack_loitering_says_who_else_was_near() -> None:
    def loitering(**details: Any) -> dict[str, str]:
        return field_texts(slack_message(make_alert(kind="loitering", details={
            "start": "2023-09-12T09:00:00Z", "end": None, "duration_seconds": 5 * 3600 + 12 * 60,
            "neighbours": [], "others_seen": False, "shore_distance_nm": 42.0, "flag": "RU", **details}),
            MAP_URL))

    alone = loitering(neighbour_km=2.0)
    assert alone["Slow for"] == "5 h 12 min so far"
    assert alone["Nearby"] == "no vessel within 2 km"
    assert alone["Position"].endswith(" · 42 nm from shore")
    assert "Duration" not in alone
    one = loitering(neighbours=[412333333], others_seen=True, neighbour_km=2.0, end="2023-09-12T15:00:00Z")
    assert one["Nearby"] == "1 vessel within 2 km: 412333333"
    assert one["Slow for"] == "5 h 12 min"
    assert loitering(neighbours=[1, 2])["Nearby"] == "2 vessels nearby: 1, 2"  # radius unsaid: not guessed
    assert loitering(neighbours=["<!channel>"])["Nearby"] == "1 vessel nearby: &lt;!channel&gt;"


@pytest.mark.integration
async def test_encounter_partner_reaches_a_webhook_unchanged_and_slack_escaped(receiver: Receiver) -> None:
    async with asyncio.timeout(LIMIT):
        alert = encounter_alert()
        webhook = WebhookNotifier("hook", receiver.url("/ok"), SECRET, NotifierFilter(), timeout=5)
        slack = SlackNotifier("slack", receiver.url("/ok"), NotifierFilter(), timeout=5, map_url=MAP_URL)
        try:
            assert (await webhook.send(alert, "k1")).ok
            received = json.loads(receiver.last().body)
            assert (await slack.send(alert, "k2")).ok
            posted = receiver.last().body
        finally:
            await webhook.close()
            await slack.close()
        assert received["details"]["partner"]["name"] == PARTNER_NAME
        assert received == json.loads(json.dumps(alert))
        assert b"<!here>" not in posted and b"<2023>" not in posted
        partner = field_texts(json.loads(posted))["Partner"]
        assert partner.startswith('TANKER &lt;9&gt; &amp; "CO" &lt;!here&gt; · MMSI 352222222'), partner


# --- file -----------------------------------------------------------------------------------------------


@pytest.mark.unit
async def test_file_notifier_appends_json_lines(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT):
        path = tmp_path / "alerts.jsonl"
        notifier = FileNotifier("log", path, NotifierFilter())
        alerts = [make_alert(id=1), make_alert(id=2, vessel_name=HOSTILE),
                  make_alert(id=3, details={"a": "é"})]
        for alert in alerts:
            result = await notifier.send(alert, f"k{alert['id']}")
            assert result.ok
        await notifier.close()
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == alerts

        # Append, not overwrite: a second notifier on the same file adds to it.
        again = FileNotifier("log2", str(path), NotifierFilter())
        assert (await again.send(make_alert(id=4), "k4")).ok
        assert len(path.read_text(encoding="utf-8").splitlines()) == 4


@pytest.mark.unit
async def test_file_notifier_concurrent_sends_do_not_interleave(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT):
        path = tmp_path / "alerts.jsonl"
        notifier = FileNotifier("log", path, NotifierFilter())
        results = await asyncio.gather(*(notifier.send(make_alert(id=i), str(i)) for i in range(50)))
        assert all(r.ok for r in results)
        ids = sorted(json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines())
        assert ids == list(range(50))


@pytest.mark.unit
async def test_file_notifier_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    async with asyncio.timeout(LIMIT):
        notifier = FileNotifier("stdout", "-", NotifierFilter())
        assert (await notifier.send(make_alert(), "k")).ok
        assert json.loads(capsys.readouterr().out) == make_alert()


@pytest.mark.unit
async def test_file_notifier_reports_unwritable_paths(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT):
        missing = FileNotifier("log", tmp_path / "no-such-dir" / "alerts.jsonl", NotifierFilter())
        result = await missing.send(make_alert(), "k")
        assert not result.ok and result.status is None
        assert "No such file or directory" in result.response

        a_dir = FileNotifier("log", tmp_path, NotifierFilter())
        result = await a_dir.send(make_alert(), "k")
        assert not result.ok and "Is a directory" in result.response


# --- configuration --------------------------------------------------------------------------------------

SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/XyZsecretToken"
HOOK_URL = "https://receiver.example.org/ais?token=hush-hush"


@pytest.mark.unit
def test_env_settings_make_slack_and_webhook_notifiers() -> None:
    settings = load_settings(environ={"AIS_WATCH_SLACK_WEBHOOK_URL": SLACK_URL,
                                      "AIS_WATCH_WEBHOOK_URL": HOOK_URL,
                                      "AIS_WATCH_WEBHOOK_SECRET": SECRET,
                                      "AIS_WATCH_ALERTS_HTTP_TIMEOUT": "3.5"})
    slack, hook = notifiers_from_settings(settings)
    assert isinstance(slack, SlackNotifier) and slack.name == "slack" and slack.type == "slack"
    assert slack.min_interval == 1.0 and slack.filter == NotifierFilter()
    assert slack.map_url == settings["alerts.map_url"]
    assert isinstance(hook, WebhookNotifier) and hook.name == "webhook" and hook.type == "webhook"
    assert hook.min_interval == 0 and hook.filter == NotifierFilter()
    assert hook._secret == SECRET and hook._http.timeout == 3.5 and slack._http.timeout == 3.5
    assert SLACK_URL not in repr(slack) and HOOK_URL not in repr(hook) and SECRET not in repr(hook)
    assert notifiers_from_settings(load_settings(environ={})) == []


@pytest.mark.unit
def test_tables_from_config_file(tmp_path: Path) -> None:
    config = tmp_path / "ais-watch.toml"
    config.write_text(f"""
[[notifiers]]
type = "slack"
name = "ops"
url = "{SLACK_URL}"
kinds = ["port_call", "possible_dark_port_call"]
min_severity = "high"
tags = ["sanctioned"]

[[notifiers]]
type = "webhook"
url = "{HOOK_URL}"
secret = "{SECRET}"
zones = ["rajin", "nampo"]

[[notifiers]]
type = "file"
path = "-"
""", encoding="utf-8")
    settings = load_settings(config, environ={"AIS_WATCH_SLACK_WEBHOOK_URL": SLACK_URL})
    ops, hook, log, slack = notifiers_from_settings(settings)
    assert (ops.name, ops.type) == ("ops", "slack")
    assert ops.filter == NotifierFilter(kinds=frozenset({"port_call", "possible_dark_port_call"}),
                                        min_severity=Severity.HIGH, tags=frozenset({"sanctioned"}))
    assert (hook.name, hook.type) == ("webhook-2", "webhook")
    assert hook.filter == NotifierFilter(zones=frozenset({"rajin", "nampo"}))
    assert isinstance(log, FileNotifier) and (log.name, log.path) == ("file-3", "-")
    assert log.filter == NotifierFilter()
    assert slack.name == "slack" and slack.filter == NotifierFilter()

    f = ops.filter
    assert f.matches("port_call", Severity.HIGH, ["sanctioned", "tanker"], [])
    assert f.matches("possible_dark_port_call", Severity.CRITICAL, ("sanctioned",), ())
    assert not f.matches("went_dark", Severity.CRITICAL, ["sanctioned"], [])  # kind
    assert not f.matches("port_call", Severity.MEDIUM, ["sanctioned"], [])  # severity
    assert not f.matches("port_call", Severity.HIGH, ["tanker"], [])  # tags
    assert not f.matches("port_call", Severity.HIGH, [], [])
    z = hook.filter
    assert z.matches("zone_entry", Severity.INFO, [], ["nampo"])
    assert not z.matches("zone_entry", Severity.CRITICAL, ["sanctioned"], ["vladivostok"])
    assert not z.matches("zone_entry", Severity.CRITICAL, [], [])
    assert log.filter.matches("feed_restored", Severity.INFO, [], [])


def _tables(*tables: dict[str, Any], **env: str):
    return load_settings(environ=env).with_overrides(notifiers=list(tables))


BAD_TABLES = [
    ({"type": "slack", "name": "ops", "url": SLACK_URL, "kind": ["port_call"]},
     "notifiers[1] (name 'ops'): unknown key 'kind'"),
    ({"type": "slack", "name": "ops", "url": "ftp://hooks.slack.com/XyZsecretToken"},
     "notifiers[1] (name 'ops'): 'url' must be an http(s) URL"),
    ({"type": "webhook", "name": "ops", "url": "hooks.slack.com/services/XyZsecretToken"},
     "notifiers[1] (name 'ops'): 'url' must be an http(s) URL"),
    ({"type": "webhook", "name": "ops", "url": 12345}, "'url' must be an http(s) URL"),
    ({"type": "slack", "name": "ops"}, "notifiers[1] (name 'ops'): 'url' is required for type 'slack'"),
    ({"name": "ops", "url": SLACK_URL}, "notifiers[1] (name 'ops'): 'type' is required"),
    ({"type": "pager", "url": SLACK_URL}, "notifiers[1]: unknown type 'pager'"),
    ({"type": "slack", "name": "ops", "url": SLACK_URL, "kinds": ["port_call", "port_cal"]},
     "notifiers[1] (name 'ops'): unknown kind 'port_cal' in 'kinds'"),
    ({"type": "slack", "url": SLACK_URL, "kinds": "port_call"}, "notifiers[1]: 'kinds' must be a list"),
    ({"type": "slack", "url": SLACK_URL, "min_severity": "urgent"},
     "notifiers[1]: 'min_severity': unknown severity 'urgent'"),
    ({"type": "slack", "url": SLACK_URL, "min_severity": 40}, "'min_severity' must be a string"),
    ({"type": "slack", "url": SLACK_URL, "tags": "sanctioned"}, "notifiers[1]: 'tags' must be a list"),
    ({"type": "slack", "url": SLACK_URL, "zones": []}, "notifiers[1]: 'zones' must not be empty"),
    ({"type": "slack", "url": SLACK_URL, "secret": SECRET}, "key 'secret' does not apply to type 'slack'"),
    ({"type": "webhook", "url": HOOK_URL, "path": "x.jsonl"}, "key 'path' does not apply to type 'webhook'"),
    ({"type": "file", "url": HOOK_URL, "path": "x"}, "key 'url' does not apply to type 'file'"),
    ({"type": "file", "name": "log"}, "notifiers[1] (name 'log'): 'path' is required"),
    ({"type": "file", "path": ""}, "'path' must be a non-empty string"),
    ({"type": "webhook", "url": HOOK_URL, "secret": 123456}, "'secret' must be a string"),
    ({"type": "webhook", "name": "", "url": HOOK_URL}, "notifiers[1]: 'name' must be a non-empty string"),
    ({"type": "webhook", "name": "n" * 65, "url": HOOK_URL}, "'name' is longer than 64 characters"),
]


@pytest.mark.parametrize(("table", "expected"), BAD_TABLES)
@pytest.mark.unit
def test_bad_table_is_named_and_leaks_nothing(table: dict[str, Any], expected: str) -> None:
    good = {"type": "file", "name": "first", "path": "-"}
    with pytest.raises(ConfigError) as info:
        notifiers_from_settings(_tables(table))
    message = str(info.value)
    assert expected in message
    # As the second table it is named notifiers[2].
    with pytest.raises(ConfigError) as second:
        notifiers_from_settings(_tables(good, table))
    assert expected.replace("notifiers[1]", "notifiers[2]") in str(second.value)
    for text in (message, str(second.value)):
        for secret in ("XyZsecretToken", "hush-hush", SECRET, "hooks.slack.com", "receiver.example.org"):
            assert secret not in text


@pytest.mark.unit
def test_duplicate_names() -> None:
    with pytest.raises(ConfigError, match=r"duplicate notifier name 'slack'") as info:
        notifiers_from_settings(_tables({"type": "slack", "name": "slack", "url": SLACK_URL},
                                        AIS_WATCH_SLACK_WEBHOOK_URL=SLACK_URL))
    assert "notifiers[1]" in str(info.value) and "slack_webhook_url" in str(info.value)
    assert "XyZsecretToken" not in str(info.value)
    both = r"duplicate notifier name 'ops': notifiers\[1\] and notifiers\[3\]"
    with pytest.raises(ConfigError, match=both):
        notifiers_from_settings(_tables({"type": "file", "name": "ops", "path": "-"},
                                        {"type": "file", "path": "-"},
                                        {"type": "webhook", "name": "ops", "url": HOOK_URL}))
    # A default name can clash too, and is reported the same way.
    with pytest.raises(ConfigError, match=r"duplicate notifier name 'file-2'"):
        notifiers_from_settings(_tables({"type": "file", "name": "file-2", "path": "-"},
                                        {"type": "file", "path": "-"}))


@pytest.mark.parametrize(("env", "setting"), [
    ({"AIS_WATCH_SLACK_WEBHOOK_URL": "hooks.slack.com/services/XyZsecretToken"}, "slack_webhook_url"),
    ({"AIS_WATCH_WEBHOOK_URL": "file:///etc/hush-hush"}, "webhook_url"),
])
@pytest.mark.unit
def test_bad_plain_urls(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=f"setting '{setting}': must be an http\\(s\\) URL") as info:
        notifiers_from_settings(load_settings(environ=env))
    assert "XyZsecretToken" not in str(info.value) and "hush-hush" not in str(info.value)
