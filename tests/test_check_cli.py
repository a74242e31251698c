"""`ais-watch check`: what `serve` would trip over, found before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ais_watch.cli import main


@pytest.mark.integration
def test_check_passes_on_a_fresh_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", f"sqlite:///{tmp_path / 'ok.db'}", "check"]) == 0
    out = capsys.readouterr().out
    assert "settings: ok" in out and "schema at head" in out
    assert "31 zones" in out  # the bundled geofences


@pytest.mark.unit
def test_check_names_a_broken_geofence_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    point = '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}}'
    (zones / "mine.geojson").write_text('{"type": "FeatureCollection", "features": [' + point + "]}")
    monkeypatch.setenv("AIS_WATCH_ZONES_DIRS", str(zones))
    assert main(["--db", f"sqlite:///{tmp_path / 'z.db'}", "check"]) == 2
    err = capsys.readouterr().err
    assert "mine.geojson feature 0" in err and "Polygon" in err


@pytest.mark.unit
def test_check_names_a_bad_notifier_without_leaking_its_url(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIS_WATCH_SLACK_WEBHOOK_URL", "ftp://hooks.example/secret-token")
    assert main(["--db", f"sqlite:///{tmp_path / 'n.db'}", "check"]) == 2
    err = capsys.readouterr().err
    assert "slack_webhook_url" in err and "secret-token" not in err


@pytest.mark.integration
def test_check_reports_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", "postgresql://postgres@127.0.0.1:1/none", "check"]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err or "cannot open database" in err, err


@pytest.mark.unit
def test_serve_with_no_feed_and_no_demo_refuses_in_one_line_before_starting_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIS_WATCH_DEMO_REPLAY", "false")
    monkeypatch.setenv("AIS_WATCH_HTTP_PORT", "0")
    db = tmp_path / "serve.db"
    assert main(["--db", f"sqlite:///{db}", "serve"]) == 2
    err = capsys.readouterr().err
    assert "no AIS source configured" in err and "demo.replay is off" in err
    assert "Traceback" not in err and "CancelledError" not in err
    assert not db.exists(), "refused before the database was opened"
