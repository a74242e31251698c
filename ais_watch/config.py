"""Settings: one registry (name, type, default, help), read from a TOML file with environment overrides.

Every setting is declared once in SETTINGS below. The README's settings table is generated from this
registry and a test fails when the two drift apart (the Datasette way).

Precedence, lowest first: default, TOML file (`--config` or AIS_WATCH_CONFIG), environment variable.
A setting's environment variable is AIS_WATCH_<NAME> with dots as underscores, unless the registry
names another one (AISSTREAM_API_KEY, as aisstream.io's own examples use).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ais_watch.errors import ConfigError

BoundingBoxes = list[list[list[float]]]

# The Sea of Japan / East Sea, the Yellow Sea and the Russian Far East coast as far as Vanino,
# in aisstream.io's [[lat, lon], [lat, lon]] corner form.
DEFAULT_BOUNDING_BOXES: BoundingBoxes = [
    [[33.0, 127.0], [52.0, 142.5]],  # Sea of Japan / East Sea, Tatar Strait, Vostochny..Vanino
    [[33.0, 117.5], [41.0, 127.0]],  # Yellow Sea and Korea Bay (Nampo, Haeju, Songnim)
    [[42.0, 141.0], [47.5, 146.0]],  # La Perouse Strait and Korsakov on Sakhalin
]


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    type: str  # "str", "int", "float", "bool", "list", "bboxes", "tables"
    default: Any
    help: str
    env: str | None = None
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None

    @property
    def env_var(self) -> str:
        return self.env or "AIS_WATCH_" + self.name.upper().replace(".", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "str", "sqlite:///./ais-watch.db",
            "Database URL: sqlite:///PATH (default, WAL) or postgresql://user@host/db.", env="AIS_WATCH_DB"),
    Setting("log_level", "str", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR."),
    Setting("log_format", "str", "console",
            "Logs as console lines, or as JSON lines (json) for a log shipper."),
    Setting("aisstream.api_key", "str", "",
            "aisstream.io API key; setting it enables the aisstream.io source.",
            env="AISSTREAM_API_KEY", secret=True),
    Setting("aisstream.url", "str", "wss://stream.aisstream.io/v0/stream",
            "aisstream.io websocket endpoint.", env="AIS_WATCH_AISSTREAM_URL"),
    Setting("aisstream.bounding_boxes", "bboxes", DEFAULT_BOUNDING_BOXES,
            "Areas to subscribe to, as [[[lat, lon], [lat, lon]], ...] (JSON in the environment)."),
    Setting("aisstream.mmsi_filter", "list", [],
            "Only these MMSIs (FiltersShipMMSI); empty for all."),
    Setting("aisstream.message_types", "list", [],
            "Only these aisstream message types (FilterMessageTypes); empty for all handled types."),
    Setting("aisstream.idle_timeout", "float", 120.0,
            "Seconds without any message before the aisstream connection is dropped and reopened.",
            minimum=1),
    Setting("nmea.tcp", "list", [],
            "Raw NMEA TCP feeds to connect to, as host:port[,host:port...].", env="AIS_WATCH_NMEA_TCP"),
    Setting("nmea.udp", "list", [],
            "Addresses to listen on for NMEA over UDP, as host:port[,host:port...]."),
    Setting("nmea.idle_timeout", "float", 300.0,
            "Seconds without a line before a TCP feed is dropped and reopened.", minimum=1),
    Setting("reconnect.initial_delay", "float", 1.0,
            "First reconnect delay in seconds; it doubles (with jitter) on each failure.", minimum=0),
    Setting("reconnect.max_delay", "float", 60.0, "Longest reconnect delay in seconds.", minimum=0),
    Setting("decode.fragment_ttl", "float", 60.0,
            "Seconds (receive time) an incomplete multi-part message waits for its other parts.", minimum=1),
    Setting("decode.max_fragment_lines", "int", 1000,
            "Lines of a stream an incomplete multi-part message waits for its other parts.", minimum=1),
    Setting("decode.max_pending_fragments", "int", 1000,
            "Most incomplete multi-part messages held at once per source; the oldest is evicted.", minimum=1),
    Setting("dedup.window", "float", 60.0,
            "Seconds within which the same payload from the same MMSI is one transmission.", minimum=0),
    Setting("store.batch_size", "int", 2000, "Positions written per database transaction.", minimum=1),
    Setting("store.replay_batch_size", "int", 20000,
            "Positions written per database transaction by `ais-watch replay` (history: larger "
            "transactions cost less a row, and no alert waits on them).", minimum=1),
    Setting("store.flush_interval", "float", 1.0,
            "Seconds at most between position writes.", minimum=0.01),
    Setting("store.vessel_flush_interval", "float", 5.0,
            "Seconds at most between writes of vessels' latest state (derivable from positions).",
            minimum=0),
    Setting("store.queue_batches", "int", 8,
            "Batches waiting for the database before ingest slows down (backpressure).", minimum=1),
    Setting("store.close_timeout", "float", 10.0,
            "Seconds a shutdown keeps retrying writes to an unreachable database before giving up.",
            minimum=0),
    Setting("store.retry_max_delay", "float", 30.0,
            "Longest wait between retries when the database is unreachable.", minimum=0.1),
    Setting("store.auto_migrate", "bool", True,
            "Apply pending schema migrations at start; off: refuse to start on an old schema (run "
            "`ais-watch migrate` when ready)."),
    Setting("leader.interval", "float", 1.0,
            "Seconds between a standby instance's tries for leadership (PostgreSQL advisory lock) and the "
            "leader's checks that it still holds it.", minimum=0.1),
    Setting("retention.full_detail_days", "float", 0.0,
            "Days of positions kept in full detail; older days are thinned to their track and evidence "
            "(0, the default: never thin). Replayed days only by `ais-watch maintain`.", minimum=0),
    Setting("retention.thin_tolerance_m", "float", 10.0,
            "Metres: a thinned track (Douglas-Peucker) keeps every position left out within this of the "
            "line drawn through the kept ones (under a pixel on the dashboard at zoom 13 below 58 degrees).",
            minimum=0),
    Setting("retention.thin_interval", "float", 3600.0,
            "Seconds: a thinned track keeps a position at least this often while the vessel was heard, "
            "so it shows no silence the full track did not have (0: no such limit).", minimum=0),
    Setting("retention.keep_days", "float", 0.0,
            "Days of positions kept at all; older days are dropped (0, the default: keep forever). "
            "Replayed days only by `ais-watch maintain`.", minimum=0),
    Setting("retention.partitions_ahead", "int", 7,
            "PostgreSQL: days of position partitions created ahead of today.", minimum=1),
    Setting("retention.interval", "float", 3600.0,
            "Seconds between runs of the position maintenance job (partitions ahead, thinning, drops).",
            minimum=1),
    Setting("demo.replay", "bool", True,
            "With no live feed configured, `serve` runs the demo: the bundled recorded traffic and a "
            "simulated watchlisted ship around Rajin, in a loop."),
    Setting("demo.speed", "float", 60.0,
            "Speed of the demo's clock, which the demo's traffic and every rule run on: at 60 a 30-minute "
            "port dwell takes 30 s and a 6-hour silence 6 min (one recorded report in 60 is replayed).",
            minimum=0.001),
    Setting("stats.interval", "float", 10.0,
            "Seconds between ingest statistics lines in the `serve` log.", minimum=0.1),
    Setting("detectors.enabled", "bool", True,
            "Run the enrichers and detectors (zones, watchlist, dark ships, port calls); off, the service "
            "only ingests and stores."),
    Setting("dark.threshold", "float", 6.0,
            "Hours without a position before a watchlisted ship has gone dark (a watchlist entry may set "
            "its own).", minimum=0.01),
    Setting("dark.max_speed_kn", "float", 16.0,
            "Plausible top speed (knots) of a watched ship, for the ports it could have reached while dark.",
            minimum=1),
    Setting("dark.min_dwell", "float", 2.0,
            "Hours a ship must have had in port for a dark port call to be possible.", minimum=0),
    Setting("dark.cadence_factor", "float", 2.0,
            "A watched ship is not dark before this many times its longest gap between reports over the "
            "last day (a ship heard only on satellite passes); 0: its cadence is not used.", minimum=0),
    Setting("dark.satellite_threshold", "float", 12.0,
            "Hours of silence before a ship last heard in an area heard only by satellite has gone dark "
            "(Global Fishing Watch's satellite default).", minimum=0.01),
    Setting("dark.max_threshold", "float", 18.0,
            "Hours: the most a ship's cadence or its area can raise its dark threshold, so a silence of a "
            "day is always went_dark.", minimum=0.01),
    Setting("reception.enabled", "bool", True,
            "Judge receiving stations and areas: a station or area that stops being heard while its feed "
            "goes on is a reception loss, not ships going dark; off, only whole feeds are judged."),
    Setting("reception.window", "float", 600.0,
            "Seconds over which a station's or area's message rate is measured.", minimum=1),
    Setting("reception.min_silence", "float", 1800.0,
            "Seconds a station or area with usual traffic must be silent (and at least three of its usual "
            "gaps) while its feed goes on to be in outage.", minimum=1),
    Setting("reception.min_usual", "float", 20.0,
            "Messages per window below which a station or area is too quiet to judge.", minimum=1),
    Setting("reception.min_vessels", "int", 3,
            "Vessels that must fall silent together in an area (a feed naming no station) for a reception "
            "loss.", minimum=1),
    Setting("reception.cell_degrees", "float", 1.0,
            "Size in degrees of the grid cells that are the areas of a feed naming no station.",
            minimum=0.05, maximum=10),
    Setting("reception.learn", "float", 7200.0,
            "Seconds a station or area is heard before it is judged (its normal, such as a satellite's "
            "passes, is learnt first; a station that died meanwhile is found then).", minimum=0),
    Setting("reception.satellite_gap", "float", 1200.0,
            "Seconds: an area where a quarter of the gaps between one vessel's reports are longer is heard "
            "only by satellite.", minimum=1),
    Setting("integrity.enabled", "bool", True,
            "Split each vessel's positions into segments and keep fixes off its believed track (spoofed, "
            "conflicting, on land) from zones, port calls and the dark rules; off, every fix is believed."),
    Setting("integrity.max_speed_kn", "float", 50.0,
            "Knots: a position a vessel could only have reached faster than this from its track is not "
            "believed (impossible_speed); it starts another segment.", minimum=1),
    Setting("integrity.jump_tolerance_nm", "float", 1.0,
            "Nautical miles any fix may stray from its track whatever the time between (GNSS noise, "
            "receiver clocks), before the speed rule applies.", minimum=0),
    Setting("integrity.episode_gap", "float", 600.0,
            "Seconds after the last false fix before an episode of false positions is over and reported.",
            minimum=1),
    Setting("integrity.confirm_after", "float", 21600.0,
            "Seconds a new segment must carry on, with the main one silent, before it becomes the main "
            "segment (the vessel's believed track): longer than a spoof is likely to last.", minimum=1),
    Setting("integrity.land_tolerance_km", "float", 1.0,
            "A position on land (Natural Earth 1:10m) closer than this to the coast is not on_land "
            "(quays, berths, a generalised coastline); positions in a port geofence never are.", minimum=0),
    Setting("integrity.on_land", "bool", True,
            "Mark and report positions on land; off for feeds of inland waterways the land mask does not "
            "know."),
    Setting("gnss.min_vessels", "int", 3,
            "Vessels whose positions jump to the same spot within `gnss.window` for one GNSS interference "
            "alert (and no per-ship anomaly).", minimum=2),
    Setting("gnss.radius_km", "float", 10.0,
            "Kilometres within which jumps count as the same false spot.", minimum=0.1),
    Setting("gnss.window", "float", 900.0,
            "Seconds within which the vessels' jumps must fall.", minimum=1),
    Setting("identity.conflict_window", "float", 3600.0,
            "Seconds: an IMO heard from two MMSIs this close in time, further apart than a ship could sail, "
            "is an identity conflict.", minimum=1),
    Setting("draught.min_change", "float", 0.5,
            "Metres a watched vessel's reported draught must change by for a draught_change alert.",
            minimum=0.1),
    Setting("encounter.enabled", "bool", True,
            "Look for encounters (ship-to-ship meetings) of every vessel, and loitering of watched ones."),
    Setting("encounter.max_distance_m", "float", 500.0,
            "Metres two vessels must be within of each other to be meeting (Global Fishing Watch: 500 m).",
            minimum=10),
    Setting("encounter.min_duration", "float", 7200.0,
            "Seconds two vessels must stay together for an encounter (Global Fishing Watch: 2 h).",
            minimum=60),
    Setting("encounter.max_speed_kn", "float", 2.0,
            "Knots: the median speed implied by successive positions over an encounter must be below this "
            "(Global Fishing Watch: 2 kn); loitering uses it too.", minimum=0.1),
    Setting("encounter.min_port_distance_km", "float", 10.0,
            "Kilometres an encounter must be from any port or anchorage geofence and from any of the "
            "world's 3,962 ports searoute lists (Global Fishing Watch: 10 km from its anchorages).",
            minimum=0),
    Setting("encounter.min_shore_distance_nm", "float", 1.0,
            "Nautical miles from shore an encounter must be: nearer is ships at a quay, in a harbour basin "
            "or a river that no port list names (0: no limit).", minimum=0),
    Setting("encounter.merge_gap", "float", 14400.0,
            "Seconds: meetings of the same pair less than this apart are one encounter (Global Fishing "
            "Watch: 4 h).", minimum=0),
    Setting("encounter.recent", "float", 600.0,
            "Seconds a vessel's last position stays current for the pair search: a partner silent longer "
            "is no longer alongside (so a meeting's end is not drawn out by a stale position).", minimum=60),
    Setting("loitering.min_duration", "float", 14400.0,
            "Seconds a watched vessel must be slow for loitering (4 h).", minimum=60),
    Setting("loitering.min_shore_distance_nm", "float", 20.0,
            "Nautical miles from shore a loitering vessel must be (nearer, it is waiting to berth).",
            minimum=0),
    Setting("loitering.neighbour_km", "float", 2.0,
            "Kilometres within which another vessel seen during loitering is reported (none seen is how a "
            "transfer with a dark partner looks).", minimum=0.1),
    Setting("associate.days", "float", 90.0,
            "Days the partner of a watched ship in an encounter stays watched as an associated vessel "
            "(0: partners are not watched).", minimum=0, maximum=36500),
    Setting("feed.outage_after", "float", 600.0,
            "Seconds without a message from a source before it is in outage (outage time is not "
            "silence).", minimum=1),
    Setting("ticks.interval", "float", 60.0,
            "Seconds between runs of the time-driven rules (went dark, feed outage).", minimum=0.1),
    Setting("zones.dirs", "list", [],
            "Directories of your own GeoJSON zones, loaded with the bundled port geofences; a running "
            "service reloads them when they change."),
    Setting("zones.exit_margin_km", "float", 1.0,
            "A vessel leaves a zone only once this far outside it (hysteresis against boundary flapping).",
            minimum=0),
    Setting("port_calls.min_dwell", "float", 30.0,
            "Minutes a vessel must be stopped in a port or anchorage for a port call.", minimum=0),
    Setting("port_calls.stop_speed", "float", 0.5, "Knots under which a vessel counts as stopped.",
            minimum=0),
    Setting("slack_webhook_url", "str", "",
            "A Slack incoming webhook that gets every alert.", env="AIS_WATCH_SLACK_WEBHOOK_URL",
            secret=True),
    Setting("webhook_url", "str", "",
            "A generic webhook that gets every alert as signed JSON.", env="AIS_WATCH_WEBHOOK_URL",
            secret=True),
    Setting("webhook_secret", "str", "",
            "Secret for the generic webhook's HMAC-SHA256 signature.", env="AIS_WATCH_WEBHOOK_SECRET",
            secret=True),
    Setting("slack_bot_token", "str", "",
            "A Slack bot token (chat:write) that, with slack_channel, posts every alert as a thread per "
            "incident.", env="AIS_WATCH_SLACK_BOT_TOKEN", secret=True),
    Setting("slack_channel", "str", "",
            "The Slack channel (ID or name) slack_bot_token posts to.", env="AIS_WATCH_SLACK_CHANNEL"),
    Setting("notifiers", "tables", [],
            "Notifiers with routing filters, as [[notifiers]] tables in the config file (see Alerts)."),
    Setting("alerts.cooldown", "float", 1800.0,
            "Seconds (event time) after an alert in which the same kind, vessel and place is not raised "
            "again.", minimum=0),
    Setting("alerts.max_attempts", "int", 12, "Delivery attempts before a delivery is marked failed.",
            minimum=1),
    Setting("alerts.max_age", "float", 86400.0,
            "Seconds after which an undelivered alert's delivery is marked failed.", minimum=1),
    Setting("alerts.retry_initial", "float", 2.0, "First retry delay in seconds; doubles, with jitter.",
            minimum=0),
    Setting("alerts.retry_max", "float", 300.0, "Longest retry delay in seconds.", minimum=0),
    Setting("alerts.http_timeout", "float", 10.0, "Seconds a notifier's HTTP request may take.", minimum=0.1),
    Setting("alerts.notify_wait", "float", 60.0,
            "Seconds `replay --notify` waits for pending deliveries before it exits.", minimum=0),
    Setting("incidents.window", "float", 48.0,
            "Hours (event time): an alert about a vessel joins its incident when within this of the "
            "incident's alerts; otherwise it opens a new one (a silence after went_dark does not count).",
            minimum=0.01),
    Setting("alerts.map_url", "str", "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=10/{lat}/{lon}",
            "Link to an online map in Slack messages; {lat} and {lon} are filled in."),
    Setting("dashboard.tile_url", "str", "",
            "Online base-map tiles for the dashboard, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png: "
            "the base map when set, with the offline map a choice; empty (the default) for none: the "
            "offline map only (Natural Earth land served by the service itself), nothing fetched elsewhere."),
    Setting("dashboard.tile_attribution", "str", "© OpenStreetMap contributors",
            "Attribution shown with the tiles."),
    Setting("http.host", "str", "127.0.0.1", "Address of the API and dashboard.", env="AIS_WATCH_HTTP_HOST"),
    Setting("http.port", "int", 8080, "Port of the API and dashboard.", env="AIS_WATCH_HTTP_PORT", minimum=0,
            maximum=65535),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
_HOST_PORT_LISTS = frozenset({"nmea.tcp", "nmea.udp"})
_SECRET_KEYS = frozenset({"url", "secret", "token"})


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    """Turn a TOML or environment value into the setting's type, or raise ConfigError naming it."""

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"setting '{setting.name}' ({origin}): expected {expected}, got {value!r}")

    from_env = isinstance(value, str) and origin.startswith("env")
    kind = setting.type
    try:
        if kind == "str":
            if not isinstance(value, str):
                raise fail("a string")
            result: Any = value
        elif kind == "int":
            if isinstance(value, bool):
                raise fail("an integer")
            result = int(value) if from_env else value
            if not isinstance(result, int):
                raise fail("an integer")
        elif kind == "float":
            if isinstance(value, bool):
                raise fail("a number")
            result = float(value) if from_env or isinstance(value, int) else value
            if not isinstance(result, float):
                raise fail("a number")
        elif kind == "bool":
            if from_env:
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise fail("true or false")
                result = low in ("1", "true", "yes", "on")
            elif isinstance(value, bool):
                result = value
            else:
                raise fail("true or false")
        elif kind == "list":
            if from_env:
                result = [part.strip() for part in value.split(",") if part.strip()]
            elif isinstance(value, list):
                result = [str(v) for v in value]
            else:
                raise fail("a list")
        elif kind == "tables":
            if from_env or not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise fail("a list of tables ([[notifiers]] in the config file)")
            result = value
        elif kind == "bboxes":
            result = json.loads(value) if from_env else value
            _check_bboxes(result)
        else:  # pragma: no cover - registry typo
            raise AssertionError(kind)
    except (ValueError, TypeError, json.JSONDecodeError) as err:
        raise fail(_EXPECTED.get(kind, kind)) from err
    if kind == "float" and not math.isfinite(result):
        raise fail("a finite number")
    if setting.minimum is not None and result < setting.minimum:
        raise ConfigError(
            f"setting '{setting.name}' ({origin}): must be at least {setting.minimum:g}, got {result!r}")
    if setting.maximum is not None and result > setting.maximum:
        raise ConfigError(
            f"setting '{setting.name}' ({origin}): must be at most {setting.maximum:g}, got {result!r}")
    if kind == "list" and setting.name in _HOST_PORT_LISTS:
        for address in result:
            parse_host_port(address, setting.name, origin)
    return result


_EXPECTED = {"int": "an integer", "float": "a number", "bboxes": "[[[lat, lon], [lat, lon]], ...]"}


def _check_bboxes(value: object) -> None:
    if not isinstance(value, list) or not value:
        raise ValueError("not a non-empty list")
    for box in value:
        if not (isinstance(box, list) and len(box) == 2):
            raise ValueError("a box needs two corners")
        for corner in box:
            if not (isinstance(corner, list) and len(corner) == 2):
                raise ValueError("a corner is [lat, lon]")
            lat, lon = corner
            if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
                raise ValueError("corner values must be numbers")
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError("corner outside the globe")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and BY_NAME.get(name) is None:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


class Settings:
    """The effective settings. Read them as settings["store.batch_size"]."""

    def __init__(self, values: dict[str, Any], origins: dict[str, str]) -> None:
        self._values = values
        self.origins = origins

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some values replaced (names use '__' for '.'), coerced and checked like any other."""
        values = dict(self._values)
        origins = dict(self.origins)
        for key, value in overrides.items():
            name = key.replace("__", ".")
            if name not in BY_NAME:
                raise ConfigError(f"unknown setting '{name}'")
            values[name] = _coerce(BY_NAME[name], value, "override")
            origins[name] = "override"
        return Settings(values, origins)

    def masked(self) -> dict[str, Any]:
        """Values safe to print or log: secrets show only whether they are set."""
        masked: dict[str, Any] = {}
        for s in SETTINGS:
            value = self._values[s.name]
            if s.secret:
                value = "***" if value else ""
            elif s.type == "tables":  # notifier tables hold webhook URLs and secrets
                value = [{k: "***" if k in _SECRET_KEYS and v else v for k, v in table.items()}
                         for table in value]
            masked[s.name] = value
        return masked


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file, then the environment. Raises ConfigError on anything wrong."""
    env = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    origins = {s.name: "default" for s in SETTINGS}

    path = config_file or env.get("AIS_WATCH_CONFIG") or None
    if path:
        file_values = _read_toml(Path(path))
        for name, value in file_values.items():
            setting = BY_NAME.get(name)
            if setting is None:
                raise ConfigError(f"config file {path}: unknown setting '{name}'")
            values[name] = _coerce(setting, value, f"config file {path}")
            origins[name] = f"config file {path}"

    for setting in SETTINGS:
        raw = env.get(setting.env_var)
        # Set but empty means empty for text (no tiles, no key); for anything else it means unset.
        if raw is not None and (raw != "" or setting.type == "str"):
            values[setting.name] = _coerce(setting, raw, f"env {setting.env_var}")
            origins[setting.name] = f"env {setting.env_var}"
    return Settings(values, origins)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return _flatten(tomllib.load(fh))
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path}: not found") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path}: not valid TOML: {err}") from err


def parse_host_port(value: str, setting: str, origin: str | None = None) -> tuple[str, int]:
    """'host:port' (or '[::1]:port') into its parts, or a ConfigError naming the setting."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        where = f" ({origin})" if origin else ""
        raise ConfigError(f"setting '{setting}'{where}: expected host:port, got {value!r}")
    return host, int(port)


def settings_table_markdown() -> str:
    """The README's settings table, generated from the registry (a test keeps them in step)."""
    rows = ["| setting | environment | default | what it does |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = "(secret)" if s.secret else json.dumps(s.default) if s.type == "bboxes" else repr(s.default)
        if s.type == "bboxes":
            default = "East Sea, Yellow Sea, Russian Far East"
        elif s.type == "tables":
            default = "none"
        rows.append(f"| `{s.name}` | `{s.env_var}` | {default} | {s.help} |")
    return "\n".join(rows)

