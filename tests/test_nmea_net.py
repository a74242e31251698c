"""NmeaTcpSource / NmeaUdpSource over real sockets on 127.0.0.1 (port 0), fed real NMEA lines."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from ais_watch.config import load_settings
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport, from_epoch
from ais_watch.sources.nmea_net import NmeaTcpSource, NmeaUdpSource, sources_from_settings
from tests.helpers.nmea import encode, sentence, tag_block

TYPE1 = b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"  # MMSI 371798000
TYPE5_1 = b"!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C"
TYPE5_2 = b"!AIVDM,2,2,1,A,88888888880,2*25"  # MMSI 351759000, EVER DIADEM


TAGGED = tag_block("s:2573345,c:1200000000") + sentence("AIVDM,1,1,,B,15RTgt0PAso;90TKcjM8h6g208CQ,0")


def position(mmsi: int, lat: float = 35.5, lon: float = 129.4) -> bytes:
    """A type 1 position encoded by pyais."""
    (line,) = encode(type=1, mmsi=mmsi, lat=lat, lon=lon, speed=10.0, course=90.0, heading=90)
    return line


def static(mmsi: int, name: str, seq_id: int) -> list[bytes]:
    return encode(seq_id=seq_id, type=5, mmsi=mmsi, shipname=name, callsign="TEST1", imo=9134270)


def settings(idle: float = 30.0):
    return load_settings(environ={}).with_overrides(
        reconnect__initial_delay=0.05, reconnect__max_delay=0.2, nmea__idle_timeout=idle)


class Sink:
    """The emit callable; tests wait on it for a condition."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self._cond = asyncio.Condition()

    async def __call__(self, report: Report) -> None:
        async with self._cond:
            self.reports.append(report)
            self._cond.notify_all()

    async def wait(self, predicate: Callable[[list[Report]], bool]) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: predicate(self.reports))

    async def wait_count(self, n: int) -> None:
        await self.wait(lambda reports: len(reports) >= n)

    @property
    def positions(self) -> list[PositionReport]:
        return [r for r in self.reports if isinstance(r, PositionReport)]

    @property
    def statics(self) -> list[StaticReport]:
        return [r for r in self.reports if isinstance(r, StaticReport)]


class FeedServer:
    """A raw NMEA TCP feed. Connection i plays sessions[i]: write the chunks, then 'close' or 'hold'."""

    def __init__(self, sessions: list[tuple[list[bytes], str]]) -> None:
        self.sessions = sessions
        self.connections = 0
        self.connected_at: list[float] = []
        self.client_closed: list[asyncio.Event] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        self.connected_at.append(time.monotonic())
        closed = asyncio.Event()
        self.client_closed.append(closed)
        self._writers.append(writer)
        chunks, then = self.sessions[index] if index < len(self.sessions) else ([], "hold")
        try:
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
            if then == "close":
                writer.close()
                await writer.wait_closed()
                return
            await reader.read()  # b"" when the client closes
            closed.set()
        except (ConnectionError, OSError):
            closed.set()
        finally:
            writer.close()

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def lines(*items: bytes, end: bytes = b"\n") -> bytes:
    return b"".join(item + end for item in items)


@contextlib.asynccontextmanager
async def running(source: NmeaTcpSource | NmeaUdpSource) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        task.cancel()
        async with asyncio.timeout(2):
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def feed(sessions: list[tuple[list[bytes], str]], idle: float = 30.0):
    server = FeedServer(sessions)
    await server.start()
    stats = IngestStats()
    sink = Sink()
    source = NmeaTcpSource("127.0.0.1", server.port, settings(idle), sink, stats)
    try:
        async with running(source) as task:
            yield server, source, sink, stats, task
    finally:
        await server.stop()


# --------------------------------------------------------------------------- TCP


@pytest.mark.integration
async def test_tcp_positions_and_statics_arrive_with_their_values() -> None:
    chunks = [TYPE1 + b"\r\n", lines(TYPE5_1, TYPE5_2), TAGGED + b"\r\n"]
    async with asyncio.timeout(5), feed([(chunks, "hold")]) as (server, source, sink, stats, _):
        await sink.wait_count(3)
        first, ship, tagged = sink.reports
        assert isinstance(first, PositionReport)
        assert first.mmsi == 371798000
        assert first.lat == pytest.approx(48.38163, abs=1e-5)
        assert first.lon == pytest.approx(-123.39538, abs=1e-5)
        assert (first.sog, first.cog, first.heading, first.msg_type) == (12.3, 224.0, 215, 1)
        assert first.source == f"tcp:127.0.0.1:{server.port}"
        assert abs(datetime.now(UTC) - first.received_at) < timedelta(seconds=5)
        assert first.time == first.received_at  # no time of its own: stamped on receipt
        assert isinstance(ship, StaticReport)
        assert (ship.mmsi, ship.name, ship.call_sign) == (351759000, "EVER DIADEM", "3FOF8")
        assert ship.imo == 9134270
        assert isinstance(tagged, PositionReport)
        assert tagged.station == "2573345"
        assert tagged.time == from_epoch(1200000000)
        assert source.connected and source.status.connects == 1
        assert source.status.last_message_at is not None
        assert stats.rejects == {}
        assert stats.lines == 4


@pytest.mark.integration
async def test_tcp_reconnects_after_the_server_drops_and_reads_on() -> None:
    before = [lines(position(211000001), position(211000002), position(211000003))]
    after = [lines(position(211000004), position(211000005))]
    async with asyncio.timeout(5), feed([(before, "close"), (after, "hold")]) as (server, source, sink, _, _):
        await sink.wait_count(5)
        assert [r.mmsi for r in sink.reports] == [211000001, 211000002, 211000003, 211000004, 211000005]
        assert source.status.connects == 2
        assert source.status.disconnects == 1
        assert server.connections == 2
        assert source.connected
        assert source.status.last_error == "closed by the server"


@pytest.mark.integration
async def test_tcp_pending_part_is_incomplete_and_not_glued_across_connections() -> None:
    first = [lines(position(211000001), TYPE5_1)]
    # The second part of the very same message, on the next connection: it must not complete the first.
    second = [lines(TYPE5_2, position(211000002))]
    async with asyncio.timeout(5), feed([(first, "close"), (second, "hold")]) as (_, source, sink, stats, _):
        await sink.wait(lambda reports: any(r.mmsi == 211000002 for r in reports))
        assert [r.mmsi for r in sink.reports] == [211000001, 211000002]
        assert sink.statics == []
        assert stats.rejects == {"incomplete_multipart": 1, "orphan_fragment": 1}
        assert source.status.connects == 2


@pytest.mark.integration
async def test_tcp_bad_lines_are_counted_by_reason_and_good_lines_around_them_arrive() -> None:
    over_long = b"!AIVDM,1,1,,A," + b"A" * 100_000 + b",0*00"  # its tail alone would be 'not_nmea'
    sent = [
        position(211000001),
        b"hello, this is not NMEA",
        TYPE1[:-2] + b"4B",  # wrong checksum
        position(211000002),
        sentence("AIVDM,2,2,7,A,88888888880,2"),  # second half of a message whose first half never came
        b"!AIVDM,1,1,,A,15RTgt0P\xc3\xa9so;90TKcjM8h6g208CQ,0*4A",  # non-ASCII inside a sentence
        b"\xff\xfe\xfd\xfc",
        position(211000003),
        over_long,
        position(211000004),
        position(211000005, lat=95.0, lon=10.0),  # impossible latitude
        position(211000006),
    ]
    async with asyncio.timeout(5), feed([([lines(*sent)], "hold")]) as (_, source, sink, stats, _):
        await sink.wait(lambda reports: any(r.mmsi == 211000006 for r in reports))
        assert [r.mmsi for r in sink.reports] == [211000001, 211000002, 211000003, 211000004, 211000006]
        assert stats.rejects == {
            "not_nmea": 2,
            "bad_checksum": 1,
            "orphan_fragment": 1,
            "malformed_sentence": 1,
            "line_too_long": 1,
            "impossible_position": 1,
        }
        assert stats.lines == len(sent)
        assert source.status.connects == 1  # nothing above cost the connection


@pytest.mark.integration
async def test_tcp_over_long_line_without_newline_before_eof_is_dropped() -> None:
    chunks = [lines(position(211000001)), b"!AIVDM" + b"B" * 70_000]
    async with asyncio.timeout(5), feed([(chunks, "close"), ([lines(position(211000002))], "hold")]) as (
            _, _, sink, stats, _):
        await sink.wait_count(2)
        assert [r.mmsi for r in sink.reports] == [211000001, 211000002]
        assert stats.rejects == {"line_too_long": 1}


@pytest.mark.integration
async def test_tcp_idle_connection_is_dropped_and_reopened() -> None:
    idle = 1.0  # the smallest nmea.idle_timeout the settings accept
    sessions = [([lines(position(211000001))], "hold"), ([lines(position(211000002))], "hold")]
    async with asyncio.timeout(6), feed(sessions, idle=idle) as (server, source, sink, _, _):
        await sink.wait_count(1)
        started = time.monotonic()
        await sink.wait_count(2)
        assert time.monotonic() - started >= idle * 0.9
        assert [r.mmsi for r in sink.reports] == [211000001, 211000002]
        assert server.connections == 2
        assert source.status.connects == 2
        assert "no data" in (source.status.last_error or "")
        await asyncio.wait_for(server.client_closed[0].wait(), 1)  # the silent socket was closed


@pytest.mark.integration
async def test_tcp_cancel_closes_the_socket() -> None:
    async with asyncio.timeout(5), feed([([lines(position(211000001))], "hold")]) as (server, source, sink, _,
                                                                                     task):
        await sink.wait_count(1)
        started = time.monotonic()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert time.monotonic() - started < 0.5
        await asyncio.wait_for(server.client_closed[0].wait(), 0.5)
        assert not source.connected
        assert source.status.disconnects == 1


@pytest.mark.integration
async def test_tcp_keeps_retrying_a_refused_port_then_connects() -> None:
    server = FeedServer([([lines(position(211000001))], "hold")])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    source = NmeaTcpSource("127.0.0.1", port, settings(), sink, IngestStats(), name="feed")
    async with asyncio.timeout(5), running(source):
        while "connect failed" not in (source.status.last_error or ""):
            await asyncio.sleep(0.01)
        assert source.status.connects == 0 and not source.connected
        await server.start(port)
        try:
            await sink.wait_count(1)
            assert sink.reports[0].source == "feed"
            assert source.status.connects == 1
        finally:
            await server.stop()


# --------------------------------------------------------------------------- UDP


@contextlib.asynccontextmanager
async def udp_listener(**kwargs):
    stats = IngestStats()
    sink = Sink()
    source = NmeaUdpSource("127.0.0.1", 0, settings(), sink, stats, **kwargs)
    async with running(source) as task:
        async with asyncio.timeout(2):
            await source.started.wait()
        yield source, sink, stats, task


def sender() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.mark.integration
async def test_udp_datagrams_with_several_lines() -> None:
    async with asyncio.timeout(5), udp_listener() as (source, sink, stats, _):
        port = source.bound_port
        assert port
        with sender() as sock:
            sock.sendto(TYPE1 + b"\r\n" + TYPE5_1 + b"\r\n" + TYPE5_2 + b"\r\n", ("127.0.0.1", port))
            sock.sendto(lines(position(211000005, lat=95.0), TAGGED), ("127.0.0.1", port))
            await sink.wait_count(3)
        first, ship, tagged = sink.reports
        assert isinstance(first, PositionReport) and first.mmsi == 371798000
        assert first.lat == pytest.approx(48.38163, abs=1e-5)
        assert isinstance(ship, StaticReport) and ship.name == "EVER DIADEM" and ship.call_sign == "3FOF8"
        assert isinstance(tagged, PositionReport) and tagged.station == "2573345"
        assert first.source == "udp:127.0.0.1:0"
        assert stats.rejects == {"impossible_position": 1}
        assert stats.lines == 5
        assert source.connected


@pytest.mark.integration
async def test_udp_two_senders_interleaving_parts_with_the_same_sequence_id() -> None:
    alpha = static(244123456, "ALPHA", seq_id=3)
    bravo = static(351759000, "BRAVO STAR", seq_id=3)
    assert alpha[0].split(b",")[3] == bravo[0].split(b",")[3] == b"3"
    async with asyncio.timeout(5), udp_listener() as (source, sink, stats, _):
        address = ("127.0.0.1", source.bound_port)
        with sender() as a, sender() as b:
            a.sendto(alpha[0] + b"\n", address)
            b.sendto(bravo[0] + b"\n", address)
            a.sendto(alpha[1] + b"\n", address)
            b.sendto(bravo[1] + b"\n", address)
            await sink.wait_count(2)
        assert {(r.mmsi, r.name) for r in sink.statics} == {(244123456, "ALPHA"), (351759000, "BRAVO STAR")}
        assert stats.rejects == {}


@pytest.mark.integration
async def test_udp_least_recently_heard_sender_is_evicted_and_its_parts_counted() -> None:
    async with asyncio.timeout(5), udp_listener(max_senders=1) as (source, sink, stats, _):
        address = ("127.0.0.1", source.bound_port)
        with sender() as a, sender() as b:
            a.sendto(TYPE5_1 + b"\n", address)
            b.sendto(position(211000001) + b"\n", address)
            await sink.wait_count(1)
            a.sendto(TYPE5_2 + b"\n", address)  # its first part went with the evicted decoder
            b.sendto(position(211000002) + b"\n", address)
            await sink.wait_count(2)
        assert sink.statics == []
        assert stats.rejects == {"incomplete_multipart": 1, "orphan_fragment": 1}


@pytest.mark.integration
async def test_udp_full_queue_drops_and_counts_without_blocking() -> None:
    async with asyncio.timeout(5), udp_listener(queue_size=2) as (source, sink, stats, _):
        # Four datagrams arrive before run() gets to drain any: the protocol callback must not block.
        for mmsi in (211000001, 211000002, 211000003, 211000004):
            source._enqueue(lines(position(mmsi)), ("127.0.0.1", 9))
        assert stats.rejects == {"udp_overflow": 2}
        await sink.wait_count(2)
        await asyncio.sleep(0.05)
        assert [r.mmsi for r in sink.reports] == [211000001, 211000002]


@pytest.mark.integration
async def test_udp_cancel_closes_the_socket() -> None:
    async with asyncio.timeout(5), udp_listener() as (source, _, _, task):
        port = source.bound_port
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not source.connected
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))  # free again


# ------------------------------------------------------------------------ settings


@pytest.mark.unit
def test_sources_from_settings() -> None:
    config = settings().with_overrides(nmea__tcp=["feed.example:10110", "[::1]:2000"],
                                       nmea__udp=["0.0.0.0:10111"])
    built = sources_from_settings(config, Sink(), IngestStats())
    assert [type(s) for s in built] == [NmeaTcpSource, NmeaTcpSource, NmeaUdpSource]
    assert [(s.host, s.port, s.name) for s in built] == [
        ("feed.example", 10110, "tcp:feed.example:10110"),
        ("::1", 2000, "tcp:::1:2000"),
        ("0.0.0.0", 10111, "udp:0.0.0.0:10111"),
    ]
    assert sources_from_settings(settings(), Sink(), IngestStats()) == []
