"""Raw NMEA over the network: a TCP client (AIS-catcher, rtl-ais, Kystverket's feed) and a UDP listener.

Both feed lines to an NmeaDecoder and await the sink for every report. A decoder holds multi-part
state, so there is one per TCP connection (a reconnect starts clean; what was pending is counted as
incomplete) and one per UDP sender (two receivers sending to one port never mix their parts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from datetime import UTC, datetime

from ais_watch.backoff import Backoff
from ais_watch.config import Settings, parse_host_port
from ais_watch.decode import NmeaDecoder, decoder_options
from ais_watch.model import IngestStats
from ais_watch.sources.base import Emit, SourceStatus

log = logging.getLogger(__name__)

LINE_LIMIT = 64 * 1024  # longest line kept; NMEA sentences are 82 characters, tag blocks add little
MAX_UDP_SENDERS = 256  # decoders kept for UDP senders, least recently heard evicted beyond this
UDP_QUEUE_SIZE = 4096  # datagrams buffered between the protocol callback and run()
# A UDP sender: (host, port), or (host, port, flowinfo, scope_id) over IPv6.
Address = tuple[object, ...]


def _decoder(name: str, settings: Settings, stats: IngestStats) -> NmeaDecoder:
    return NmeaDecoder(name, stats, **decoder_options(settings))


async def _feed_line(decoder: NmeaDecoder, line: bytes, received_at: datetime, emit: Emit,
                     stats: IngestStats, name: str) -> None:
    """One line through the decoder to the sink; a decoder failure costs the line, not the feed."""
    try:
        reports = decoder.feed(line, received_at)
    except Exception:
        stats.reject("decoder_error")
        log.exception("%s: decoder failed on line %r", name, line[:200])
        return
    for report in reports:
        await emit(report)


class _Disconnect(Exception):
    """Ends one TCP session with a reason to log."""


class NmeaTcpSource:
    """Client of a raw NMEA TCP feed. Reconnects forever with backoff; drops a silent connection."""

    def __init__(self, host: str, port: int, settings: Settings, emit: Emit, stats: IngestStats, *,
                 name: str | None = None, line_limit: int = LINE_LIMIT) -> None:
        self.host = host
        self.port = port
        self.settings = settings
        self.emit = emit
        self.stats = stats
        self.name = name or f"tcp:{host}:{port}"
        self.line_limit = line_limit
        self.status = SourceStatus()
        self._delivered = 0  # lines on the current connection

    @property
    def connected(self) -> bool:
        return self.status.connected

    async def run(self) -> None:
        settings = self.settings
        backoff = Backoff(settings["reconnect.initial_delay"], settings["reconnect.max_delay"])
        while True:
            self._delivered = 0
            try:
                await self._session()
                reason = "closed by the server"
            except _Disconnect as err:
                reason = str(err)
            except (OSError, EOFError) as err:
                reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            except Exception as err:  # a bug in the sink or decoder must not end the feed
                log.exception("%s: unexpected error", self.name)
                reason = f"{type(err).__name__}: {err}"
            self.status.last_error = reason
            if self._delivered:
                backoff.reset()
            delay = backoff.next_delay()
            log.warning("%s: %s; reconnecting in %.1fs", self.name, reason, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """One connection: connect, read until it ends (counting its lines in self._delivered)."""
        idle = self.settings["nmea.idle_timeout"]
        try:
            async with asyncio.timeout(idle):
                reader, writer = await asyncio.open_connection(self.host, self.port, limit=self.line_limit)
        except TimeoutError:
            raise _Disconnect(f"connect timed out after {idle:g}s") from None
        except OSError as err:
            raise _Disconnect(f"connect failed: {err}") from None
        status = self.status
        status.connected = True
        status.connects += 1
        log.info("%s: connected", self.name)
        decoder = _decoder(self.name, self.settings, self.stats)
        try:
            discarding = False  # inside an over-long line, until its newline
            while True:
                try:
                    async with asyncio.timeout(idle):
                        line = await reader.readuntil(b"\n")
                except TimeoutError:
                    raise _Disconnect(f"no data for {idle:g}s") from None
                except asyncio.LimitOverrunError as err:
                    # No newline within the limit: drop what is buffered and skip to the next newline.
                    await reader.readexactly(err.consumed)
                    if not discarding:
                        discarding = True
                        self.stats.lines += 1
                        self.stats.reject("line_too_long")
                    continue
                except asyncio.IncompleteReadError as err:  # EOF
                    if err.partial and not discarding:
                        await self._line(decoder, err.partial)
                    return
                if discarding:  # the tail of an over-long line
                    discarding = False
                    continue
                await self._line(decoder, line)
        finally:
            decoder.close()
            status.connected = False
            status.disconnects += 1
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):  # not wait_for: see ais_watch/leader.py
                    await writer.wait_closed()

    async def _line(self, decoder: NmeaDecoder, line: bytes) -> None:
        received_at = datetime.now(UTC)
        self._delivered += 1
        self.status.last_message_at = received_at
        await _feed_line(decoder, line, received_at, self.emit, self.stats, self.name)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, source: NmeaUdpSource) -> None:
        self.source = source

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.source._enqueue(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.warning("%s: %s", self.source.name, exc)


class NmeaUdpSource:
    """Listener for NMEA over UDP; each datagram may hold several lines. One decoder per sender."""

    def __init__(self, host: str, port: int, settings: Settings, emit: Emit, stats: IngestStats, *,
                 name: str | None = None, queue_size: int = UDP_QUEUE_SIZE,
                 max_senders: int = MAX_UDP_SENDERS) -> None:
        self.host = host
        self.port = port
        self.settings = settings
        self.emit = emit
        self.stats = stats
        self.name = name or f"udp:{host}:{port}"
        self.max_senders = max_senders
        self.status = SourceStatus()
        self.started = asyncio.Event()  # set once the socket is bound
        self._queue: asyncio.Queue[tuple[bytes, Address, datetime]] = asyncio.Queue(maxsize=queue_size)
        self._decoders: OrderedDict[Address, NmeaDecoder] = OrderedDict()
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def connected(self) -> bool:
        return self.status.connected

    @property
    def bound_port(self) -> int | None:
        if self._transport is None:
            return None
        return int(self._transport.get_extra_info("sockname")[1])

    def _enqueue(self, data: bytes, addr: Address) -> None:
        """Called from the protocol callback: never blocks; a full queue drops the datagram, counted."""
        try:
            self._queue.put_nowait((data, addr, datetime.now(UTC)))
        except asyncio.QueueFull:
            lost = sum(1 for line in data.splitlines() if line.strip()) or 1
            self.stats.lines += lost
            self.stats.reject("udp_overflow", lost)

    def _decoder_for(self, addr: Address) -> NmeaDecoder:
        decoder = self._decoders.get(addr)
        if decoder is not None:
            self._decoders.move_to_end(addr)
            return decoder
        decoder = _decoder(self.name, self.settings, self.stats)
        self._decoders[addr] = decoder
        if len(self._decoders) > self.max_senders:
            _, evicted = self._decoders.popitem(last=False)
            evicted.close()
        return decoder

    async def run(self) -> None:
        settings = self.settings
        backoff = Backoff(settings["reconnect.initial_delay"], settings["reconnect.max_delay"])
        loop = asyncio.get_running_loop()
        while True:
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self), local_addr=(self.host, self.port))
            except OSError as err:
                self.status.last_error = f"bind failed: {err}"
                delay = backoff.next_delay()
                log.warning("%s: bind failed: %s; retrying in %.1fs", self.name, err, delay)
                await asyncio.sleep(delay)
                continue
            break
        self._transport = transport
        self.status.connected = True
        self.status.connects += 1
        self.started.set()
        log.info("%s: listening on port %s", self.name, self.bound_port)
        try:
            while True:
                data, addr, received_at = await self._queue.get()
                self.status.last_message_at = received_at
                decoder = self._decoder_for(addr)
                for line in data.split(b"\n"):
                    if line.strip():
                        await _feed_line(decoder, line, received_at, self.emit, self.stats, self.name)
        finally:
            transport.close()
            self.status.connected = False
            self.status.disconnects += 1
            for decoder in self._decoders.values():
                decoder.close()
            self._decoders.clear()
            log.info("%s: stopped listening", self.name)


def sources_from_settings(settings: Settings, emit: Emit,
                          stats: IngestStats) -> list[NmeaTcpSource | NmeaUdpSource]:
    """One source per nmea.tcp and nmea.udp address."""
    sources: list[NmeaTcpSource | NmeaUdpSource] = []
    for address in settings["nmea.tcp"]:
        host, port = parse_host_port(address, "nmea.tcp")
        sources.append(NmeaTcpSource(host, port, settings, emit, stats))
    for address in settings["nmea.udp"]:
        host, port = parse_host_port(address, "nmea.udp")
        sources.append(NmeaUdpSource(host, port, settings, emit, stats))
    return sources
