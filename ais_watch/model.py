"""The one normalised model every source produces. No I/O here.

Units: degrees, knots, metres, UTC datetimes. AIS "not available" values are None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

# Message types that carry a position a vessel can be tracked by.
POSITION_TYPES = frozenset({1, 2, 3, 18, 19, 27})
STATIC_TYPES = frozenset({5, 24})



@dataclass(slots=True)
class PositionReport:
    mmsi: int
    time: datetime  # event time, UTC
    lat: float
    lon: float
    sog: float | None  # knots
    cog: float | None  # degrees true
    heading: int | None  # degrees true
    nav_status: int | None
    msg_type: int
    source: str
    received_at: datetime
    station: str | None = None  # receiving station (tag block s:, Gatehouse, USCG r...)
    accuracy: bool | None = None
    mmsi_valid: bool = True
    # What identifies one transmission heard by several receivers: the raw payload for NMEA;
    # None for JSON sources, which are then compared by time and position instead.
    payload: bytes | None = None


@dataclass(slots=True)
class StaticReport:
    mmsi: int
    time: datetime
    msg_type: int
    source: str
    received_at: datetime
    name: str | None = None
    call_sign: str | None = None
    imo: int | None = None
    imo_valid: bool | None = None  # None when no IMO was sent
    ship_type: int | None = None
    to_bow: int | None = None  # metres from the GNSS antenna
    to_stern: int | None = None
    to_port: int | None = None
    to_starboard: int | None = None
    draught: float | None = None  # metres
    destination: str | None = None
    part: str | None = None  # type 24: "A" (name) or "B" (call sign, type, dimensions)
    station: str | None = None
    mmsi_valid: bool = True
    payload: bytes | None = None

    def identity_fields(self) -> dict[str, object]:
        """The fields this report actually carries (a type 24 part A has only the name)."""
        if self.part == "A":
            return {"name": self.name}
        if self.msg_type == 19:
            return {"name": self.name, "ship_type": self.ship_type, "to_bow": self.to_bow,
                    "to_stern": self.to_stern, "to_port": self.to_port, "to_starboard": self.to_starboard}
        if self.part == "B":
            return {"call_sign": self.call_sign, "ship_type": self.ship_type, "to_bow": self.to_bow,
                    "to_stern": self.to_stern, "to_port": self.to_port, "to_starboard": self.to_starboard}
        return {"name": self.name, "call_sign": self.call_sign, "imo": self.imo if self.imo_valid else None,
                "ship_type": self.ship_type, "to_bow": self.to_bow, "to_stern": self.to_stern,
                "to_port": self.to_port, "to_starboard": self.to_starboard, "draught": self.draught,
                "destination": self.destination}


Report = PositionReport | StaticReport


@dataclass(slots=True)
class IngestStats:
    """Counters shared by the sources, decoders and pipeline; printed as the replay summary."""

    lines: int = 0
    messages: int = 0  # whole AIS messages after multi-part reassembly
    decoded: int = 0  # messages that became a position or static report
    other_types: int = 0  # valid AIS messages of types not tracked (base stations, safety, ...)
    processed: int = 0  # reports that went through the pipeline (after dedup)
    positions_stored: int = 0
    statics_stored: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    rejects: dict[str, int] = field(default_factory=dict)  # not used, by reason
    flags: dict[str, int] = field(default_factory=dict)  # used, but marked untrusted, by reason
    vessels: set[int] = field(default_factory=set)
    # Lines for a person about bad input, "FILE:LINE:COLUMN: NAME: what" (a replayed CSV's bad rows; the
    # reader caps how many per file), logged as they come.
    notes: list[str] = field(default_factory=list)
    # Bytes of the replayed files read so far, as they lie on disk (a gzip file's compressed bytes): where
    # a replay's progress bar is, so its ETA holds for compressed files too. Not part of the summary.
    bytes_read: int = 0

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejects[reason] = self.rejects.get(reason, 0) + count

    def flag(self, reason: str) -> None:
        self.flags[reason] = self.flags.get(reason, 0) + 1

    def note(self, text: str) -> None:
        self.notes.append(text)

    def summary(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "messages": self.messages,
            "decoded": self.decoded,
            "other_types": self.other_types,
            "positions_stored": self.positions_stored,
            "statics_stored": self.statics_stored,
            "vessels": len(self.vessels),
            "duplicates_dropped": self.duplicates,
            "out_of_order": self.out_of_order,
            "rejects": dict(sorted(self.rejects.items())),
            "flags": dict(sorted(self.flags.items())),
        }


def utc(dt: datetime) -> datetime:
    """A timezone-aware UTC datetime (naive input is taken as UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@lru_cache(maxsize=65536)
def mmsi_is_valid(mmsi: int) -> bool:
    """A 9-digit MMSI that can belong to a station (ITU-R M.585): not 0, not all one digit, not test ids."""
    if not 1_000_000 <= mmsi <= 999_999_999:
        return False
    text = f"{mmsi:09d}"
    return len(set(text)) > 1 and text != "123456789"


def imo_is_valid(imo: int | None) -> bool:
    """IMO ship numbers: 7 digits whose last is sum(digit_i * (7 - i)) mod 10 over the first six."""
    if imo is None or not 1_000_000 <= imo <= 9_999_999:
        return False
    digits = [int(d) for d in str(imo)]
    return sum(d * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True)) % 10 == digits[6]


def position_problem(lat: float | None, lon: float | None) -> str | None:
    """Why a reported position is not a position, as a reject reason, or None for a real place.
    91/181 are AIS 'not available' and (0, 0) is a GPS without a fix: "no_position"; anything else off
    the globe: "impossible_position". Every source checks its positions with this one rule."""
    if lat is None or lon is None or lat == 91 or lon == 181 or (lat == 0 and lon == 0):
        return "no_position"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return "impossible_position"
    return None


# Speed, course and heading as every source reports them: AIS marks "not available" with a value past
# the field's range (speed 102.3 kn, or 63 kn on a type 27; course 360; heading 511), read as None.
def speed_knots(value: float | None, msg_type: int) -> float | None:
    """Speed over ground in knots, or None when not available (type 27 tops out at 62 kn)."""
    if value is None:
        return None
    limit = 62.0 if msg_type == 27 else 102.2  # 63 / 102.3 mean not available
    return float(value) if 0 <= value <= limit else None


def course_degrees(value: float | None) -> float | None:
    """Course over ground in degrees true, or None when not available."""
    return float(value) if value is not None and 0 <= value < 360 else None


def heading_degrees(value: float | None) -> int | None:
    """True heading in whole degrees, or None when not available."""
    return int(value) if value is not None and 0 <= value < 360 else None


def iso(dt: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with a Z, as every output of the service writes times."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso_time(text: str) -> datetime:
    """ISO 8601 (a trailing Z allowed) as an aware UTC datetime; UTC when no offset is given."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return utc(parsed)


def parse_vessel_ref(text: str) -> tuple[str, int]:
    """'123456789' -> ('mmsi', 123456789); 'IMO:9179842' -> ('imo', 9179842). ValueError otherwise."""
    value = text.strip()
    if value.upper().startswith("IMO:"):
        number = value[4:].strip()
        if not (number.isdigit() and len(number) == 7):
            raise ValueError(f"{text!r}: an IMO number has 7 digits")
        if not imo_is_valid(int(number)):
            raise ValueError(f"{text!r}: IMO check digit is wrong")
        return "imo", int(number)
    if value.isdigit() and len(value) == 9:
        return "mmsi", int(value)
    raise ValueError(f"{text!r}: expected an MMSI (9 digits) or IMO:1234567")
