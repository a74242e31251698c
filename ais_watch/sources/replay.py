"""Recorded traffic through the same pipeline, on event time: NMEA (plain or .gz), aisstream JSON
lines, and CSV (plain or .gz): the Danish Maritime Authority and NOAA MarineCadastre layouts, or any
other with its columns named (ais_watch/sources/csv_import.py)."""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from ais_watch.decode import NmeaDecoder
from ais_watch.errors import ReplayError
from ais_watch.model import IngestStats, Report
from ais_watch.sources.base import Emit, EmitMany
from ais_watch.sources.csv_import import CsvOptions, check_csv, csv_reports
from ais_watch.sources.decode_worker import DecodeWorker

if TYPE_CHECKING:  # imported when a progress bar is asked for
    from tqdm import tqdm

log = logging.getLogger(__name__)

FORMATS = ("auto", "nmea", "aisstream", "csv")
SOURCE_PREFIX = "replay:"  # a replayed position's source is "replay:<file name>" (retention knows it by that)


__all__ = ["FORMATS", "CsvOptions", "ReplayError", "check_files", "detect_format", "replay_paths"]


class _GzipUntilBroken(io.RawIOBase):
    """A gzip stream that ends where its compressed data stops being readable (a download cut short, a
    recording still being written, a damaged block) instead of raising out of the reader part way:
    everything before is used, and `broken` says what was wrong, for the one line the replay reports
    (see note_if_cut_short)."""

    def __init__(self, compressed: gzip.GzipFile, disk: io.BufferedReader) -> None:
        super().__init__()
        self._compressed = compressed
        self.disk = disk  # the compressed file itself: how far it is read is the replay's progress
        self.broken: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.broken is not None:
            return 0
        try:
            data = self._compressed.read1(len(buffer))
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            self.broken = str(err) or type(err).__name__
            return 0
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._compressed.close()
        self.disk.close()  # GzipFile leaves a file object it was given open
        super().close()


def open_binary(path: Path) -> io.BufferedReader:
    """The file's bytes, gunzipped when it starts with the gzip magic number (whatever its name)."""
    try:
        raw = path.open("rb")
    except OSError as err:
        raise ReplayError(f"{path}: {err.strerror or err}") from err
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return io.BufferedReader(_GzipUntilBroken(gzip.GzipFile(fileobj=raw), raw), buffer_size=1 << 16)
    raw.seek(0)
    return raw


# Lines between two looks at how far a file is read (a system call each, so not one a line): several
# looks to each of the decode worker's chunks, which is as often as the bar moves.
_POSITION_EVERY = 1024


def disk_position(fh: io.BufferedReader) -> Callable[[], int]:
    """How far the file under `fh` has been read on disk: for a gzip file the compressed bytes consumed,
    which is what its size on disk (a progress bar's total) counts."""
    disk = getattr(fh.raw, "disk", fh)
    tell: Callable[[], int] = disk.tell
    return tell


def read_to_end(path: Path, stats: IngestStats, start: int) -> None:
    """A file read to its end stands at its size, even when its gzip data stopped early (the rest is not
    going to be read, so the bar goes past it). From the path: the CSV reader's text layer has closed the
    file by then."""
    try:
        size = path.stat().st_size
    except OSError:  # gone since: the bar stays where the reading got to
        return
    stats.bytes_read = max(stats.bytes_read, start + size)


def note_if_cut_short(fh: io.BufferedReader, path: Path, stats: IngestStats) -> None:
    """After reading a file to its end: one line, and a count, when a gzip file ended early."""
    broken = getattr(fh.raw, "broken", None)
    if broken is not None:
        stats.reject("file_cut_short")
        stats.note(f"{path}: the compressed data ends early after {stats.lines:,} lines ({broken}); "
                   "what came before is used, the rest is missing")


def detect_format(path: Path) -> str:
    """nmea, aisstream or csv, from the file's first lines (a CSV: a header of three or more columns)."""
    with open_binary(path) as fh:
        for _ in range(50):
            line = fh.readline()
            if not line:
                break
            text = line.strip().lstrip(b"\xef\xbb\xbf")
            if not text or (text.startswith(b"#") and b"," not in text):
                continue
            if text[:1] == b"{":
                return "aisstream"
            if b"VDM," in text or b"VDO," in text or text[:1] in (b"\\", b"$", b"!"):
                return "nmea"
            if max(text.count(d) for d in (b",", b";", b"\t", b"|")) >= 2:
                return "csv"
            break
    raise ReplayError(f"{path}: cannot tell its format; give --format nmea, aisstream or csv")


def check_files(paths: list[Path], fmt: str, csv_options: CsvOptions | None = None) -> None:
    """What would stop a replay part way, found before it starts: a file that is missing, of no format
    it can tell, or a CSV it cannot map (and CSV options given for a file that is not CSV)."""
    for path in paths:
        if not path.is_file():
            raise ReplayError(f"{path}: no such file")
        kind = detect_format(path) if fmt == "auto" else fmt
        if kind == "csv":
            with open_binary(path) as fh:
                check_csv(path, fh, csv_options or CsvOptions())
        elif csv_options is not None and (csv_options.columns or csv_options.dayfirst is not None):
            raise ReplayError(f"{path}: --columns and --dayfirst are for CSV files; this one is {kind}")


class Pacer:
    """Holds a replay to `speed` times real time, measured on event time; None means flat out."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self._origin: tuple[datetime, float] | None = None

    async def wait_for(self, event_time: datetime) -> None:
        if not self.speed:
            return
        if self._origin is None:
            self._origin = (event_time, time.monotonic())
            return
        event0, wall0 = self._origin
        due = wall0 + (event_time - event0).total_seconds() / self.speed
        delay = due - time.monotonic()
        if delay > 0.005:
            await asyncio.sleep(delay)


class ReplayProgress:
    """One bar for a whole replay, over the bytes of all its files as they lie on disk (a gzip file's
    compressed bytes, read as the worker consumes them), so the percentage and the ETA hold whatever the
    files' formats and compression; it shows the rate in lines (rows, for CSV) a second, which is what a
    user compares with other tools. The decode workers say how far they have read with each chunk
    (IngestStats.bytes_read)."""

    def __init__(self, paths: list[Path], unit: str, file: IO[str] | None = None) -> None:
        from tqdm import tqdm

        self.total = sum(path.stat().st_size for path in paths)
        self.unit = unit
        self._count = len(paths)
        self._lines0: int | None = None
        self._started = time.monotonic()
        # Bytes drive the bar and the ETA; the lines rate goes in the postfix, computed here.
        self.bar: tqdm[NoReturn] = tqdm(
            total=self.total, unit="B", unit_scale=True, leave=False, file=file,
            dynamic_ncols=True, postfix=f"0 {unit}/s",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}B/{total_fmt}B "
                       "[{elapsed}<{remaining}{postfix}]")  # tqdm puts ", " before the postfix

    def start_file(self, index: int, path: Path) -> None:
        label = path.name if len(path.name) <= 32 else path.name[:29] + "..."
        self.bar.set_description_str(label if self._count == 1 else f"{index + 1}/{self._count} {label}",
                                     refresh=False)

    def update(self, stats: IngestStats) -> None:
        if self._lines0 is None:
            self._lines0 = stats.lines
        elapsed = time.monotonic() - self._started
        if elapsed > 0:
            self.bar.set_postfix_str(f"{(stats.lines - self._lines0) / elapsed:,.0f} {self.unit}/s",
                                     refresh=False)
        # A file that grew since the total was taken never pushes the bar past its end.
        self.bar.update(min(stats.bytes_read, self.total) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _progress(paths: list[Path], fmt: str, enabled: bool) -> ReplayProgress | None:
    """The replay's bar (on a terminal, unless --no-progress), counting rows when every file is a CSV."""
    if not enabled:
        return None
    kinds = {detect_format(path) if fmt == "auto" else fmt for path in paths}
    return ReplayProgress(paths, "rows" if kinds == {"csv"} else "lines")


def file_reports(path: Path, fmt: str, source: str, decoder_options: dict[str, Any],
                 stats: IngestStats, csv_options: CsvOptions | None = None
                 ) -> Iterator[tuple[bytes, list[Report]]]:
    """Each line of a recording with the reports it completes. Runs in the decode worker process."""
    if fmt == "nmea":
        decoder = NmeaDecoder(source, stats, **decoder_options, require_event_time=True)
        return _nmea_lines(path, decoder)
    if fmt == "aisstream":
        return _aisstream_lines(path, source, stats)
    if fmt == "csv":
        return _csv_lines(path, source, stats, csv_options or CsvOptions())
    raise ReplayError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def start_decoding(path: Path, fmt: str, decoder_options: dict[str, Any] | None,
                   csv_options: CsvOptions | None = None) -> DecodeWorker:
    """A worker process decoding the file, reading ahead (see DecodeWorker)."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ReplayError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return DecodeWorker(partial(file_reports, path, fmt, SOURCE_PREFIX + path.name, decoder_options or {},
                                csv_options=csv_options), path)


async def replay_file(worker: DecodeWorker, emit: Emit, stats: IngestStats, *, pacer: Pacer,
                      bar: ReplayProgress | None = None, emit_many: EmitMany | None = None) -> None:
    """Feed one file's reports to `emit` (or, not paced, whole chunks to `emit_many`), in file order.
    Bad lines are counted, never fatal."""
    paced = bool(pacer.speed)
    async for reports, _lines in worker.chunks(stats):
        if emit_many is not None and not paced:
            await emit_many(reports)
        else:
            for report in reports:
                if paced:
                    await pacer.wait_for(report.time)
                await emit(report)
        if bar is not None:
            bar.update(stats)
        for note in stats.notes:  # a bad CSV row: where it is and what is wrong, one line each
            log.warning("%s", note)
        stats.notes.clear()
        await asyncio.sleep(0)  # let the store writer and the flusher run between chunks
    if bar is not None:  # the last counters come with the worker's end, after the last chunk
        bar.update(stats)


# The readers below say how far they have read in stats.bytes_read (every _POSITION_EVERY lines, NMEA every
# block of lines, and at the end), from where it stood when the file began (a worker's own stats start
# at 0).
def _nmea_lines(path: Path, decoder: NmeaDecoder) -> Iterator[tuple[bytes, list[Report]]]:
    """The lines as `for line in file` cuts them (at b"\\n"; yielded without it), fed a block of whole lines
    at a time so that the decoder computes their checksums together (NmeaDecoder.feed_block)."""
    now = datetime.now(UTC)
    stats = decoder.stats
    start = stats.bytes_read
    with open_binary(path) as fh:
        where = disk_position(fh)
        rest = b""  # a line not ended yet at the end of a block
        while block := fh.read(1 << 20):
            end = block.rfind(b"\n") + 1
            if not end:
                rest += block
                continue
            yield from decoder.feed_block(rest + block[:end], now)  # counts the lines
            rest = block[end:]
            stats.bytes_read = start + where()  # a block is a megabyte: often enough for the bar
        if rest:
            yield from decoder.feed_block(rest, now)
        note_if_cut_short(fh, path, stats)
        read_to_end(path, stats, start)
    decoder.close()


def _aisstream_lines(path: Path, source: str, stats: IngestStats) -> Iterator[tuple[bytes, list[Report]]]:
    from ais_watch.sources.aisstream import parse_frame, reports_from_aisstream

    now = datetime.now(UTC)
    start = stats.bytes_read
    with open_binary(path) as fh:
        where = disk_position(fh)
        for line in fh:
            stats.lines += 1
            if not stats.lines % _POSITION_EVERY:
                stats.bytes_read = start + where()
            if not line.strip():
                yield line, []
                continue
            obj = parse_frame(line)
            if obj is None:
                stats.reject("malformed_json")
                yield line, []
                continue
            yield line, reports_from_aisstream(obj, now, source, stats)
        note_if_cut_short(fh, path, stats)
        read_to_end(path, stats, start)


def _csv_lines(path: Path, source: str, stats: IngestStats,
               options: CsvOptions) -> Iterator[tuple[bytes, list[Report]]]:
    start = stats.bytes_read
    with open_binary(path) as fh:
        yield from csv_reports(path, fh, source, stats, options, disk_position(fh), _POSITION_EVERY)
        note_if_cut_short(fh, path, stats)
        read_to_end(path, stats, start)


async def replay_paths(paths: list[Path], fmt: str, emit: Emit, stats: IngestStats, *,
                       speed: float | None = None, decoder_options: dict[str, Any] | None = None,
                       progress: bool = False, csv_options: CsvOptions | None = None,
                       emit_many: EmitMany | None = None, first: DecodeWorker | None = None) -> None:
    """Replay the files in order; the next file decodes (on the other core) while this one is replayed.
    `emit_many`, when given, takes each decoded chunk whole (see EmitMany) unless the replay is paced.
    `first`: the first file's worker, started earlier (start_decoding), so that it decoded while the
    caller started up; closed here like the others."""
    pacer = Pacer(speed)
    workers: list[DecodeWorker] = [first] if first is not None else []
    bar = _progress(paths, fmt, progress)
    try:
        for i, path in enumerate(paths):
            if not workers:
                workers.append(start_decoding(path, fmt, decoder_options, csv_options))
            if i + 1 < len(paths):
                workers.append(start_decoding(paths[i + 1], fmt, decoder_options, csv_options))
            log.info("replaying %s", path)
            if bar is not None:
                bar.start_file(i, path)
            await replay_file(workers[0], emit, stats, pacer=pacer, bar=bar, emit_many=emit_many)
            await workers.pop(0).close()
    finally:
        if bar is not None:
            bar.close()
        for worker in workers:
            await worker.close()
