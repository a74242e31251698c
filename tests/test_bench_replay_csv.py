"""bench/replay_throughput.py --csv's input, briefly: the NMEA traffic written as a DMA aisdk CSV reads back
through the CSV reader as the DMA layout, one report a row, nothing malformed: each position as decoded
(to DMA's whole seconds and six decimals), each static report's identity."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ais_watch.decode import NmeaDecoder
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport
from ais_watch.sources.csv_import import CsvOptions, csv_reports
from ais_watch.sources.replay import detect_format
from bench.replay_throughput import DMA_HEADER, build_dma_csv
from tests.helpers.paths import DEMO_DATA

pytestmark = pytest.mark.unit


def test_the_bench_csv_is_the_nmea_traffic_in_the_dma_layout(tmp_path: Path) -> None:
    nmea = tmp_path / "danish.nmea"
    with gzip.open(DEMO_DATA / "dma-tagblock-pghp-2013.nmea.gz", "rb") as fh:
        nmea.write_bytes(b"".join(fh.readlines()[:15_000]))
    decoder = NmeaDecoder("bench", IngestStats(), require_event_time=True)
    now = datetime.now(UTC)
    decoded: list[Report] = [r for line in nmea.open("rb") for r in decoder.feed(line, now)]

    path, rows = build_dma_csv(nmea)
    assert (path, rows) == build_dma_csv(nmea)  # cached: the second call reads the file it wrote
    assert path.read_text().splitlines()[0] == ",".join(DMA_HEADER)
    assert detect_format(path) == "csv"
    stats = IngestStats()
    with path.open("rb") as fh:
        read = [r for _, found in csv_reports(path, fh, "test", stats, CsvOptions()) for r in found]

    positions = [r for r in decoded if isinstance(r, PositionReport)]
    all_statics = [r for r in decoded if isinstance(r, StaticReport)]
    # A CSV row is a static report when it names the ship (name, call sign or IMO), as DMA's rows do.
    statics = [r for r in all_statics if r.name or r.call_sign or r.imo]
    assert rows == len(decoded) > 1000
    assert "malformed_csv_row" not in stats.rejects
    assert stats.rejects.get("no_position") == len(all_statics)  # a static row has no position
    read_positions = [r for r in read if isinstance(r, PositionReport)]
    read_statics = [r for r in read if isinstance(r, StaticReport)]
    sar = sum(1 for r in positions if r.msg_type == 9)  # DMA's "SAR Airborne": not a vessel's row
    assert len(read_positions) == len(positions) - sar and len(read_statics) == len(statics)
    for want, got in zip((r for r in positions if r.msg_type != 9), read_positions, strict=True):
        assert got.mmsi == want.mmsi and got.time == want.time.replace(microsecond=0)
        assert abs(got.lat - want.lat) < 1e-6 and abs(got.lon - want.lon) < 1e-6
        assert (got.msg_type == 18) == (want.msg_type in (18, 19, 24))
        assert got.nav_status == (15 if want.nav_status is None else want.nav_status)  # DMA: "Unknown value"
    for want_s, got_s in zip(statics, read_statics, strict=True):
        assert (got_s.mmsi, got_s.name, got_s.call_sign, got_s.imo) == (want_s.mmsi, want_s.name,
                                                                        want_s.call_sign, want_s.imo)
