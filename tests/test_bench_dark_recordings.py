"""bench/dark_recordings.py, briefly: on a bundled recording it runs and its figures add up; on a small
synthetic recording (no bundled one is long enough for the new rules to differ from the old) it puts
each went_dark the new rules leave out down to the part of them that does it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import xor
from pathlib import Path
from typing import Any

import pytest
from pyais import encode_dict

REPO = Path(__file__).resolve().parent.parent
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def run_bench(tmp_path: Path, *args: str, timeout: float) -> list[dict[str, Any]]:
    out = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIS_WATCH_")}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "dark_recordings.py"), *args,
                           "--json", str(out), "--timeout", str(timeout)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| recording |" in proc.stdout and "replay wall time" in proc.stdout
    figures: list[dict[str, Any]] = json.loads(out.read_text())
    return figures


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_runs_on_a_bundled_recording(tmp_path: Path) -> None:
    # 6 minutes: short enough for the satellite recording's ships to go dark within it.
    [result] = run_bench(tmp_path, "--recording", "amsa-satellite-trailing-ms.nmea",
                         "--threshold-hours", "0.1", timeout=170)
    assert result["vessels"] > 900 and result["watched"] <= result["vessels"]
    assert result["old"] > 0 and result["new"] <= result["old"]
    assert result["old"] == result["new"] - result["new_only"] + sum(result["causes"].values())
    assert result["still_near"] + result["still_alone"] == result["new"] - result["new_only"]
    assert {"old", "new"} <= set(result["seconds"])


def _line(mmsi: int, when: datetime, lat: float, lon: float, station: str | None) -> str:
    body = (f"s:{station}," if station else "") + f"c:{int(when.timestamp())}"
    [sentence] = encode_dict({"type": 1, "mmsi": mmsi, "status": 0, "speed": 10.0, "lon": lon, "lat": lat,
                              "course": 90.0, "heading": 90, "second": when.second, "accuracy": 1},
                             talker_id="AI", sentence_type="VDM", radio_channel="A", seq_id=1)
    return f"\\{body}*{reduce(xor, body.encode(), 0):02X}\\{sentence}"


def synthetic_recording(path: Path) -> None:
    """Three hours of one feed: station B heard throughout; station A's four ships silent at 1:00 with
    it (a station outage); on B a ship with a 50-minute gap then silent at 1:30 (cadence: 100 minutes,
    past the end) and one really dark from 1:00; and, naming no station, an area heard every 21 minutes
    (satellite-only) with one ship silent from 0:42."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    lines: list[tuple[datetime, str]] = []

    def ship(mmsi: int, lat: float, lon: float, station: str | None,
             spans: list[tuple[timedelta, timedelta]], every: timedelta) -> None:
        for begin, end in spans:
            t = start + begin
            while t < start + end:
                lines.append((t, _line(mmsi, t, lat, lon, station)))
                t += every

    for i in range(5):
        ship(211000001 + i, 55.0 + i * 0.01, 10.0, "B", [(0 * MINUTE, 3 * HOUR)], timedelta(seconds=20))
    for i in range(4):
        ship(212000001 + i, 55.5 + i * 0.01, 11.5, "A", [(0 * MINUTE, HOUR)], timedelta(seconds=20))
    ship(213000001, 55.1, 10.1, "B", [(0 * MINUTE, 20 * MINUTE), (70 * MINUTE, 90 * MINUTE)], MINUTE)
    ship(214000001, 55.05, 10.05, "B", [(0 * MINUTE, HOUR)], MINUTE)
    for i in range(8):
        ship(215000001 + i, 20.2 + i * 0.05, 60.3, None, [(0 * MINUTE, 3 * HOUR)], 21 * MINUTE)
    ship(216000001, 20.5, 60.5, None, [(0 * MINUTE, 43 * MINUTE)], 21 * MINUTE)
    lines.sort(key=lambda pair: pair[0])
    path.write_text("".join(line + "\n" for _, line in lines))


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_attributes_what_the_new_rules_leave_out(tmp_path: Path) -> None:
    recording = tmp_path / "synthetic.nmea"
    synthetic_recording(recording)
    [result] = run_bench(tmp_path, "--path", str(recording), timeout=290)
    assert result["vessels"] == 20
    assert (result["old"], result["new"], result["new_only"]) == (7, 1, 0)
    assert result["causes"] == {"station or area in outage": 4, "cadence": 1, "satellite-only area": 1,
                                "several (each alone)": 0, "unattributed (only together)": 0}
    assert (result["still_near"], result["still_alone"]) == (1, 0)  # the dark ship on B, B's ships near
    assert result["reception_loss"] == 1  # station A
    assert set(result["seconds"]) == {"old", "new", "reception", "cadence", "satellite"}
