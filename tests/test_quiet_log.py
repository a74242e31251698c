"""A quiet log: a scheduler job that runs says nothing, one that fails says so in one line with its name and
the error (the traceback only at DEBUG), and the periodic ingest line stays. Checked on the real jobs of
`start_scheduler` under APScheduler, and on the log of a real `ais-watch serve` run."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ais_watch.clock import WallClock
from ais_watch.config import load_settings
from ais_watch.logs import quiet_libraries
from ais_watch.runtime import running_pipeline
from ais_watch.scheduler import start_scheduler
from tests.helpers.serve import Serve, child_env, nmea_feed

pytestmark = pytest.mark.integration


@pytest.fixture
def quiet_at_info() -> Iterator[None]:
    """The levels `ais-watch --log-level INFO` gives the libraries, put back afterwards."""
    saved = {name: logging.getLogger(name).level for name in ("alembic", "apscheduler")}
    quiet_libraries("INFO")
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def scheduler_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("apscheduler", "ais_watch.scheduler"))]


async def test_a_failing_job_is_one_line_a_run_and_a_good_one_is_silent(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        quiet_at_info: None) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": f"sqlite:///{tmp_path / 'q.db'}",
                                      "AIS_WATCH_TICKS_INTERVAL": "0.2"})
    calls: list[str] = []

    async def database_gone(fleet: bool) -> None:
        calls.append("failed")
        raise ConnectionError("database is gone")

    caplog.set_level(logging.INFO)
    async with asyncio.timeout(30), running_pipeline(settings, WallClock(), deliver=False) as runtime:
        real_ticks = runtime.pipeline.run_ticks
        ran: list[bool] = []

        async def counted(fleet: bool) -> None:
            ran.append(fleet)
            await real_ticks(fleet=fleet)

        monkeypatch.setattr(runtime.pipeline, "run_ticks", counted)
        scheduler = start_scheduler(runtime, settings)
        try:
            caplog.clear()
            while len(ran) < 3:  # three good runs of the ticks job
                await asyncio.sleep(0.05)
            assert scheduler_records(caplog) == [], "a job that runs says nothing"

            monkeypatch.setattr(runtime.pipeline, "run_ticks", database_gone)
            while len(calls) < 3:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.05)
            failures = scheduler_records(caplog)
            assert len(failures) >= 3 and len(failures) == len(calls), [r.getMessage() for r in failures]
            for record in failures:
                assert (record.name, record.levelno) == ("ais_watch.scheduler", logging.ERROR)
                assert record.getMessage() == "job ticks failed: ConnectionError: database is gone"
                assert record.exc_info is None  # no traceback at INFO

            logging.getLogger("ais_watch.scheduler").setLevel(logging.DEBUG)
            caplog.clear()
            seen = len(calls)
            while len(calls) < seen + 1:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.05)
            (debug_failure, *_) = scheduler_records(caplog)
            assert debug_failure.exc_info is not None  # debugging: the traceback too
        finally:
            scheduler.shutdown(wait=False)
            logging.getLogger("ais_watch.scheduler").setLevel(logging.NOTSET)


async def test_apscheduler_speaks_again_at_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The other side: the per-run lines are only below the level, not gone (a --log-level DEBUG run)."""
    saved = logging.getLogger("apscheduler").level
    quiet_libraries("DEBUG")
    settings = load_settings(environ={"AIS_WATCH_DB": f"sqlite:///{tmp_path / 'q.db'}",
                                      "AIS_WATCH_TICKS_INTERVAL": "0.2"})
    caplog.set_level(logging.DEBUG)
    try:
        async with asyncio.timeout(30), running_pipeline(settings, WallClock(), deliver=False) as runtime:
            scheduler = start_scheduler(runtime, settings)
            try:
                while not any("executed successfully" in r.getMessage() for r in caplog.records):
                    await asyncio.sleep(0.05)
                assert any(r.getMessage().startswith('Running job "run_ticks') for r in caplog.records)
            finally:
                scheduler.shutdown(wait=False)
    finally:
        logging.getLogger("apscheduler").setLevel(saved)


async def test_a_serve_run_logs_the_ingest_line_and_no_job_runs(tmp_path: Path) -> None:
    async with nmea_feed() as feed:
        env = child_env(AIS_WATCH_DB=f"sqlite:///{tmp_path / 'serve.db'}", AIS_WATCH_HTTP_PORT="0",
                        AIS_WATCH_HTTP_HOST="127.0.0.1", AIS_WATCH_NMEA_TCP=f"127.0.0.1:{feed.port}",
                        AIS_WATCH_LOG_LEVEL="INFO", AIS_WATCH_TICKS_INTERVAL="0.5",
                        AIS_WATCH_STATS_INTERVAL="1", AIS_WATCH_FEED_OUTAGE_AFTER="1")
        async with Serve(env, tmp_path / "serve.log") as serve:
            await serve.start()
            await serve.started(60)
            # The silent feed goes into outage on a tick: proof the ticks job runs, every 0.5 s.
            await serve.wait_for(lambda: "feed_outage" in serve.text(), 30, "a feed_outage: the ticks job")
            await serve.wait_for(lambda: serve.text().count(" ingest: ") >= 3, 30, "three ingest lines")
            code, _ = await serve.stop()
            assert code == 0, serve.tail()
    log = serve.text()
    assert "Running job" not in log and "executed successfully" not in log, log
    assert not re.search(r" INFO apscheduler", log), log
    assert "Traceback" not in log, log
