"""The replay's progress bar: one bar over the bytes of all the files as they lie on disk (a gzip file's
compressed bytes), whatever their format, reaching its total when the replay ends; the decode worker says
how far it has read with each chunk.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ais_watch.model import IngestStats, Report
from ais_watch.sources import replay
from ais_watch.sources.replay import ReplayProgress, file_reports, replay_paths
from tests.helpers.aisstream import position_report, ship_static_data
from tests.helpers.paths import DEMO_DATA

DEMO = DEMO_DATA / "dma-tagblock-pghp-2013.nmea.gz"  # 80,246 lines: several chunks of the worker's
DMA_HEADER = ("# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,Heading,"
              "IMO,Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,Draught,"
              "Destination,ETA,Data source type,A,B,C,D")


def dma_rows(count: int) -> str:
    rows = [DMA_HEADER]
    for i in range(count):
        clock = f"{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        rows.append(f"27/02/2024 {clock},Class A,{219000000 + i % 50},"
                    f"55.{i % 1000:03d},12.{i % 700:03d},Under way using engine,,10.2,{i % 360}.0,{i % 360},"
                    "Unknown,,,Undefined,,,,GPS,,,,AIS,,,,")
    return "\n".join(rows) + "\n"


def write_inputs(tmp_path: Path) -> list[Path]:
    """NMEA gzip (the bundled recording), NMEA plain, aisstream JSON lines and a DMA CSV, gzipped."""
    plain = tmp_path / "part.nmea"
    with gzip.open(DEMO, "rb") as fh:
        plain.write_bytes(b"".join(fh.readlines()[:30_000]))
    stream = tmp_path / "stream.jsonl"
    stream.write_text("\n".join(json.dumps(m) for m in (position_report(), ship_static_data())) + "\n")
    csv_gz = tmp_path / "aisdk-2024-02-27.csv.gz"
    csv_gz.write_bytes(gzip.compress(dma_rows(30_000).encode()))
    return [DEMO, plain, stream, csv_gz]


class Recorded(ReplayProgress):
    """The bar, written to a string, remembering every position it was moved to."""

    made: ClassVar[list[Recorded]] = []

    def __init__(self, paths: list[Path], unit: str, file: Any = None) -> None:
        self.output = io.StringIO()
        super().__init__(paths, unit, file=self.output)
        self.positions: list[int] = []
        Recorded.made.append(self)

    def update(self, stats: IngestStats) -> None:
        super().update(stats)
        self.positions.append(self.bar.n)


@pytest.mark.integration  # decode worker processes
def test_one_bar_over_every_file_reaches_their_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_inputs(tmp_path)
    Recorded.made = []
    monkeypatch.setattr(replay, "ReplayProgress", Recorded)
    seen: list[Report] = []

    async def emit(report: Report) -> None:
        seen.append(report)

    stats = IngestStats()
    asyncio.run(replay_paths(paths, "auto", emit, stats, progress=True))

    assert len(Recorded.made) == 1  # one bar for the whole replay, not one a file
    bar = Recorded.made[0]
    total = sum(p.stat().st_size for p in paths)  # on disk: the gzip files' compressed bytes
    assert bar.total == bar.bar.total == total
    assert bar.positions[-1] == total == stats.bytes_read
    assert bar.positions == sorted(bar.positions)
    # It moves within a file (each chunk says how far its worker has read), not only at the files' ends.
    ends = {sum(p.stat().st_size for p in paths[:i + 1]) for i in range(len(paths))}
    assert any(0 < n < total and n not in ends for n in bar.positions)
    assert "lines/s" in bar.output.getvalue() and "%|" in bar.output.getvalue()
    assert seen


@pytest.mark.unit
@pytest.mark.parametrize("compressed", [False, True])
def test_a_csv_reader_reports_how_far_it_has_read_on_disk(tmp_path: Path, compressed: bool) -> None:
    text = dma_rows(20_000).encode()
    path = tmp_path / ("aisdk.csv.gz" if compressed else "aisdk.csv")
    path.write_bytes(gzip.compress(text) if compressed else text)
    size = path.stat().st_size
    stats = IngestStats()
    positions = []
    for _line, _reports in file_reports(path, "csv", "test", {}, stats):
        positions.append(stats.bytes_read)
    assert positions == sorted(positions)
    assert 0 < positions[len(positions) // 2] < size  # part way through, part of the file
    assert max(positions) <= size  # a gzip file's compressed bytes, never the text's (several times more)
    assert stats.bytes_read == size  # at the end: the whole file
    assert stats.rejects == {}


@pytest.mark.unit
def test_a_gzip_cut_short_still_ends_the_bar_at_its_size(tmp_path: Path) -> None:
    whole = gzip.compress(dma_rows(5_000).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[:len(whole) // 2])
    stats = IngestStats()
    for _ in file_reports(path, "csv", "test", {}, stats):
        pass
    assert stats.rejects.get("file_cut_short") == 1
    assert stats.bytes_read == path.stat().st_size


@pytest.mark.unit
def test_the_rate_is_in_rows_for_csv_and_lines_otherwise(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path)
    csv_bar = replay._progress(paths[-1:], "auto", True)
    mixed_bar = replay._progress(paths, "auto", True)
    try:
        assert csv_bar is not None and csv_bar.unit == "rows"
        assert mixed_bar is not None and mixed_bar.unit == "lines"
    finally:
        for bar in (csv_bar, mixed_bar):
            if bar is not None:
                bar.close()
    assert replay._progress(paths, "auto", False) is None  # --no-progress, or not a terminal
