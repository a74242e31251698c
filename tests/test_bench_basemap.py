"""bench/basemap.py, briefly (two tiles a group): it runs, and its figures hold together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ais_watch.basemap import MAX_ZOOM

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_the_basemap_bench_runs_and_adds_up(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIS_WATCH_")}
    command = [sys.executable, str(REPO / "bench" / "basemap.py"), "--tiles", "2", "--json", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| z | tiles (watched) |" in proc.stdout and "first view 1280x800" in proc.stdout
    figures = json.loads(out.read_text())
    assert [row["z"] for row in figures["zooms"]] == list(range(MAX_ZOOM + 1))
    for row in figures["zooms"]:
        assert 0 < row["cold_p50"] <= row["cold_p95"] and 0 < row["warm_p50"] <= row["warm_p95"]
        assert 0 < row["gzip_mean"] <= row["gzip_max"] <= row["raw_max"]
    build = figures["build"]
    assert build["build_s"] > 0 and build["rss_peak_mib"] >= build["rss_kept_mib"] > build["rss_start_mib"]
    view = figures["first_view"]["1280x800"]
    assert view["tiles"] == 20, "a 860x764 map at zoom 6 over Rajin: 4 by 5 tiles"
    assert view["total_bytes"] == view["file_bytes"] + view["tile_bytes"]
    assert view["file_bytes"] > 150_000, "Leaflet alone is ~147 KB"
