"""Decoding a recorded file in a worker process, so a replay uses two cores: one decodes, one runs the
pipeline and the store. Decoding is most of the cost of ingest, and Python runs it on one core at a time.

Reports cross the process boundary as plain tuples (times as epoch floats, exact to the microsecond for
any AIS-era date): pickling the dataclasses themselves costs three times as much. Counters travel with
each chunk, so the replay's progress and summary are the same as if it had decoded in-process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from operator import attrgetter
from pathlib import Path
from typing import Any

from ais_watch.errors import AisWatchError
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport

log = logging.getLogger(__name__)

# Each message on the pipe: one kind byte, then the pickled (payload, counters, lines covered).
CHUNK, DONE, ERROR = b"c", b"d", b"e"
_CHUNK_REPORTS = 4000
_CHUNK_LINES = 20000

_POSITION_FIELDS = tuple(f.name for f in fields(PositionReport))
_STATIC_FIELDS = tuple(f.name for f in fields(StaticReport))
_get_position = attrgetter(*_POSITION_FIELDS)
_get_static = attrgetter(*_STATIC_FIELDS)
# Index of time and received_at in each field list (replaced by epoch floats on the wire).
_P_TIME, _P_RECEIVED = _POSITION_FIELDS.index("time"), _POSITION_FIELDS.index("received_at")
_S_TIME, _S_RECEIVED = _STATIC_FIELDS.index("time"), _STATIC_FIELDS.index("received_at")
assert _P_TIME == 1, "Unpacker reads a position's time right after its kind and MMSI"


def pack(report: Report) -> tuple[Any, ...]:
    if isinstance(report, PositionReport):
        # A position's fields by name, in PositionReport's order (a field added there goes here too): one
        # tuple built in one step costs half of copying attrgetter's into a list and that into a tuple.
        r = report
        return (0, r.mmsi, r.time.timestamp(), r.lat, r.lon, r.sog, r.cog, r.heading, r.nav_status,
                r.msg_type, r.source, r.received_at.timestamp(), r.station, r.accuracy, r.mmsi_valid,
                r.payload)
    values = list(_get_static(report))
    values[_S_TIME] = report.time.timestamp()
    values[_S_RECEIVED] = report.received_at.timestamp()
    return (1, *values)


class Unpacker:
    """Packed tuples back into reports. A file's receive time is one value for all of its lines, so
    its datetime is made once rather than once per report."""

    def __init__(self) -> None:
        self._received: tuple[float, datetime] = (0.0, datetime.fromtimestamp(0, UTC))

    def received(self, stamp: float) -> datetime:
        if stamp != self._received[0]:
            self._received = (stamp, datetime.fromtimestamp(stamp, UTC))
        return self._received[1]

    def __call__(self, item: tuple[Any, ...]) -> Report:
        if item[0] == 0:  # by position, without copying the tuple: this runs once a report
            return PositionReport(*(item[1], datetime.fromtimestamp(item[2], UTC), *item[3:_P_RECEIVED + 1],
                                    self.received(item[_P_RECEIVED + 1]), *item[_P_RECEIVED + 2:]))
        values = list(item[1:])
        values[_S_TIME] = datetime.fromtimestamp(values[_S_TIME], UTC)
        values[_S_RECEIVED] = self.received(values[_S_RECEIVED])
        return StaticReport(*values)



def _counts(stats: IngestStats) -> dict[str, Any]:
    """The counters so far, and the notes since the last chunk (taken: each crosses once)."""
    notes, stats.notes[:] = list(stats.notes), []
    return {"lines": stats.lines, "messages": stats.messages, "decoded": stats.decoded,
            "other_types": stats.other_types, "bytes_read": stats.bytes_read, "rejects": dict(stats.rejects),
            "flags": dict(stats.flags), "notes": notes}


def add_counts(stats: IngestStats, now: dict[str, Any], before: dict[str, Any]) -> None:
    """Add what a worker counted since `before` to the replay's own counters."""
    for key in ("lines", "messages", "decoded", "other_types", "bytes_read"):
        setattr(stats, key, getattr(stats, key) + now.get(key, 0) - before.get(key, 0))
    for key, target in (("rejects", stats.rejects), ("flags", stats.flags)):
        old = before.get(key, {})
        for reason, count in now[key].items():
            if count != old.get(reason, 0):
                target[reason] = target.get(reason, 0) + count - old.get(reason, 0)
    stats.notes.extend(now.get("notes", ()))


ReaderFactory = Callable[[IngestStats], Iterator[tuple[bytes, list[Report]]]]


def _work(reader_factory: ReaderFactory, conn: Connection) -> None:
    """In the worker process: decode, and send chunks of packed reports with the counters so far."""
    stats = IngestStats()
    try:
        packed: list[tuple[Any, ...]] = []
        lines = 0
        for _raw, reports in reader_factory(stats):
            lines += 1
            if not reports:  # two lines in three of a tagged recording (tag block, $PGHP) give none
                if lines >= _CHUNK_LINES:
                    conn.send_bytes(CHUNK + pickle.dumps((packed, _counts(stats), lines), 5))
                    packed, lines = [], 0
                continue
            packed.extend(map(pack, reports))  # map: no generator frame a line
            if len(packed) >= _CHUNK_REPORTS or lines >= _CHUNK_LINES:
                conn.send_bytes(CHUNK + pickle.dumps((packed, _counts(stats), lines), 5))
                packed, lines = [], 0
        conn.send_bytes(CHUNK + pickle.dumps((packed, _counts(stats), lines), 5))
        conn.send_bytes(DONE + pickle.dumps((None, _counts(stats), 0), 5))
    except AisWatchError as err:  # a file ais-watch cannot read: its one line, as it is
        conn.send_bytes(ERROR + pickle.dumps(((str(err), None), None, 0), 5))
    except Exception as err:  # a bug: one line for the user, the traceback for --log-level DEBUG
        conn.send_bytes(ERROR + pickle.dumps(((f"cannot decode: {type(err).__name__}: {err}",
                                                traceback.format_exc(limit=8)), None, 0), 5))
    finally:
        conn.close()


class DecodeWorker:
    """One file decoded in a worker process, its chunks read ahead into a bounded buffer.

    The buffer lets the next file of a replay decode on the second core while this one is still going
    through the pipeline (replays are often a day's files in a row). It holds `buffer_chunks` pickled
    chunks at most (a few hundred KB each): when it is full the reader waits, the pipe fills and the
    worker waits, so memory stays bounded however large the files.
    """

    def __init__(self, reader_factory: ReaderFactory, path: Path, buffer_chunks: int = 32) -> None:
        ctx = multiprocessing.get_context("forkserver")
        self.path = path
        self._receiver, sender = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_work, args=(reader_factory, sender), daemon=True,
                                    name=f"decode {path.name}")
        self._process.start()
        sender.close()
        self._buffer: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=buffer_chunks)
        self._reader = asyncio.create_task(self._read_ahead(), name=f"read {path.name}")

    async def _read_ahead(self) -> None:
        try:
            while True:
                data = await asyncio.to_thread(self._receiver.recv_bytes)
                await self._buffer.put(data)
                if data[:1] != CHUNK:  # done, or an error: nothing follows
                    return
        except (EOFError, OSError):
            await self._buffer.put(None)

    async def chunks(self, stats: IngestStats) -> AsyncIterator[tuple[list[Report], int]]:
        """The decoded reports chunk by chunk, with the lines each covers; counters added as consumed."""
        before: dict[str, Any] = {}
        unpacker = Unpacker()
        while True:
            data = await self._buffer.get()
            if data is None:
                raise AisWatchError(f"{self.path}: decode worker died (exit code {self._process.exitcode})")
            kind = data[:1]
            packed, counts, lines = pickle.loads(data[1:])
            if kind == ERROR:
                message, trace = packed
                if trace is not None:
                    log.debug("decoding %s failed:\n%s", self.path, trace)
                raise AisWatchError(message if message.startswith(str(self.path))
                                    else f"{self.path}: {message}")
            add_counts(stats, counts, before)
            before = counts
            if kind == DONE:
                return
            yield [unpacker(item) for item in packed], lines

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self._receiver.close()
        await asyncio.to_thread(self._process.join, 5)
        if self._process.is_alive():
            self._process.kill()
