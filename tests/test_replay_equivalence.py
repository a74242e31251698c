"""`ais-watch replay` with every detector on stores the same rows and raises the same alerts as the replay
did before it was made faster (issue 17).

The expected digests below were NOT produced by the code under test. They were printed by
`python -m tests.test_replay_equivalence DB_URL` (the `__main__` at the end of this file) on the code of
commit 11d93d9 (before any of issue 17's changes), once on SQLite and once on PostgreSQL, which gave the
same figures; that run is the reference behaviour. The replay is the three bundled recordings with every
MMSI that pyais alone finds in them on the watchlist, the dark thresholds at six minutes (so the short
recordings raise went_dark and reappeared), and two zones of this test's own over Danish waters (so zone
entries are raised; the recording is too short for exits). Compared: every stored position (all its
columns), vessel row, identity change, port call and encounter, and every alert (all its columns but the
id, the wall-clock raised_at and the incident id), as sorted lists, and the replay's printed summary (its
counts, rejects by reason and alerts by kind): a change of batching that keeps the rows and alerts passes,
a changed value, a lost row or a different alert fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pyais.stream import IterMessages
from sqlalchemy import Table, select

from ais_watch.cli import main
from ais_watch.model import mmsi_is_valid
from ais_watch.store.schema import alerts, encounters, identity_history, port_calls, positions, vessels
from tests.helpers.db import engine_on
from tests.helpers.paths import DEMO_DATA

# In event-time order (January 2012, the end of January 2012, November 2013).
RECORDINGS = ("amsa-terrestrial-2012.nmea.gz", "amsa-satellite-trailing-ms.nmea",
              "dma-tagblock-pghp-2013.nmea.gz")
# Columns that are not the replay's result: row ids (insertion order) and the wall clock.
LEFT_OUT = frozenset({"id", "raised_at", "incident_id"})
SETTINGS = {"AIS_WATCH_DARK_THRESHOLD": "0.1", "AIS_WATCH_DARK_SATELLITE_THRESHOLD": "0.1",
            "AIS_WATCH_DARK_MAX_THRESHOLD": "0.2", "AIS_WATCH_DARK_MIN_DWELL": "0.05"}

# table -> (rows, sha256 of the sorted normalised rows), from commit 11d93d9 (see the docstring).
EXPECTED: dict[str, tuple[int, str]] = {
    "positions": (45920, "9e57c2b66f3f871fbd02d98f706c461528d58710a3ec6e6d2d686d5bcea7107e"),
    "vessels": (4507, "a3679f7bb372765619ca86ef1090fc6ccdeb25d3fd0a99b998c4f1e91f3989ec"),
    "identity_history": (11543, "f710baf1c20bf4f8ac73d88e07957c8bc7fa3941fd08706786a562e4545c9c35"),
    "port_calls": (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    "encounters": (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    "alerts": (611, "5a3db4f801feae582f216d57c9a8d0f3c70fb84fc0a7d216886eeae503b1e8b8"),
    "summary": (29, "29c2279b26615b9bc425c85f98e0cfae43c9b8810b9374c90425d6e94cb230ca"),
}


def _zone(zone_id: str, name: str, kind: str, lon0: float, lat0: float, lon1: float, lat1: float
          ) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Feature", "id": zone_id,
            "properties": {"id": zone_id, "name": name, "aliases": [], "country": "DK", "kind": kind,
                           "wpi": None, "locode": None, "ref_point": [(lon0 + lon1) / 2, (lat0 + lat1) / 2],
                           "source": "tests/test_replay_equivalence.py: a box, not a real boundary"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def write_zones(directory: Path) -> None:
    """Two boxes of the test's own where the Danish recording's ships are: the Sound and the Great Belt."""
    directory.mkdir(parents=True, exist_ok=True)
    features = [_zone("test-sound", "The Sound (test box)", "zone", 12.45, 55.55, 12.85, 56.15),
                _zone("test-great-belt", "Great Belt (test box)", "zone", 10.75, 55.15, 11.25, 55.75)]
    (directory / "test.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def recording_mmsis() -> list[int]:
    """Every valid MMSI of the recordings, by pyais alone (no framing of ours, no pipeline)."""
    import gzip

    found: set[int] = set()
    for name in RECORDINGS:
        path = DEMO_DATA / name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            sentences = [line[line.find(b"!"):] for line in fh if b"VDM," in line]
        for message in IterMessages([s[:s.find(b"*") + 3] for s in sentences]):
            try:
                mmsi = message.decode().mmsi
            except Exception:  # a sentence pyais cannot decode: not ours to judge here
                continue
            if mmsi is not None and mmsi_is_valid(int(mmsi)):
                found.add(int(mmsi))
    return sorted(found)


def write_watchlist(path: Path, mmsis: Iterable[int]) -> None:
    lines = ["name,imo,mmsi,flag,reason,source"]
    lines += [f"SHIP {m},,{m},,replay equivalence test,test" for m in mmsis]
    path.write_text("\n".join(lines) + "\n")


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


async def table_digests(db_url: str) -> dict[str, tuple[int, str]]:
    """Per table: how many rows and a sha256 of its rows (LEFT_OUT columns aside), sorted."""
    result: dict[str, tuple[int, str]] = {}
    tables: tuple[Table, ...] = (positions, vessels, identity_history, port_calls, encounters, alerts)
    async with engine_on(db_url, migrate_schema=False) as engine, engine.connect() as conn:
        for table in tables:
            columns = [c for c in table.columns if c.name not in LEFT_OUT]
            rows = (await conn.execute(select(*columns))).all()
            text = sorted(json.dumps([_value(v) for v in row], sort_keys=True) for row in rows)
            result[table.name] = (len(text), hashlib.sha256("\n".join(text).encode()).hexdigest())
    return result


def run_replay(db_url: str, work: Path) -> dict[str, tuple[int, str]]:
    """The watchlist imported, the recordings replayed with every detector on; the digests."""
    write_zones(work / "zones")
    watchlist = work / "watchlist.csv"
    write_watchlist(watchlist, recording_mmsis())
    assert main(["--db", db_url, "--log-level", "WARNING", "watchlist", "import", str(watchlist)]) == 0
    paths = [str(DEMO_DATA / name) for name in RECORDINGS]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--db", db_url, "--log-level", "WARNING", "replay", "--no-progress", *paths]) == 0
    # The replay's summary (every count, the rejects by reason, the alerts by kind) but its timing line.
    summary = printed.getvalue().splitlines()[1:]
    digests = asyncio.run(table_digests(db_url))
    digests["summary"] = (len(summary), hashlib.sha256("\n".join(summary).encode()).hexdigest())
    return digests


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_replay_stores_and_raises_what_it_did_before(db_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIS_WATCH_ZONES_DIRS", str(tmp_path / "zones"))
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    got = run_replay(db_url, tmp_path)
    capsys.readouterr()
    assert got["alerts"][0] > 100 and got["positions"][0] > 40_000  # the run did raise and store
    for table, expected in EXPECTED.items():
        assert got[table] == expected, f"{table}: {got[table]} where the reference code gave {expected}"


if __name__ == "__main__":  # how EXPECTED was made: python -m tests.test_replay_equivalence DB_URL
    import os
    import tempfile

    os.environ.update(SETTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AIS_WATCH_ZONES_DIRS"] = str(Path(tmp) / "zones")
        for table, (count, digest) in run_replay(sys.argv[1], Path(tmp)).items():
            print(f'    "{table}": ({count}, "{digest}"),')
