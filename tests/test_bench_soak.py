"""bench/soak.py, briefly: a real `ais-watch serve` on SQLite fed by the bench's local aisstream server for a
few seconds at a low rate, queried by its load generator; every figure comes out and nothing is lost."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO
from tests.helpers.serve import child_env

pytestmark = pytest.mark.integration


@pytest.mark.timeout(90)
def test_soak_runs_briefly_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    env = child_env()
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--rate", "400", "--duration", "6",
         "--ships", "300", "--api-rate", "10", "--health-rate", "5", "--sample-interval", "0.5",
         "--drain-timeout", "20", "--json", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=80)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "LOST (sent - stored)" in proc.stdout
    result = json.loads(out.read_text())

    ingest = result["ingest"]
    assert ingest["offered"] == 2400
    assert ingest["sent"] == ingest["offered"]
    assert ingest["not_taken"] == 0 and ingest["skipped_disconnected"] == 0
    assert ingest["received"] == ingest["sent"]
    assert ingest["stored"] == ingest["sent"]
    assert ingest["lost"] == 0
    assert ingest["distinct_mmsi_stored"] == 300
    assert ingest["connections"] == 1
    assert ingest["drained"] and ingest["service_exit_code"] == 0
    assert ingest["achieved_rate"] > 300

    lag = result["lag"]
    assert lag["samples"] >= 5
    for key in ("gauge_p50_s", "gauge_p95_s", "gauge_max_s", "feed_to_store_p95_s"):
        assert math.isfinite(lag[key]) and lag[key] >= 0, key

    rss = result["rss"]
    assert rss["samples"] >= 4
    assert 20 < rss["warmup_mb"] <= rss["peak_mb"]
    assert math.isfinite(rss["growth_after_warmup_mb"])

    api = result["api"]
    assert api["data_routes"]["n"] >= 40 and api["data_routes"]["errors"] == 0
    assert api["healthz"]["n"] >= 20 and api["healthz"]["errors"] == 0
    assert math.isfinite(api["data_routes"]["p95_ms"]) and math.isfinite(api["healthz"]["p95_ms"])
    assert not api["errors"]
    assert result["cpu"]["service_cores"] > 0
