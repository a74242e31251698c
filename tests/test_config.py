"""Settings: defaults, TOML file, environment, masking, errors that name the setting, README in step."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from ais_watch.cli import main
from ais_watch.config import BY_NAME, SETTINGS, load_settings, settings_table_markdown
from ais_watch.errors import ConfigError
from ais_watch.pipeline.runner import PipelineOptions
from ais_watch.store.writer import StoreWriter
from tests.helpers.paths import REPO

pytestmark = pytest.mark.unit

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def toml(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "ais-watch.toml"
    path.write_text(content)
    return path


# ------------------------------------------------------------------------------------- defaults
def test_defaults() -> None:
    settings = load_settings(environ={})
    for s in SETTINGS:
        assert settings[s.name] == s.default, s.name
        assert settings.origins[s.name] == "default"
    assert settings["db"] == "sqlite:///./ais-watch.db"


def test_defaults_agree_with_the_components_they_configure() -> None:
    import inspect

    settings = load_settings(environ={})
    options = PipelineOptions()
    assert settings["store.batch_size"] == options.batch_size
    assert settings["store.flush_interval"] == options.flush_interval
    assert settings["dedup.window"] == options.dedup_window
    writer_defaults = inspect.signature(StoreWriter).parameters
    assert settings["store.queue_batches"] == writer_defaults["queue_batches"].default
    assert settings["store.retry_max_delay"] == writer_defaults["retry_max_delay"].default


def test_environ_argument_isolates_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIS_WATCH_STORE_BATCH_SIZE", "5")
    assert load_settings(environ={})["store.batch_size"] == 2000
    assert load_settings()["store.batch_size"] == 5


# ------------------------------------------------------------------------------ file and environment
def test_toml_file(tmp_path: Path) -> None:
    path = toml(tmp_path, """
db = "postgresql://ais@db.example/ais"
log_level = "DEBUG"

[store]
batch_size = 500
flush_interval = 2          # an integer for a float setting
queue_batches = 3

[dedup]
window = 30.5

[demo]
replay = false

[nmea]
tcp = ["10.0.0.5:4001", "[::1]:4002"]
udp = ["0.0.0.0:10110"]

[aisstream]
bounding_boxes = [[[38.0, 124.0], [40.5, 129.5]]]
mmsi_filter = [273355410, "445123000"]
""")
    settings = load_settings(path, environ={})
    assert settings["db"] == "postgresql://ais@db.example/ais"
    assert settings["log_level"] == "DEBUG"
    assert settings["store.batch_size"] == 500
    assert settings["store.flush_interval"] == 2.0 and isinstance(settings["store.flush_interval"], float)
    assert settings["store.queue_batches"] == 3
    assert settings["dedup.window"] == 30.5
    assert settings["demo.replay"] is False
    assert settings["nmea.tcp"] == ["10.0.0.5:4001", "[::1]:4002"]
    assert settings["nmea.udp"] == ["0.0.0.0:10110"]
    assert settings["aisstream.bounding_boxes"] == [[[38.0, 124.0], [40.5, 129.5]]]
    assert settings["aisstream.mmsi_filter"] == ["273355410", "445123000"]
    assert settings.origins["store.batch_size"] == f"config file {path}"
    assert settings.origins["http.port"] == "default"
    assert settings["http.port"] == BY_NAME["http.port"].default


def test_config_file_named_by_the_environment(tmp_path: Path) -> None:
    path = toml(tmp_path, "[store]\nbatch_size = 77\n")
    assert load_settings(environ={"AIS_WATCH_CONFIG": str(path)})["store.batch_size"] == 77
    # An explicit --config wins over AIS_WATCH_CONFIG.
    other = tmp_path / "other.toml"
    other.write_text("[store]\nbatch_size = 88\n")
    assert load_settings(other, environ={"AIS_WATCH_CONFIG": str(path)})["store.batch_size"] == 88


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, """
db = "sqlite:///from-file.db"
[store]
batch_size = 10
flush_interval = 5.0
[demo]
replay = true
speed = 3
""")
    env = {
        "AIS_WATCH_DB": "postgresql://from-env/db",
        "AIS_WATCH_STORE_BATCH_SIZE": " 20 ",
        "AIS_WATCH_DEMO_REPLAY": "off",
        "AIS_WATCH_NMEA_TCP": "a.example:1, b.example:2,",
        "AIS_WATCH_AISSTREAM_BOUNDING_BOXES": "[[[1, 2], [3, 4]]]",
        "AISSTREAM_API_KEY": "k-123",
        "AIS_WATCH_STORE_FLUSH_INTERVAL": "",  # empty: not set
    }
    settings = load_settings(path, environ=env)
    assert settings["db"] == "postgresql://from-env/db"
    assert settings["store.batch_size"] == 20
    assert settings["demo.replay"] is False
    assert settings["demo.speed"] == 3.0  # from the file, not overridden
    assert settings["store.flush_interval"] == 5.0
    assert settings["nmea.tcp"] == ["a.example:1", "b.example:2"]
    assert settings["aisstream.bounding_boxes"] == [[[1, 2], [3, 4]]]
    assert settings["aisstream.api_key"] == "k-123"
    assert settings.origins["store.batch_size"] == "env AIS_WATCH_STORE_BATCH_SIZE"
    assert settings.origins["demo.speed"] == f"config file {path}"


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("false", False), ("No", False),
    ("off", False)])
def test_booleans_from_the_environment(raw: str, expected: bool) -> None:
    assert load_settings(environ={"AIS_WATCH_DEMO_REPLAY": raw})["demo.replay"] is expected


def test_overrides_are_checked_like_everything_else() -> None:
    settings = load_settings(environ={})
    changed = settings.with_overrides(db="sqlite:///other.db", store__batch_size=3)
    assert (changed["db"], changed["store.batch_size"]) == ("sqlite:///other.db", 3)
    assert settings["store.batch_size"] == 2000, "overrides make a copy"
    with pytest.raises(ConfigError, match=r"store\.batch_size"):
        settings.with_overrides(store__batch_size=0)
    with pytest.raises(ConfigError, match=r"no\.such"):
        settings.with_overrides(no__such=1)


# ------------------------------------------------------------------------------------------ secrets
def test_secrets_are_masked() -> None:
    secrets = [s for s in SETTINGS if s.secret]
    assert BY_NAME["aisstream.api_key"] in secrets
    env = {s.env_var: f"very-secret-value-{i}" for i, s in enumerate(secrets)}
    settings = load_settings(environ=env)
    masked = settings.masked()
    dumped = json.dumps(masked)
    for s in secrets:
        assert settings[s.name] == env[s.env_var], "the real value is still there for the code that needs it"
        assert masked[s.name] == "***"
        assert env[s.env_var] not in dumped
    assert load_settings(environ={}).masked()["aisstream.api_key"] == ""
    assert masked["store.batch_size"] == 2000 and masked["db"] == settings["db"]
    assert set(masked) == set(BY_NAME)


def test_notifier_secrets_are_masked(tmp_path: Path) -> None:
    if "notifiers" not in BY_NAME:
        pytest.skip("no notifiers setting in this version")
    path = toml(tmp_path, """
[[notifiers]]
type = "webhook"
url = "https://hooks.example/T000/B000/XXXXSECRETPATH"
secret = "hmac-secret-value"
""")
    masked = load_settings(path, environ={}).masked()
    dumped = json.dumps(masked)
    assert "XXXXSECRETPATH" not in dumped and "hmac-secret-value" not in dumped
    assert masked["notifiers"][0]["type"] == "webhook"


def test_config_show_prints_masked_settings(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISSTREAM_API_KEY", "sk-live-do-not-print")
    monkeypatch.setenv("AIS_WATCH_STORE_BATCH_SIZE", "123")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "sk-live-do-not-print" not in out
    shown = json.loads(out)
    assert shown["aisstream.api_key"] == "***"
    assert shown["store.batch_size"] == 123


# ------------------------------------------------------------------------------------- bad values
# README: "a message naming the setting, where it came from and what is wrong".

BAD_ENV = [
    ("AIS_WATCH_STORE_BATCH_SIZE", "ten", "store.batch_size"),
    ("AIS_WATCH_STORE_BATCH_SIZE", "1.5", "store.batch_size"),
    ("AIS_WATCH_STORE_BATCH_SIZE", "0", "store.batch_size"),  # minimum 1
    ("AIS_WATCH_STORE_FLUSH_INTERVAL", "soon", "store.flush_interval"),
    ("AIS_WATCH_STORE_FLUSH_INTERVAL", "0", "store.flush_interval"),  # minimum 0.01
    ("AIS_WATCH_DEDUP_WINDOW", "-1", "dedup.window"),
    ("AIS_WATCH_HTTP_PORT", "-1", "http.port"),
    ("AIS_WATCH_DEMO_REPLAY", "maybe", "demo.replay"),
    ("AIS_WATCH_AISSTREAM_BOUNDING_BOXES", "[[[95, 0], [10, 10]]]", "aisstream.bounding_boxes"),
    ("AIS_WATCH_AISSTREAM_BOUNDING_BOXES", "[[[10, 0], [10, 190]]]", "aisstream.bounding_boxes"),
    ("AIS_WATCH_AISSTREAM_BOUNDING_BOXES", "[[[10, 0]]]", "aisstream.bounding_boxes"),
    ("AIS_WATCH_AISSTREAM_BOUNDING_BOXES", "[]", "aisstream.bounding_boxes"),
    ("AIS_WATCH_AISSTREAM_BOUNDING_BOXES", "East Sea", "aisstream.bounding_boxes"),
    pytest.param("AIS_WATCH_NMEA_TCP", "nohostport", "nmea.tcp"),
    pytest.param("AIS_WATCH_NMEA_TCP", "feed.example:4001,feed.example:99999", "nmea.tcp"),
    pytest.param("AIS_WATCH_NMEA_TCP", "feed.example:port", "nmea.tcp"),
    pytest.param("AIS_WATCH_NMEA_UDP", "0.0.0.0", "nmea.udp"),
]


@pytest.mark.parametrize(("var", "raw", "name"), BAD_ENV)
def test_bad_environment_values_name_the_setting(var: str, raw: str, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={var: raw})
    message = str(info.value)
    assert f"'{name}'" in message
    assert var in message, f"the message should say where the value came from: {message!r}"


def test_bad_host_port_is_refused_even_without_its_origin() -> None:
    for var, raw, name in [("AIS_WATCH_NMEA_TCP", "nohostport", "nmea.tcp"),
                           ("AIS_WATCH_NMEA_UDP", "0.0.0.0", "nmea.udp")]:
        with pytest.raises(ConfigError, match=f"'{re.escape(name)}'"):
            load_settings(environ={var: raw})


BAD_FILE = [
    ('[store]\nbatch_size = "x"\n', "store.batch_size"),
    ("[store]\nbatch_size = 1.5\n", "store.batch_size"),
    ("[store]\nbatch_size = true\n", "store.batch_size"),
    ("[store]\nqueue_batches = 0\n", "store.queue_batches"),
    ('[store]\nflush_interval = "1s"\n', "store.flush_interval"),
    ("[store]\nflush_interval = false\n", "store.flush_interval"),
    ("[dedup]\nwindow = -5\n", "dedup.window"),
    ('[demo]\nreplay = "yes"\n', "demo.replay"),
    ("log_level = 10\n", "log_level"),
    ("[aisstream]\nbounding_boxes = [[[95.0, 0.0], [10.0, 10.0]]]\n", "aisstream.bounding_boxes"),
    ('[aisstream]\nbounding_boxes = [[["38", "124"], [40, 129]]]\n', "aisstream.bounding_boxes"),
    pytest.param('[nmea]\ntcp = ["nohostport"]\n', "nmea.tcp"),
    ('[nmea]\ntcp = "feed.example:4001"\n', "nmea.tcp"),  # a string, not a list
    ("[http]\nport = -1\n", "http.port"),
]


@pytest.mark.parametrize(("content", "name"), BAD_FILE)
def test_bad_file_values_name_the_setting(content: str, name: str, tmp_path: Path) -> None:
    path = toml(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert f"'{name}'" in message
    assert str(path) in message, f"the message should say where the value came from: {message!r}"


@pytest.mark.parametrize("source", ["file", "env"])
def test_nan_is_not_a_number_of_seconds(source: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"store\.flush_interval"):
        if source == "file":
            load_settings(toml(tmp_path, "[store]\nflush_interval = nan\n"), environ={})
        else:
            load_settings(environ={"AIS_WATCH_STORE_FLUSH_INTERVAL": "nan"})


def test_port_above_65535_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"http\.port"):
        load_settings(environ={"AIS_WATCH_HTTP_PORT": "70000"})


@pytest.mark.parametrize("content", [
    "[store]\nbatchsize = 5\n", 'colour = "red"\n', "[store.batch]\nsize = 1\n"])
def test_unknown_key_in_the_file(content: str, tmp_path: Path) -> None:
    path = toml(tmp_path, content)
    with pytest.raises(ConfigError, match="unknown setting") as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)


def test_a_table_where_a_value_belongs(tmp_path: Path) -> None:
    path = toml(tmp_path, "[nmea.tcp]\nhost = 1\n")
    with pytest.raises(ConfigError, match="nmea"):
        load_settings(path, environ={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_settings(tmp_path / "nope.toml", environ={})
    assert "nope.toml" in str(info.value)


def test_invalid_toml(tmp_path: Path) -> None:
    path = toml(tmp_path, "[store\nbatch_size = 5\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)
    assert "line 1" in str(info.value), "the TOML parser's position should reach the user"


# -------------------------------------------------------------------------------------- docs drift
def test_settings_table_has_every_setting_and_no_secret() -> None:
    table = settings_table_markdown().splitlines()
    assert table[0].startswith("| setting |") and set(table[1]) <= set("|- ")
    rows = table[2:]
    assert len(rows) == len(SETTINGS)
    for s, row in zip(SETTINGS, rows, strict=True):
        assert row.startswith(f"| `{s.name}` | `{s.env_var}` |"), row
        assert s.help in row
        if s.secret:
            assert row.split(" | ")[2] == "(secret)", row


def test_readme_settings_table_matches_the_registry() -> None:
    readme = REPO / "README.md"
    assert readme.is_file(), (
        f"{readme} does not exist: it must document the settings, with the output of "
        f"ais_watch.config.settings_table_markdown() between {START} and {END}")
    text = readme.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, (
        f"README.md must contain {START} and {END} exactly once each")
    documented = text.split(START, 1)[1].split(END, 1)[0].strip()
    generated = settings_table_markdown().strip()
    diff = "\n".join(difflib.unified_diff(documented.splitlines(), generated.splitlines(),
                                          "README.md", "settings_table_markdown()", lineterm=""))
    assert documented == generated, (
        "README.md's settings table is out of date; paste settings_table_markdown() between the markers:\n"
        + diff)
