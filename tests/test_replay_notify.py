"""Alerts raised during a replay: stored on event time, delivered to a loopback webhook with --notify
(deliver=True), and with no delivery rows at all without it, so a later `serve` sends nothing.

The replay is real: a small NMEA file with tag-block times, built with pyais's encoder, through
`running_pipeline` + `replay_paths` (and through `ais-watch replay`), with a test Stage that raises
went_dark drafts for one MMSI.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ais_watch import cli
from ais_watch.alerts.model import AlertDraft, alert_json
from ais_watch.alerts.notifiers import verify_signature
from ais_watch.alerts.notifiers.webhook import serialise
from ais_watch.clock import ReplayClock, WallClock
from ais_watch.config import Settings, load_settings
from ais_watch.decode import decoder_options
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, StageBase
from ais_watch.runtime import running_pipeline
from ais_watch.sources.replay import replay_paths
from ais_watch.store.schema import alerts, deliveries
from tests.helpers.cli import summary_value
from tests.helpers.db import rows_of
from tests.helpers.nmea import encode, tagged
from tests.helpers.receiver import Receiver, receiver_server

pytestmark = pytest.mark.integration

SECRET = "replay-secret"
TARGET, OTHER = 273350140, 244660000
START = datetime(2023, 9, 12, 14, 0, tzinfo=UTC)
# The target: a fix every 2 minutes for 20 minutes, then one 45 minutes in (after the 30-minute cooldown).
TARGET_MINUTES = [*range(0, 21, 2), 45]
LIMIT = 30  # seconds any one test may take


def message(when: datetime, **fields: Any) -> bytes:
    """One single-sentence message, tagged with its event time."""
    (sentence,) = encode(**fields)
    return tagged(sentence, int(when.timestamp()), "replaytest")


@pytest.fixture
def nmea_file(tmp_path: Path) -> Path:
    lines = [message(START, type=24, mmsi=TARGET, partno=0, shipname="NORDSTERN")]
    for minute in range(0, 50):
        when = START + timedelta(minutes=minute)
        if minute in TARGET_MINUTES:
            lines.append(message(when, type=1, mmsi=TARGET, lat=42.24 + minute / 1000, lon=130.29, speed=0.1,
                                 course=12.0, heading=10, status=5))
        lines.append(message(when, type=1, mmsi=OTHER, lat=54.1 + minute / 1000, lon=10.5, speed=12.0,
                             course=90.0, heading=90, status=0))
    path = tmp_path / "went-dark.nmea"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


EXPECTED_TIMES = [START, START + timedelta(minutes=45)]  # one per cooldown, on event time


@dataclass
class WentDarkStage(StageBase):
    """Raises went_dark for every fix of one MMSI (the store's cooldown thins them out)."""

    mmsi: int
    name: str = "test-went-dark"
    drafts: list[AlertDraft] = field(default_factory=list)
    place: str | None = None

    def handle(self, report: Report, ctx: Context) -> None:
        if report.mmsi != self.mmsi or not isinstance(report, PositionReport):
            return
        vessel = ctx.vessel
        draft = AlertDraft(kind="went_dark", occurred_at=report.time, event_key=report.time.isoformat(),
                           mmsi=report.mmsi, vessel_name=vessel["name"], place=self.place,
                           lat=report.lat, lon=report.lon,
                           details={"gap_seconds": 7200, "source": report.source})
        self.drafts.append(draft)
        ctx.services.raise_alert(draft)


def only_test_stages() -> dict[str, Any]:
    """running_pipeline's keyword that leaves the stock detectors out (zones, watchlist, dark and the
    rest): only the test stage raises alerts here."""
    return {"detectors": False} if "detectors" in inspect.signature(running_pipeline).parameters else {}


def settings_for(db_url: str, webhook_url: str | None = None, **env: str) -> Settings:
    environ = {"AIS_WATCH_DB": db_url, "AIS_WATCH_ALERTS_RETRY_INITIAL": "0.05",
               "AIS_WATCH_ALERTS_RETRY_MAX": "0.2", "AIS_WATCH_ALERTS_HTTP_TIMEOUT": "2", **env}
    if webhook_url:
        environ["AIS_WATCH_WEBHOOK_URL"] = webhook_url
        environ["AIS_WATCH_WEBHOOK_SECRET"] = SECRET
    return load_settings(environ=environ)


# ---------------------------------------------------------------------------------- in-process
async def test_alerts_raised_in_a_replay_are_stored_and_delivered(db_url: str, nmea_file: Path,
                                                                  receiver: Receiver) -> None:
    settings = settings_for(db_url, receiver.url("/hook"))
    stage = WentDarkStage(TARGET)
    async with asyncio.timeout(LIMIT):
        async with running_pipeline(settings, ReplayClock(), deliver=True, stages=[stage],
                                    **only_test_stages()) as runtime:
            await replay_paths([nmea_file], "nmea", runtime.pipeline.submit, runtime.stats,
                               decoder_options=decoder_options(settings))
            await runtime.pipeline.store_alerts()
            assert runtime.dispatcher is not None
            assert await runtime.dispatcher.drain(10)
            stored = await runtime.alerts.query()
            stats = runtime.alerts.stats
        delivery_rows = await rows_of(db_url, deliveries)

    assert len(stage.drafts) == len(TARGET_MINUTES)  # every fix raised one
    assert [r["occurred_at"] for r in stored] == EXPECTED_TIMES  # event time from the tag blocks
    assert all(r["mmsi"] == TARGET and r["vessel_name"] == "NORDSTERN" for r in stored)
    assert stats.raised == {"went_dark": 2} and stats.cooled_down == len(TARGET_MINUTES) - 2
    assert stats.deliveries == {"delivered": 2}

    assert [r.json()["id"] for r in receiver.requests] == [r["id"] for r in stored]
    for got, row in zip(receiver.requests, stored, strict=True):
        assert got.body == serialise(alert_json(row))
        assert verify_signature(SECRET, got.headers["X-AIS-Watch-Timestamp"], got.body,
                                got.headers["X-AIS-Watch-Signature"])
    assert [(d["alert_id"], d["notifier"], d["state"]) for d in delivery_rows] == [
        (r["id"], "webhook", "delivered") for r in stored]
    assert {d["idempotency_key"] for d in delivery_rows} == {r.key for r in receiver.requests}


async def test_without_deliver_alerts_get_no_deliveries_and_a_later_serve_sends_nothing(
        db_url: str, nmea_file: Path, receiver: Receiver) -> None:
    settings = settings_for(db_url, receiver.url("/hook"))  # a webhook is configured all the same
    async with asyncio.timeout(LIMIT):
        async with running_pipeline(settings, ReplayClock(), deliver=False, stages=[WentDarkStage(TARGET)],
                                    **only_test_stages()) as runtime:
            assert runtime.dispatcher is None
            await replay_paths([nmea_file], "nmea", runtime.pipeline.submit, runtime.stats,
                               decoder_options=decoder_options(settings))
        assert [r["occurred_at"] for r in await rows_of(db_url, alerts)] == EXPECTED_TIMES
        assert await rows_of(db_url, deliveries) == []

        # What `serve` runs: a live pipeline with a dispatcher. It has nothing to send.
        async with running_pipeline(settings, WallClock(), deliver=True, **only_test_stages()) as live:
            assert live.dispatcher is not None
            await asyncio.sleep(0.5)
            assert await live.dispatcher.drain(2)
    assert receiver.requests == []
    assert await rows_of(db_url, deliveries) == []


# -------------------------------------------------------------------------------------- the CLI
@pytest.fixture
def with_stage(monkeypatch: pytest.MonkeyPatch) -> WentDarkStage:
    """`ais-watch replay` with the test stage in its pipeline (the CLI has no way to add one)."""
    stage = WentDarkStage(TARGET)
    monkeypatch.setattr(cli, "running_pipeline",
                        functools.partial(running_pipeline, stages=[stage], **only_test_stages()))
    return stage


def test_replay_notify_with_no_notifiers_exits_0_at_once(
        db_url: str, nmea_file: Path, with_stage: WentDarkStage, capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    code = cli.main(["--db", db_url, "replay", str(nmea_file), "--notify", "--no-progress"])
    elapsed = time.monotonic() - began
    out = capsys.readouterr().out
    assert code == 0
    assert elapsed < 15  # not alerts.notify_wait (60 s): there is nothing to wait for
    assert summary_value(out, "alerts raised") == 2 and summary_value(out, "went_dark") == 2
    assert "deliveries" not in out
    assert asyncio.run(rows_of(db_url, deliveries)) == []
    # And with nothing configured to raise alerts either (the stock CLI).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "running_pipeline", functools.partial(running_pipeline, **only_test_stages()))
        assert cli.main(["--db", db_url, "replay", str(nmea_file), "--notify", "--no-progress"]) == 0
    assert summary_value(capsys.readouterr().out, "alerts raised") == 0


async def test_cli_replay_notify_delivers_and_a_second_run_sends_nothing_new(
        db_url: str, nmea_file: Path, receiver: Receiver, with_stage: WentDarkStage,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIS_WATCH_WEBHOOK_URL", receiver.url("/hook"))
    monkeypatch.setenv("AIS_WATCH_WEBHOOK_SECRET", SECRET)
    args = ["--db", db_url, "replay", str(nmea_file), "--notify", "--no-progress"]
    async with asyncio.timeout(LIMIT):
        assert await asyncio.to_thread(cli.main, args) == 0
        out = capsys.readouterr().out
        assert summary_value(out, "alerts raised") == 2 and summary_value(out, "deliveries delivered") == 2
        assert len(receiver.requests) == 2
        # The same recording again: the same events, so no new alert and nothing sent twice.
        assert await asyncio.to_thread(cli.main, args) == 0
        out = capsys.readouterr().out
        assert summary_value(out, "alerts raised") == 0
        assert len(receiver.requests) == 2
        assert [d["state"] for d in await rows_of(db_url, deliveries)] == ["delivered", "delivered"]


async def test_cli_replay_without_notify_creates_no_deliveries(
        db_url: str, nmea_file: Path, receiver: Receiver, with_stage: WentDarkStage,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIS_WATCH_WEBHOOK_URL", receiver.url("/hook"))
    async with asyncio.timeout(LIMIT):
        args = ["--db", db_url, "replay", str(nmea_file), "--no-progress"]
        assert await asyncio.to_thread(cli.main, args) == 0
        out = capsys.readouterr().out
        assert summary_value(out, "alerts raised") == 2 and "deliveries" not in out
        assert len(await rows_of(db_url, alerts)) == 2
        assert await rows_of(db_url, deliveries) == []
    assert receiver.requests == []


async def test_cli_replay_notify_with_the_receiver_down_waits_bounded_and_serve_delivers_later(
        db_url: str, nmea_file: Path, with_stage: WentDarkStage, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with receiver_server() as probe:  # find a free port, then leave it closed: the receiver is down
        url = probe.url("/hook")
    port = int(url.split(":")[2].split("/")[0])
    monkeypatch.setenv("AIS_WATCH_WEBHOOK_URL", url)
    monkeypatch.setenv("AIS_WATCH_ALERTS_NOTIFY_WAIT", "1")
    monkeypatch.setenv("AIS_WATCH_ALERTS_RETRY_INITIAL", "0.05")
    monkeypatch.setenv("AIS_WATCH_ALERTS_RETRY_MAX", "0.2")
    async with asyncio.timeout(LIMIT):
        began = time.monotonic()
        code = await asyncio.to_thread(cli.main, ["--db", db_url, "replay", str(nmea_file), "--notify",
                                                  "--no-progress"])
        elapsed = time.monotonic() - began
        out = capsys.readouterr().out
        assert code == 0 and elapsed < 12
        assert summary_value(out, "deliveries pending") == 2
        rows = await rows_of(db_url, deliveries)
        assert [r["state"] for r in rows] == ["pending", "pending"] and all(r["attempts"] >= 1 for r in rows)

        # The receiver comes up; the next serve-like run delivers them, with the attempt history kept.
        async with receiver_server(port) as rec:
            settings = load_settings().with_overrides(db=db_url)
            async with running_pipeline(settings, WallClock(), deliver=True, **only_test_stages()) as live:
                assert live.dispatcher is not None
                assert await live.dispatcher.drain(10)
            assert sorted(r.key for r in rec.accepted()) == sorted(r["idempotency_key"] for r in rows)
        after = await rows_of(db_url, deliveries)
        assert [r["state"] for r in after] == ["delivered", "delivered"]
        assert all(a["attempts"] > b["attempts"] for a, b in zip(after, rows, strict=True))


# ----------------------------------------------------------------------------- a draft that cannot be stored
async def test_a_draft_the_database_refuses_does_not_block_later_alerts(
        db_url: str, nmea_file: Path, request: pytest.FixtureRequest) -> None:
    """A detector's draft with a place longer than the column (128): SQLite takes it, PostgreSQL refuses it.
    Either way, the alerts raised after it must still be stored."""
    settings = settings_for(db_url)
    long_place = "Rajin " + "x" * 200
    bad, good = WentDarkStage(TARGET, place=long_place), WentDarkStage(OTHER, place="Kiel")
    async with asyncio.timeout(LIMIT):
        async with running_pipeline(settings, ReplayClock(), deliver=False, stages=[bad, good],
                                    **only_test_stages()) as runtime:
            await replay_paths([nmea_file], "nmea", runtime.pipeline.submit, runtime.stats,
                               decoder_options=decoder_options(settings))
        stored = await rows_of(db_url, alerts)
    assert OTHER in {r["mmsi"] for r in stored}, "the alerts of the other vessel were never stored"

