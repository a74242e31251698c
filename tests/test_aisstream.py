"""aisstream.io source: JSON conversion, and the websocket client against a real local websocket server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from ais_watch.config import DEFAULT_BOUNDING_BOXES, load_settings
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport
from ais_watch.sources.aisstream import AisstreamSource, parse_frame, parse_time_utc, reports_from_aisstream
from ais_watch.sources.replay import file_reports
from tests.helpers.aisstream import (
    class_b_report,
    extended_class_b_report,
    long_range_report,
    position_report,
    ship_static_data,
    static_data_report,
)
from tests.helpers.waiting import wait_for

RECEIVED = datetime(2030, 1, 1, tzinfo=UTC)  # wall clock at receipt, deliberately far from event times


def convert(obj: Any) -> tuple[list[Report], IngestStats]:
    stats = IngestStats()
    return reports_from_aisstream(obj, RECEIVED, "aisstream", stats), stats


# -------------------------------------------------------------------------------------- conversion
@pytest.mark.unit
def test_position_report() -> None:
    reports, stats = convert(position_report())
    assert len(reports) == 1
    r = reports[0]
    assert isinstance(r, PositionReport)
    assert r.time == datetime(2023, 5, 10, 11, 46, 52, 509865, tzinfo=UTC)
    assert (r.mmsi, r.lat, r.lon) == (273355410, 43.10215, 131.87993)
    assert (r.sog, r.cog, r.heading) == (11.3, 204.6, 203)
    assert (r.nav_status, r.msg_type, r.accuracy, r.mmsi_valid) == (0, 1, True, True)
    assert (r.source, r.received_at, r.payload, r.station) == ("aisstream", RECEIVED, None, None)
    assert (stats.messages, stats.decoded, stats.rejects, stats.flags) == (1, 1, {}, {})


@pytest.mark.unit
def test_position_report_message_id_3_kept() -> None:
    reports, _ = convert(position_report(MessageID=3, NavigationalStatus=5))
    assert (reports[0].msg_type, reports[0].nav_status) == (3, 5)


@pytest.mark.unit
def test_standard_class_b() -> None:
    reports, stats = convert(class_b_report())
    (r,) = reports
    assert isinstance(r, PositionReport)
    assert (r.msg_type, r.mmsi, r.lat, r.lon, r.sog, r.cog) == (18, 440123450, 35.08933, 129.04512, 6.1, 88.4)
    assert r.heading is None  # 511
    assert r.nav_status is None  # class B has no navigational status
    assert r.accuracy is False
    assert r.time == datetime(2024, 2, 1, 3, 4, 5, 0, tzinfo=UTC)  # 1 ns truncated, not rounded
    assert stats.decoded == 1


@pytest.mark.unit
def test_extended_class_b_gives_position_and_static() -> None:
    reports, stats = convert(extended_class_b_report())
    assert [type(r) for r in reports] == [PositionReport, StaticReport]
    pos, static = reports
    assert (pos.msg_type, pos.heading, pos.cog, pos.sog) == (19, 310, 312.0, 8.0)
    assert isinstance(static, StaticReport)
    assert static.msg_type == 19 and static.part is None
    assert (static.name, static.ship_type) == ("SOKOL", 30)
    assert (static.to_bow, static.to_stern, static.to_port, static.to_starboard) == (12, 8, 3, 2)
    assert static.time == pos.time == datetime(2024, 2, 1, 3, 4, 6, tzinfo=UTC)
    assert static.payload is None
    assert (stats.messages, stats.decoded) == (1, 1)


@pytest.mark.unit
def test_long_range() -> None:
    (r,), _ = convert(long_range_report())
    assert isinstance(r, PositionReport)
    assert (r.msg_type, r.sog, r.cog, r.heading, r.nav_status) == (27, 12.0, 97.0, None, 0)
    assert r.time == datetime(2024, 2, 1, 3, 4, 7, 250000, tzinfo=UTC)
    # Type 27 has 6-bit speed (63 = not available) and 9-bit course (511 = not available).
    (na,), _ = convert(long_range_report(sog=63, cog=511))
    assert (na.sog, na.cog) == (None, None)


@pytest.mark.unit
def test_ship_static_data() -> None:
    (r,), stats = convert(ship_static_data())
    assert isinstance(r, StaticReport)
    assert (r.msg_type, r.mmsi) == (5, 352001234)
    assert (r.name, r.call_sign, r.destination) == ("SEA STAR", "3FXY5", "NAMPO")
    assert (r.imo, r.imo_valid, r.ship_type, r.draught) == (9179842, True, 70, 9.8)
    assert (r.to_bow, r.to_stern, r.to_port, r.to_starboard) == (150, 40, 16, 16)
    assert r.time == datetime(2023, 5, 10, 11, 47, 1, 123, tzinfo=UTC)
    assert stats.flags == {}


@pytest.mark.unit
def test_ship_static_data_bad_imo_flagged() -> None:
    (r,), stats = convert(ship_static_data(imo=9179843))
    assert (r.imo, r.imo_valid) == (9179843, False)
    assert stats.flags == {"invalid_imo": 1}
    (r0,), stats0 = convert(ship_static_data(imo=0))
    assert (r0.imo, r0.imo_valid) == (None, None)  # 0 = no IMO sent: not an invalid one
    assert stats0.flags == {}


@pytest.mark.parametrize("part_number", [False, 0])
@pytest.mark.unit
def test_static_data_report_part_a(part_number: bool | int) -> None:
    (r,), _ = convert(static_data_report(part_number))
    assert isinstance(r, StaticReport)
    assert (r.msg_type, r.part, r.name) == (24, "A", "MIRAE 2")
    assert (r.call_sign, r.ship_type, r.to_bow) == (None, None, None)
    assert r.identity_fields() == {"name": "MIRAE 2"}


@pytest.mark.parametrize("part_number", [True, 1])
@pytest.mark.unit
def test_static_data_report_part_b(part_number: bool | int) -> None:
    (r,), _ = convert(static_data_report(part_number))
    assert isinstance(r, StaticReport)
    assert (r.msg_type, r.part, r.name, r.call_sign, r.ship_type) == (24, "B", None, "DSQR7", 37)
    assert (r.to_bow, r.to_stern, r.to_port, r.to_starboard) == (9, 6, 2, 3)
    assert r.time == datetime(2024, 2, 1, 3, 4, 8, 500000, tzinfo=UTC)


@pytest.mark.unit
def test_not_available_speed_course_heading() -> None:
    (r,), stats = convert(position_report(sog=102.3, cog=360, heading=511))
    assert (r.sog, r.cog, r.heading) == (None, None, None)
    assert stats.decoded == 1


@pytest.mark.parametrize(("lat", "lon", "reason"), [
    (91, 131.8, "no_position"),
    (43.1, 181, "no_position"),
    (91, 181, "no_position"),
    (0, 0, "no_position"),
    (95.5, 131.8, "impossible_position"),
    (43.1, -200.0, "impossible_position"),
])
@pytest.mark.unit
def test_positions_rejected(lat: float, lon: float, reason: str) -> None:
    reports, stats = convert(position_report(lat=lat, lon=lon))
    assert reports == []
    assert stats.rejects == {reason: 1}
    assert (stats.messages, stats.decoded) == (1, 0)


@pytest.mark.unit
def test_invalid_mmsi_kept_but_flagged() -> None:
    (r,), stats = convert(position_report(mmsi=111111111))
    assert (r.mmsi, r.mmsi_valid) == (111111111, False)
    assert stats.flags == {"invalid_mmsi": 1}


@pytest.mark.unit
def test_hostile_name_kept_literally() -> None:
    (r,), _ = convert(ship_static_data(name='<!channel> & "x"   '))
    assert r.name == '<!channel> & "x"'


@pytest.mark.unit
def test_blank_name_is_none() -> None:
    (r,), _ = convert(ship_static_data(name="@@@@@@@@@@@@@@@@@@@@"))
    assert r.name is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-05-10 11:46:52.509865357 +0000 UTC", datetime(2023, 5, 10, 11, 46, 52, 509865, tzinfo=UTC)),
    ("2023-05-10 11:46:52.5 +0000 UTC", datetime(2023, 5, 10, 11, 46, 52, 500000, tzinfo=UTC)),
    ("2023-05-10 11:46:52 +0000 UTC", datetime(2023, 5, 10, 11, 46, 52, tzinfo=UTC)),
    ("2023-05-10 11:46:52.509865357 +0000 UTC m=+293.995127367",
     datetime(2023, 5, 10, 11, 46, 52, 509865, tzinfo=UTC)),
    ("2023-05-10T11:46:52Z", datetime(2023, 5, 10, 11, 46, 52, tzinfo=UTC)),
    ("2023-05-10T11:46:52.123456789Z", datetime(2023, 5, 10, 11, 46, 52, 123456, tzinfo=UTC)),
    ("2023-05-10T20:46:52+09:00", datetime(2023, 5, 10, 11, 46, 52, tzinfo=UTC)),
    ("2023-05-10 02:46:52 -0900 UTC", datetime(2023, 5, 10, 11, 46, 52, tzinfo=UTC)),
    ("2023-13-10 11:46:52 +0000 UTC", None),
    ("yesterday", None),
    ("", None),
    (1683719212, None),
    (None, None),
])
@pytest.mark.unit
def test_parse_time_utc(text: Any, expected: datetime | None) -> None:
    assert parse_time_utc(text) == expected


@pytest.mark.parametrize("time_utc", ["not a time", None])
@pytest.mark.unit
def test_missing_or_bad_event_time_falls_back_to_receipt(time_utc: str | None) -> None:
    obj = position_report()
    if time_utc is None:
        del obj["MetaData"]["time_utc"]
    else:
        obj["MetaData"]["time_utc"] = time_utc
    (r,), stats = convert(obj)
    assert r.time == RECEIVED
    assert stats.flags == {"no_event_time": 1}


def _without(obj: dict[str, Any], *path: str) -> dict[str, Any]:
    target = obj
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return obj


def _with(obj: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


@pytest.mark.parametrize("obj", [
    [1, 2, 3],
    "PositionReport",
    None,
    {},
    {"MessageType": 1},
    _without(position_report(), "MetaData"),
    _without(position_report(), "Message"),
    _with(position_report(), [], "Message"),
    _without(position_report(), "Message", "PositionReport"),
    _with(position_report(), "x", "Message", "PositionReport"),
    _without(position_report(), "Message", "PositionReport", "Latitude"),
    _with(position_report(), "43.1", "Message", "PositionReport", "Latitude"),
    _with(position_report(), True, "Message", "PositionReport", "Longitude"),
    _with(position_report(), float("nan"), "Message", "PositionReport", "Latitude"),
    _with(position_report(), "fast", "Message", "PositionReport", "Sog"),
    _with(position_report(), 12.5, "Message", "PositionReport", "TrueHeading"),
    _with(_without(position_report(), "Message", "PositionReport", "UserID"), None, "MetaData", "MMSI"),
    _with(position_report(), {"id": 1}, "Message", "PositionReport", "UserID"),
    _with(ship_static_data(), 7, "Message", "ShipStaticData", "Name"),
    _with(ship_static_data(), [1, 2], "Message", "ShipStaticData", "Dimension"),
    _without(static_data_report(True), "Message", "StaticDataReport", "PartNumber"),
    _with(static_data_report(True), "B", "Message", "StaticDataReport", "PartNumber"),
    _without(static_data_report(False), "Message", "StaticDataReport", "ReportA"),
])
@pytest.mark.unit
def test_malformed_objects_counted_never_raise(obj: Any) -> None:
    reports, stats = convert(obj)
    assert reports == []
    assert stats.rejects == {"malformed_json": 1}
    assert stats.flags == {}  # nothing else counted for a message that was not read
    assert (stats.messages, stats.decoded) == (1, 0)


@pytest.mark.unit
@pytest.mark.parametrize("frame", [
    "[" * 100_000,  # nesting past the recursion limit: json raised RecursionError
    '{"MessageType": ' + "[" * 5_000 + "]" * 5_000 + "}",
    "1" * 5_000,  # an integer past int()'s 4,300 digits: json raised a plain ValueError
    '{"MessageType": "PositionReport", "MetaData": {"MMSI": ' + "9" * 5_000 + "}}",
    b"\xff\xfe\x00",  # not UTF-8 (nor UTF-16)
    "[1, 2]", "null",  # JSON, but not an object
], ids=["deep-array", "deep-value", "digits", "digits-in-object", "bytes", "array", "null"])
def test_frames_json_refuses_are_none_never_raise(frame: str | bytes) -> None:
    """Found by tests/test_fuzz_aisstream.py: both escaped the websocket source (a reconnect each) and the
    replay of JSON lines (the whole file lost)."""
    assert parse_frame(frame) is None


@pytest.mark.unit
def test_replay_counts_frames_json_refuses_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    path.write_text("\n".join(["[" * 100_000, json.dumps(position_report(mmsi=273355410)), "1" * 5_000,
                               json.dumps(ship_static_data())]) + "\n")
    stats = IngestStats()
    reports = [r for _, rs in file_reports(path, "aisstream", "replay", {}, stats) for r in rs]
    assert [r.mmsi for r in reports] == [273355410, 352001234]
    assert stats.rejects == {"malformed_json": 2}
    assert stats.lines == 4


@pytest.mark.unit
def test_mmsi_from_metadata_when_user_id_missing() -> None:
    (r,), _ = convert(_without(position_report(mmsi=273355410), "Message", "PositionReport", "UserID"))
    assert r.mmsi == 273355410


@pytest.mark.unit
def test_unknown_message_type_counted() -> None:
    obj = {"Message": {"BaseStationReport": {"UserID": 4401234, "Latitude": 35.1, "Longitude": 129.0}},
           "MessageType": "BaseStationReport",
           "MetaData": {"MMSI": 4401234, "time_utc": "2023-05-10 11:46:52 +0000 UTC"}}
    reports, stats = convert(obj)
    assert reports == []
    assert (stats.other_types, stats.messages, stats.decoded, stats.rejects) == (1, 1, 0, {})


# ------------------------------------------------------------------------- the websocket source
Behaviour = Callable[[ServerConnection, int], Awaitable[None]]


@dataclass
class FakeAisstream:
    """A local websocket server speaking aisstream.io's protocol; each connection runs `behaviour`."""

    behaviour: Behaviour
    port: int = 0
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    subscribed_at: list[float] = field(default_factory=list)  # time.monotonic()
    closed: list[asyncio.Event] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)

    async def handler(self, ws: ServerConnection) -> None:
        index = len(self.closed)
        closed = asyncio.Event()
        self.closed.append(closed)
        self.close_codes.append(None)
        try:
            async with asyncio.timeout(2):
                first = await ws.recv()
            self.subscriptions.append(json.loads(first))
            self.subscribed_at.append(time.monotonic())
            await self.behaviour(ws, index)
        finally:
            with contextlib.suppress(Exception):
                await ws.wait_closed()
            self.close_codes[index] = ws.close_code
            closed.set()


@contextlib.asynccontextmanager
async def fake_aisstream(behaviour: Behaviour):
    fake = FakeAisstream(behaviour)
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        fake.port = server.sockets[0].getsockname()[1]
        yield fake


def settings_for(port: int, **overrides: Any):
    values: dict[str, Any] = {
        "reconnect__initial_delay": 0.05, "reconnect__max_delay": 0.2,
        "aisstream__idle_timeout": 1.0,  # the registry's minimum
        "aisstream__api_key": "k", "aisstream__url": f"ws://127.0.0.1:{port}",
    }
    values.update(overrides)
    return load_settings(environ={}).with_overrides(**values)


@contextlib.asynccontextmanager
async def running(source: AisstreamSource):
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def collector() -> tuple[list[Report], Callable[[Report], Awaitable[None]]]:
    received: list[Report] = []

    async def emit(report: Report) -> None:
        received.append(report)

    return received, emit


async def serve_forever(ws: ServerConnection, index: int) -> None:
    await ws.wait_closed()


@pytest.mark.integration
async def test_subscribes_and_emits_reports() -> None:
    hostile = '<!channel> & "x"'

    async def behaviour(ws: ServerConnection, index: int) -> None:
        await ws.send(json.dumps(position_report()))
        await ws.send(json.dumps(ship_static_data(name=hostile)))
        await ws.send(json.dumps(extended_class_b_report()).encode())  # binary frames are JSON too
        await ws.wait_closed()

    async with asyncio.timeout(10), fake_aisstream(behaviour) as fake:
        received, emit = collector()
        stats = IngestStats()
        source = AisstreamSource(settings_for(fake.port, aisstream__api_key="key-123"), emit, stats)
        assert not source.connected
        async with running(source):
            await wait_for(lambda: len(received) == 4, 3.0, "4 reports")
            assert source.connected
            assert source.status.connects == 1
            assert source.status.last_message_at is not None
        assert fake.subscriptions == [{"APIKey": "key-123", "BoundingBoxes": DEFAULT_BOUNDING_BOXES}]
        assert [type(r).__name__ for r in received] == [
            "PositionReport", "StaticReport", "PositionReport", "StaticReport"]
        assert received[0].time == datetime(2023, 5, 10, 11, 46, 52, 509865, tzinfo=UTC)
        assert received[0].source == "aisstream"
        assert received[1].name == hostile
        assert (stats.messages, stats.decoded) == (3, 3)
        # Cancelling closed the socket properly: a "going away" close frame, not a dropped connection.
        async with asyncio.timeout(3):
            await fake.closed[0].wait()
        assert fake.close_codes[0] == 1001
        assert not source.connected


@pytest.mark.integration
async def test_subscription_carries_filters_as_strings() -> None:
    async with asyncio.timeout(10), fake_aisstream(serve_forever) as fake:
        boxes = [[[38.0, 124.0], [40.5, 126.0]]]
        settings = settings_for(fake.port, aisstream__bounding_boxes=boxes,
                                aisstream__mmsi_filter=[445999001, "273355410"],
                                aisstream__message_types=["PositionReport", "ShipStaticData"])
        source = AisstreamSource(settings, collector()[1], IngestStats())
        async with running(source):
            await wait_for(lambda: len(fake.subscriptions) == 1, 3.0, "the subscription")
        assert fake.subscriptions[0] == {
            "APIKey": "k", "BoundingBoxes": boxes, "FiltersShipMMSI": ["445999001", "273355410"],
            "FilterMessageTypes": ["PositionReport", "ShipStaticData"]}


@pytest.mark.integration
async def test_malformed_messages_counted_and_stream_continues() -> None:
    async def behaviour(ws: ServerConnection, index: int) -> None:
        await ws.send("{not json")
        await ws.send(b"\xff\xfe")  # not UTF-8
        await ws.send("[" * 100_000)  # deeper than json's recursion limit: it raised, and we reconnected
        await ws.send(json.dumps(_without(position_report(), "Message", "PositionReport", "Latitude")))
        await ws.send(json.dumps(position_report(mmsi=273355410)))
        await ws.wait_closed()

    async with asyncio.timeout(10), fake_aisstream(behaviour) as fake:
        received, emit = collector()
        stats = IngestStats()
        source = AisstreamSource(settings_for(fake.port), emit, stats)
        async with running(source):
            await wait_for(lambda: len(received) == 1, 3.0, "1 report")
            await asyncio.sleep(0.05)
            assert source.connected
        assert received[0].mmsi == 273355410
        assert stats.rejects == {"malformed_json": 4}
        assert (stats.messages, stats.decoded) == (2, 1)
        assert len(fake.subscriptions) == 1  # no reconnect because of bad messages


@pytest.mark.integration
async def test_reconnects_after_server_closes() -> None:
    async def behaviour(ws: ServerConnection, index: int) -> None:
        if index == 0:
            await ws.send(json.dumps(position_report(mmsi=273355410)))
            return  # server closes the connection mid-stream
        await ws.send(json.dumps(position_report(mmsi=352001234)))
        await ws.wait_closed()

    async with asyncio.timeout(10), fake_aisstream(behaviour) as fake:
        received, emit = collector()
        source = AisstreamSource(settings_for(fake.port), emit, IngestStats())
        async with running(source):
            await wait_for(lambda: len(received) == 2, 3.0, "2 reports")
            assert source.status.connects == 2
            assert source.status.disconnects == 1
            assert source.status.last_error is not None
        assert [r.mmsi for r in received] == [273355410, 352001234]
        assert len(fake.subscriptions) == 2
        assert fake.subscriptions[1] == fake.subscriptions[0]


@pytest.mark.integration
async def test_refused_subscription_logged_and_backed_off(caplog: pytest.LogCaptureFixture) -> None:
    key = "secret-key-4f3a9c"
    initial = 0.3

    async def behaviour(ws: ServerConnection, index: int) -> None:
        if index < 2:
            await ws.send(json.dumps({"error": "Api Key Is Not Valid"}))
            await ws.wait_closed()  # the client must close; aisstream.io would too
            return
        await ws.send(json.dumps(position_report()))
        await ws.wait_closed()

    caplog.set_level(logging.DEBUG, logger="ais_watch")
    async with asyncio.timeout(10), fake_aisstream(behaviour) as fake:
        received, emit = collector()
        settings = settings_for(fake.port, aisstream__api_key=key, reconnect__initial_delay=initial,
                                reconnect__max_delay=5.0)
        source = AisstreamSource(settings, emit, IngestStats())
        async with running(source):
            await wait_for(lambda: len(fake.subscriptions) >= 2, 5, "a second subscription")
            assert "Api Key Is Not Valid" in (source.status.last_error or "")
            await wait_for(lambda: len(received) == 1, 5, "1 report")
        gap1 = fake.subscribed_at[1] - fake.subscribed_at[0]
        gap2 = fake.subscribed_at[2] - fake.subscribed_at[1]
        assert gap1 >= initial - 0.01
        assert gap2 >= initial - 0.01  # second refusal: still at least the initial delay, not hammered
        assert fake.subscriptions[0]["APIKey"] == key  # sent to the server...
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("refused the subscription: Api Key Is Not Valid" in r.getMessage() for r in errors)
    assert all(key not in r.getMessage() for r in caplog.records)  # ...but never logged


@pytest.mark.integration
async def test_idle_connection_dropped_and_reopened() -> None:
    async with asyncio.timeout(10), fake_aisstream(serve_forever) as fake:
        source = AisstreamSource(settings_for(fake.port), collector()[1], IngestStats())
        async with running(source):
            await wait_for(lambda: len(fake.subscriptions) == 2, 4, "a second subscription")
            await wait_for(lambda: fake.closed[0].is_set(), 3.0, "the first connection to close")
            assert source.status.disconnects >= 1
            assert "no message" in (source.status.last_error or "")
        gap = fake.subscribed_at[1] - fake.subscribed_at[0]
        assert 1.0 - 0.05 <= gap < 2.5
        assert fake.close_codes[0] == 1000  # the client closed it, not the server


@pytest.mark.integration
async def test_steady_traffic_is_not_idle() -> None:
    async def behaviour(ws: ServerConnection, index: int) -> None:
        for _ in range(8):  # a message every 0.25 s for 2 s: always inside the 1 s idle timeout
            await ws.send(json.dumps(position_report()))
            await asyncio.sleep(0.25)
        await ws.wait_closed()

    async with asyncio.timeout(10), fake_aisstream(behaviour) as fake:
        received, emit = collector()
        source = AisstreamSource(settings_for(fake.port), emit, IngestStats())
        async with running(source):
            await wait_for(lambda: len(received) == 8, 5, "8 reports")
            assert source.status.connects == 1
            assert source.status.disconnects == 0
        assert len(fake.subscriptions) == 1


@pytest.mark.integration
async def test_unreachable_server_keeps_retrying() -> None:
    async with fake_aisstream(serve_forever) as fake:
        port = fake.port  # a port that was free a moment ago and is now closed
    async with asyncio.timeout(10):
        source = AisstreamSource(settings_for(port), collector()[1], IngestStats())
        async with running(source) as task:
            await wait_for(lambda: source.status.last_error is not None, 3.0, "an error in the status")
            await asyncio.sleep(0.3)
            assert not task.done()
            assert not source.connected
            assert source.status.connects == 0
        assert task.cancelled()
