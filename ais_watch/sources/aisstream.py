"""aisstream.io: a websocket of JSON messages, already decoded from AIS, for a set of bounding boxes.

Protocol (https://aisstream.io/documentation, models in github.com/aisstream/ais-message-models):
the client sends one subscription `{"APIKey", "BoundingBoxes", "FiltersShipMMSI"?, "FilterMessageTypes"?}`
within a few seconds of connecting; the server then streams
`{"MessageType": "PositionReport", "MetaData": {"MMSI", "ShipName", "latitude", "longitude",
"time_utc"}, "Message": {"PositionReport": {...}}}` objects, or one `{"error": "..."}` and closes.

The JSON carries raw AIS field values, so the AIS "not available" codes (lat 91, lon 181, sog 102.3,
cog 360, heading 511) are mapped to None here by the functions the NMEA decoder uses (ais_watch.model).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import CloseCode

from ais_watch.backoff import Backoff
from ais_watch.config import Settings
from ais_watch.model import (
    IngestStats,
    PositionReport,
    Report,
    StaticReport,
    course_degrees,
    heading_degrees,
    imo_is_valid,
    mmsi_is_valid,
    position_problem,
    speed_knots,
)
from ais_watch.sources.base import Emit, SourceStatus

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 1.0  # aisstream.io drops a connection that has not subscribed within 3 s
CLOSE_TIMEOUT = 2.0

# aisstream MessageType -> (AIS message ids it may carry, the id assumed when MessageID is absent/odd)
_POSITION_KINDS: dict[str, tuple[frozenset[int], int]] = {
    "PositionReport": (frozenset({1, 2, 3}), 1),
    "StandardClassBPositionReport": (frozenset({18}), 18),
    "ExtendedClassBPositionReport": (frozenset({19}), 19),
    "LongRangeAisBroadcastMessage": (frozenset({27}), 27),
}
_STATIC_KINDS: dict[str, int] = {"ShipStaticData": 5, "StaticDataReport": 24}

# "2023-05-10 11:46:52.509865357 +0000 UTC" (Go's time.String(), possibly with a monotonic
# " m=+1.23" suffix), the same without fraction, and ISO 8601 ("2023-05-10T11:46:52.5Z", "+00:00").
_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?(?:\s*UTC)?(?:\s+m=[+-]\d+(?:\.\d+)?)?$",
    re.IGNORECASE,
)


class _Malformed(Exception):
    """A message whose structure or field types are not what aisstream.io sends."""


def parse_time_utc(value: object) -> datetime | None:
    """MetaData.time_utc -> aware UTC datetime (nanoseconds truncated to microseconds), or None."""
    if not isinstance(value, str):
        return None
    match = _TIME.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = UTC
    if offset and offset.upper() != "Z":
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(-delta if offset[0] == "-" else delta)
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                        tzinfo=tz)
    except ValueError:
        return None
    return when.astimezone(UTC)


# ------------------------------------------------------------------ field readers (raise _Malformed)
def _dict(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise _Malformed(key)
    return value


def _number(body: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _Malformed(key)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Malformed(key)
    return value


def _int(body: dict[str, Any], key: str) -> int | None:
    value = _number(body, key)
    if value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            raise _Malformed(key)
        return int(value)
    return value


def _bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _Malformed(key)


def _text(body: dict[str, Any], key: str) -> str | None:
    """AIS text: trailing '@' padding and spaces removed; '' -> None. Kept literally otherwise."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Malformed(key)
    cleaned = value.rstrip(" @").strip()
    return cleaned or None


def _positive(value: int | float | None) -> int | None:
    """Ship type / dimension: 0 means not available."""
    return int(value) if value else None


def _dimensions(body: dict[str, Any]) -> tuple[int | None, int | None, int | None, int | None]:
    if body.get("Dimension") is None:
        return None, None, None, None
    dim = _dict(body, "Dimension")
    a, b, c, d = (_positive(_int(dim, k)) for k in ("A", "B", "C", "D"))
    return a, b, c, d


def _mmsi(body: dict[str, Any], meta: dict[str, Any]) -> int:
    value = body.get("UserID")
    if value is None:
        value = meta.get("MMSI")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed("UserID")
    return value


def _msg_id(body: dict[str, Any], allowed: frozenset[int], default: int) -> int:
    value = _int(body, "MessageID")
    return value if value in allowed else default


# ------------------------------------------------------------------------------------ conversion
def parse_frame(raw: str | bytes) -> dict[str, Any] | None:
    """One websocket frame or recorded line -> the JSON object it holds, or None when it holds none (the
    callers count it as malformed_json). Never raises: besides bad syntax and bad UTF-8, json refuses an
    integer of more than 4,300 digits with a plain ValueError and nesting deeper than the interpreter's
    recursion limit with RecursionError (a frame of 1,000 '[' did; found by tests/test_fuzz_aisstream.py)."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return obj if isinstance(obj, dict) else None


def reports_from_aisstream(obj: dict[str, Any], received_at: datetime, source: str,
                           stats: IngestStats) -> list[Report]:
    """One aisstream.io JSON message -> 0, 1 or 2 reports (type 19 gives a position and a static).

    Never raises: anything not shaped like an aisstream message is counted as malformed_json.
    """
    stats.messages += 1
    try:
        converted = _convert(obj, received_at, source)
    except (_Malformed, KeyError, TypeError, ValueError, AttributeError, OverflowError):
        stats.reject("malformed_json")
        return []
    if converted is None:
        stats.other_types += 1
        return []
    reports, rejects, flags = converted
    for reason in rejects:
        stats.reject(reason)
    for reason in flags:
        stats.flag(reason)
    if reports:
        stats.decoded += 1
    return reports


def _convert(obj: object, received_at: datetime,
             source: str) -> tuple[list[Report], list[str], list[str]] | None:
    """Everything is read and checked before any counter moves, so a malformed message counts once."""
    if not isinstance(obj, dict):
        raise _Malformed("not an object")
    kind = obj.get("MessageType")
    if not isinstance(kind, str):
        raise _Malformed("MessageType")
    if kind not in _POSITION_KINDS and kind not in _STATIC_KINDS:
        return None
    meta = _dict(obj, "MetaData")
    body = _dict(_dict(obj, "Message"), kind)
    mmsi = _mmsi(body, meta)

    rejects: list[str] = []
    flags: list[str] = []
    when = parse_time_utc(meta.get("time_utc"))
    if when is None:
        flags.append("no_event_time")
        when = received_at
    valid_mmsi = mmsi_is_valid(mmsi)
    if not valid_mmsi:
        flags.append("invalid_mmsi")  # kept, but not trusted for identity

    reports: list[Report] = []
    if kind in _POSITION_KINDS:
        allowed, default = _POSITION_KINDS[kind]
        msg_type = _msg_id(body, allowed, default)
        lat = _number(body, "Latitude", required=True)
        lon = _number(body, "Longitude", required=True)
        sog = speed_knots(_number(body, "Sog"), msg_type)
        cog = course_degrees(_number(body, "Cog"))
        heading = heading_degrees(_int(body, "TrueHeading")) if msg_type != 27 else None
        nav_status = _int(body, "NavigationalStatus") if msg_type in (1, 2, 3, 27) else None
        accuracy = _bool(body, "PositionAccuracy")
        static = None
        if msg_type == 19:
            to_bow, to_stern, to_port, to_starboard = _dimensions(body)
            static = StaticReport(mmsi=mmsi, time=when, msg_type=19, source=source, received_at=received_at,
                                  name=_text(body, "Name"), ship_type=_positive(_int(body, "Type")),
                                  to_bow=to_bow, to_stern=to_stern, to_port=to_port,
                                  to_starboard=to_starboard, mmsi_valid=valid_mmsi)
        assert lat is not None and lon is not None
        problem = position_problem(lat, lon)
        if problem is not None:
            rejects.append(problem)
        else:
            reports.append(PositionReport(
                mmsi=mmsi, time=when, lat=float(lat), lon=float(lon), sog=sog, cog=cog, heading=heading,
                nav_status=nav_status, msg_type=msg_type, source=source, received_at=received_at,
                accuracy=accuracy, mmsi_valid=valid_mmsi, payload=None))
        if static is not None:
            reports.append(static)
        return reports, rejects, flags

    msg_type = _STATIC_KINDS[kind]
    report = StaticReport(mmsi=mmsi, time=when, msg_type=msg_type, source=source, received_at=received_at,
                          mmsi_valid=valid_mmsi, payload=None)
    if msg_type == 5:
        report.name = _text(body, "Name")
        report.call_sign = _text(body, "CallSign")
        report.ship_type = _positive(_int(body, "Type"))
        report.to_bow, report.to_stern, report.to_port, report.to_starboard = _dimensions(body)
        imo = _int(body, "ImoNumber")
        report.imo = imo if imo else None
        if report.imo is not None:
            report.imo_valid = imo_is_valid(report.imo)
            if not report.imo_valid:
                flags.append("invalid_imo")
        draught = _number(body, "MaximumStaticDraught")
        report.draught = float(draught) if draught else None
        report.destination = _text(body, "Destination")
    else:
        part = _bool(body, "PartNumber")
        if part is None:
            raise _Malformed("PartNumber")
        if not part:
            report.part = "A"
            report.name = _text(_dict(body, "ReportA"), "Name")
        else:
            report.part = "B"
            part_b = _dict(body, "ReportB")
            report.call_sign = _text(part_b, "CallSign")
            report.ship_type = _positive(_int(part_b, "ShipType"))
            report.to_bow, report.to_stern, report.to_port, report.to_starboard = _dimensions(part_b)
    reports.append(report)
    return reports, rejects, flags


# ---------------------------------------------------------------------------------------- source
class _Refused(Exception):
    """aisstream.io answered the subscription with {"error": ...}."""


class _Idle(Exception):
    """No message within the idle timeout."""


class AisstreamSource:
    """Keeps one aisstream.io subscription open forever, feeding reports to `emit`."""

    def __init__(self, settings: Settings, emit: Emit, stats: IngestStats, *, name: str = "aisstream",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.name = name
        self.status = SourceStatus()
        self._settings = settings
        self._emit = emit
        self._stats = stats
        self._clock = clock or (lambda: datetime.now(UTC))
        self._url: str = settings["aisstream.url"]
        self._api_key: str = settings["aisstream.api_key"]
        self._idle_timeout: float = settings["aisstream.idle_timeout"]
        self._initial_delay: float = settings["reconnect.initial_delay"]
        self._backoff = Backoff(settings["reconnect.initial_delay"], settings["reconnect.max_delay"])
        self._delivered = False  # the current connection has delivered at least one message

    @property
    def connected(self) -> bool:
        return self.status.connected

    def subscription(self) -> dict[str, Any]:
        """The subscription message. Contains the API key: never log it."""
        message: dict[str, Any] = {
            "APIKey": self._api_key,
            "BoundingBoxes": self._settings["aisstream.bounding_boxes"],
        }
        mmsis = [str(m).strip() for m in self._settings["aisstream.mmsi_filter"] if str(m).strip()]
        if mmsis:
            message["FiltersShipMMSI"] = mmsis
        types = [str(t).strip() for t in self._settings["aisstream.message_types"] if str(t).strip()]
        if types:
            message["FilterMessageTypes"] = types
        return message

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    async def run(self) -> None:
        """Connect, subscribe, feed; reconnect with backoff on any failure. Returns only when cancelled."""
        while True:
            refused = False
            try:
                await self._session()
            except _Refused as err:
                refused = True
                self.status.last_error = f"refused: {err}"
                log.error("%s: aisstream.io refused the subscription: %s", self.name, err)
            except _Idle:
                self.status.last_error = f"no message for {self._idle_timeout:g} s"
                log.warning("%s: no message for %g s; reconnecting", self.name, self._idle_timeout)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidURI) as err:
                text = self._redact(f"{type(err).__name__}: {err}")
                self.status.last_error = text
                log.warning("%s: connection to %s failed or closed: %s", self.name, self._url, text)
            except Exception as err:  # a bug downstream (emit) must not end the source
                self.status.last_error = self._redact(f"{type(err).__name__}: {err}")
                log.exception("%s: unexpected error; reconnecting", self.name)
            finally:
                if self.status.connected:
                    self.status.connected = False
                    self.status.disconnects += 1
            if self._delivered and not refused:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            if refused:
                # A refusal (bad key, bad filter) will not fix itself in a moment: no jitter below the
                # initial delay, and the delay keeps growing while refusals repeat.
                delay = max(delay, self._initial_delay)
            log.info("%s: reconnecting in %.2f s", self.name, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """One connection; always ends by raising. self._delivered says whether data arrived."""
        self._delivered = False
        async with connect(self._url, close_timeout=CLOSE_TIMEOUT) as ws:
            self.status.connected = True
            self.status.connects += 1
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await ws.send(json.dumps(self.subscription()))
            log.info("%s: connected to %s and subscribed", self.name, self._url)
            try:
                while True:
                    try:
                        async with asyncio.timeout(self._idle_timeout):
                            raw = await ws.recv()
                    except TimeoutError as err:
                        raise _Idle from err
                    await self._handle(raw)
            except asyncio.CancelledError:
                await ws.close(CloseCode.GOING_AWAY, "shutting down")
                raise
            except (_Idle, _Refused):
                await ws.close(CloseCode.NORMAL_CLOSURE)  # our choice, not an error of ours
                raise

    async def _handle(self, raw: str | bytes) -> None:
        now = self._clock()
        self.status.last_message_at = now
        obj = parse_frame(raw)
        if obj is None:
            self._stats.reject("malformed_json")
            return
        if "error" in obj:
            raise _Refused(self._redact(str(obj.get("error"))))
        self._delivered = True
        for report in reports_from_aisstream(obj, now, self.name, self._stats):
            await self._emit(report)
