"""Decoding a recorded file in a worker process, so a replay uses two cores: one decodes, one runs the
pipeline and the store. Decoding is most of the cost of ingest, and Python runs it on one core at a time.

Reports cross the process boundary in chunks, each report pickled as its class and its fields (see
`dumps`). Counters travel with each chunk, so the replay's progress and summary are the same as if it
had decoded in-process.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import pickle
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import fields
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

# Reports cross the pipe as themselves, each pickled as its class and its fields' values in order: the
# unpickler makes them in C, where a tuple per report turned back into a report in Python cost the main
# process (the replay's busiest) about 1.4 us a report, against 0.6 us now.
_position_values = attrgetter(*(f.name for f in fields(PositionReport)))
_static_values = attrgetter(*(f.name for f in fields(StaticReport)))


def _position_wire(report: PositionReport) -> tuple[Any, ...]:
    return PositionReport, _position_values(report)


def _static_wire(report: StaticReport) -> tuple[Any, ...]:
    return StaticReport, _static_values(report)


_WIRE: dict[type, Callable[[Any], tuple[Any, ...]]] = {PositionReport: _position_wire,
                                                        StaticReport: _static_wire}


def dumps(value: Any) -> bytes:
    """`value` pickled for the pipe (reports as above); pickle.loads reads it."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, 5)
    pickler.dispatch_table = _WIRE
    pickler.dump(value)
    return out.getvalue()


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
    """In the worker process: decode, and send chunks of reports with the counters so far."""
    try:
        _decode_and_send(reader_factory, conn)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the replay stopped reading (its database was unreachable, or it was stopped): nobody to tell
    finally:
        conn.close()


def _decode_and_send(reader_factory: ReaderFactory, conn: Connection) -> None:
    stats = IngestStats()
    try:
        packed: list[Report] = []
        lines = 0
        for _raw, reports in reader_factory(stats):
            lines += 1
            if not reports:  # two lines in three of a tagged recording (tag block, $PGHP) give none
                if lines >= _CHUNK_LINES:
                    conn.send_bytes(CHUNK + dumps((packed, _counts(stats), lines)))
                    packed, lines = [], 0
                continue
            packed.extend(reports)
            if len(packed) >= _CHUNK_REPORTS or lines >= _CHUNK_LINES:
                conn.send_bytes(CHUNK + dumps((packed, _counts(stats), lines)))
                packed, lines = [], 0
        conn.send_bytes(CHUNK + dumps((packed, _counts(stats), lines)))
        conn.send_bytes(DONE + dumps((None, _counts(stats), 0)))
    except (BrokenPipeError, ConnectionResetError):
        raise
    except AisWatchError as err:  # a file ais-watch cannot read: its one line, as it is
        conn.send_bytes(ERROR + pickle.dumps(((str(err), None), None, 0), 5))
    except Exception as err:  # a bug: one line for the user, the traceback for --log-level DEBUG
        conn.send_bytes(ERROR + pickle.dumps(((f"cannot decode: {type(err).__name__}: {err}",
                                                traceback.format_exc(limit=8)), None, 0), 5))


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
        while True:
            data = await self._buffer.get()
            if data is None:
                raise AisWatchError(f"{self.path}: decode worker died (exit code {self._process.exitcode})")
            kind = data[:1]
            reports, counts, lines = pickle.loads(data[1:])
            if kind == ERROR:
                message, trace = reports
                if trace is not None:
                    log.debug("decoding %s failed:\n%s", self.path, trace)
                raise AisWatchError(message if message.startswith(str(self.path))
                                    else f"{self.path}: {message}")
            add_counts(stats, counts, before)
            before = counts
            if kind == DONE:
                return
            yield reports, lines

    async def close(self) -> None:
        """Stop reading and end the process. Again is nothing."""
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self._receiver.close()
        await asyncio.to_thread(self._process.join, 5)
        if self._process.is_alive():
            self._process.kill()
