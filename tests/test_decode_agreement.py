"""Our decoder (pyais + the framing in ais_watch/decode.py) against two independent decoders: gpsd and libais.

The fixtures are their own recorded decodes (tests/fixtures/decoder/, origins in SOURCES.md there). For every
tracked message (positions 1, 2, 3, 18, 19, 27; statics 5, 19, 24) the reference reports, ours must give the
same values, in our units, with AIS "not available" as None. Where the decoders really differ, the
difference is listed below with who is right by ITU-R M.1371-5 and why: nothing is compared loosely.
Every report we produce must have its reference counterpart and every reference message ours, so nothing
is lost or invented without a listed reason, and the counts are asserted as well.

How the files pair sentences with JSON:
- gpsd-sample.aivdm / .scaled.jsonl: no explicit pairing; one JSON object per message gpsd emits, in stream
  order, so we match in order by (type, MMSI).
- gpsd-*.log.chk: each sentence is followed by the JSON of the message it completes. $GP... sentences are
  followed by TPV/SKY JSON (skipped) and sometimes by a repeat of the previous AIS object, which gpsd re-sends
  with the next fix cycle: those repeats are checked to be identical and skipped.
- libais-typeexamples: line n of the .jsonl is the decode of line n of the .nmea.
- libais-tagblock: one JSON line per completed message, in completion order.

gpsd .chk JSON is unscaled: lat/lon in 1/10000 minute (type 27: 1/10 minute), speed in 0.1 knot (type 27:
knots), course in 0.1 degree (type 27: degrees), draught in 0.1 m. The .jsonl files are scaled.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from ais_watch.decode import NmeaDecoder
from ais_watch.model import POSITION_TYPES, IngestStats, PositionReport, Report, StaticReport
from tests.helpers.paths import FIXTURES

pytestmark = pytest.mark.unit

DECODER_FIXTURES = FIXTURES / "decoder"
RECEIVED_AT = datetime(2030, 1, 1, tzinfo=UTC)  # wall clock for lines with no time of their own
TRACKED = POSITION_TYPES | {5, 24}

LATLON_TOLERANCE = 1e-4  # degrees; the field resolution is 1/10000 minute, references print 4-7 decimals
TYPE27_LATLON_TOLERANCE = 0.5 / 600  # half of type 27's 1/10 minute step: both read the same raw value
FLOAT_TOLERANCE = 1e-3  # sog, cog (0.1 resolution) and draught; libais prints float32 (0.1000000015)

POSITION_FIELDS = ("lat", "lon", "sog", "cog", "heading", "nav_status")
DIMENSIONS = ("to_bow", "to_stern", "to_port", "to_starboard")
STATIC_FIELDS = {
    "5": ("name", "call_sign", "imo", "ship_type", *DIMENSIONS, "draught", "destination"),
    "19": ("name", "ship_type", *DIMENSIONS),
    "24A": ("name",),
    "24B": ("call_sign", "ship_type", *DIMENSIONS),
}


# --------------------------------------------------------------------------------------------------------
# Where the decoders disagree, and who is right (ITU-R M.1371-5, Annex 8 message tables).
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    ours: Any
    theirs: Any
    verdict: str


# (fixture, message type, MMSI, field) -> the difference expected in every message it applies to.
EXPECTED_DIFFERENCES: dict[tuple[str, int, int, str], Difference] = {
    ("gpsd-ais-18-27.log.chk", 18, 230055040, "heading"): Difference(
        None, 360,
        "Ours is right. M.1371 message 18 'true heading' is 0-359 degrees with 511 = not available; "
        "360-510 are not defined, so 360 is no heading at all. gpsd passes the raw field through; we "
        "normalise anything outside 0-359 to None like 511."),
}

# Reference messages that are not a position in ours, with the reject reason we count for them.
# (Besides these, every lat 91 / lon 181 message, which M.1371 defines as 'not available', must be
# counted as rejects["no_position"]: gpsd and libais emit it with 91/181 as numbers.)
NOT_A_POSITION: dict[tuple[str, int, int], tuple[str, str]] = {
    ("libais-typeexamples.nmea", 27, 974291422): (
        "impossible_position",
        "Ours is right. libais prints lon 200.23; M.1371 longitude is +-180 degrees with 181 = not "
        "available, so 200.23 is no place on Earth (the example payload is random bits)."),
    ("libais-typeexamples.nmea", 2, 277315048): (
        "impossible_position",
        "Ours is right. libais prints lat -101.55; M.1371 latitude is +-90 degrees with 91 = not "
        "available, so -101.55 is no place on Earth (the example payload is random bits)."),
}

# Type 24 is two independent messages (part A: name; part B: call sign, type, dimensions; M.1371 says a
# station sends them separately and a receiver may get either). gpsd holds a 24A back and prints one merged
# object when the 24B of the same MMSI follows on the same channel; it prints nothing for a 24B without a
# 24A or for a 24A whose 24B never comes. We report each part as it arrives, which is a presentation choice,
# not a decoding disagreement: the merged object is compared with both our parts. Parts gpsd never prints:
ANY_MMSI = 0
UNPAIRED_24_PARTS: dict[str, Counter[tuple[int, str]]] = {
    # The file's own "type 24 collisions" section: a 24B without a 24A, a 24A replaced by another MMSI's 24A
    # before its 24B, and a 24B whose 24A never came. Each part is valid on its own.
    "gpsd-sample.aivdm": Counter({(271041815, "B"): 1, (271041511, "A"): 1, (271020195, "B"): 1}),
    # The capture ends before this 24A's 24B.
    "gpsd-ais-nmea.log.chk": Counter({(244820267, "A"): 1}),
    # Every 24A here (69, from 33 vessels) is followed by its "24B" with part number 3. M.1371 defines part
    # number 0 = A and 1 = B only, so both decoders refuse those 69 sentences (ours counts them as
    # rejects["undecodable"], see test_gpsd_18_27_part_number_3); gpsd then never prints the 24A.
    "gpsd-ais-18-27.log.chk": Counter({(ANY_MMSI, "A"): 69}),
}


# --------------------------------------------------------------------------------------------------------
# Reference decodes -> one shape, in our units, "not available" as None.
# --------------------------------------------------------------------------------------------------------
@dataclass
class Ref:
    msg_type: int
    mmsi: int
    part: str | None = None  # type 24: "A", "B", or "AB" for gpsd's merged object
    position: dict[str, Any] | None = None
    no_position: bool = False  # lat 91 / lon 181
    statics: dict[str, dict[str, Any]] = field(default_factory=dict)  # "5" / "19" / "24A" / "24B" -> fields
    raw: dict[str, Any] = field(default_factory=dict)


def _na(value: Any, *not_available: Any) -> Any:
    return None if value is None or value in not_available else value


def _text(value: Any) -> str | None:
    """gpsd/libais may keep AIS '@' padding and trailing spaces; we trim them, and '' is None."""
    if value is None:
        return None
    return str(value).rstrip("@ ").strip() or None


def _static_fields(obj: dict[str, Any], draught_scale: float) -> dict[str, Any]:
    imo = obj.get("imo")
    draught = obj.get("draught")
    return {
        "name": _text(obj.get("shipname")),
        "call_sign": _text(obj.get("callsign")),
        "imo": _na(int(imo), 0) if imo is not None else None,  # 0 = not available
        "ship_type": _na(obj.get("shiptype"), 0),  # 0 = not available or no ship
        **{dim: _na(obj.get(dim), 0) for dim in DIMENSIONS},  # 0 = not available
        "draught": _na(draught * draught_scale, 0) if draught is not None else None,  # 0 = not available
        "destination": _text(obj.get("destination")),
    }


def _pick(values: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: values[key] for key in STATIC_FIELDS[kind]}


def _ref(obj: dict[str, Any], *, scaled: bool, libais: bool = False) -> Ref:
    msg_type = obj["type"]
    ref = Ref(msg_type=msg_type, mmsi=obj["mmsi"], raw=obj)
    if msg_type in POSITION_TYPES:
        if msg_type == 27:  # lat/lon 1/10 minute, speed knots (63 n/a), course degrees (511 n/a)
            scale = 1 if scaled else 1 / 600
            sog, cog = _na(obj["speed"], 63), _na(obj["course"], 511)
        else:  # lat/lon 1/10000 minute, speed 0.1 knot (102.3 n/a), course 0.1 degree (360 n/a)
            scale = 1 if scaled else 1 / 600_000
            speed = obj["speed"] if scaled else obj["speed"] / 10
            course = obj["course"] if scaled else obj["course"] / 10
            sog, cog = _na(speed, 102.3), _na(course, 360)
        lat, lon = obj["lat"] * scale, obj["lon"] * scale
        ref.no_position = round(lat, 6) == 91 or round(lon, 6) == 181
        ref.position = {"lat": lat, "lon": lon, "sog": sog, "cog": cog,
                        "heading": _na(obj.get("heading"), 511),  # 511 = not available
                        "nav_status": obj.get("status")}  # types 18/19 carry none
    draught_scale = 1 if scaled else 0.1
    if msg_type in (5, 19):
        ref.statics[str(msg_type)] = _pick(_static_fields(obj, draught_scale), str(msg_type))
    elif msg_type == 24:
        values = _static_fields(obj, draught_scale)
        if libais:  # libais prints each part on its own
            ref.part = "A" if obj["part_num"] == 0 else "B"
            ref.statics["24" + ref.part] = _pick(values, "24" + ref.part)
        else:  # gpsd prints one object once it has both parts
            ref.part = "AB"
            ref.statics["24A"] = _pick(values, "24A")
            ref.statics["24B"] = _pick(values, "24B")
    return ref


def _lines(name: str) -> list[bytes]:
    return (DECODER_FIXTURES / name).read_bytes().splitlines()


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _lines(name) if line.strip()]


# --------------------------------------------------------------------------------------------------------
# Pairing our reports with reference messages.
# --------------------------------------------------------------------------------------------------------
Pair = tuple[list[Report], list[Ref]]  # one sentence: what we produced, what the reference printed


def _kind(report: Report) -> str:
    if isinstance(report, PositionReport):
        return f"position {report.msg_type}"
    return f"static {report.msg_type}{report.part or ''}"


def _match_key(report: Report) -> tuple[int, int, str | None]:
    return report.msg_type, report.mmsi, report.part if isinstance(report, StaticReport) else None


def _ref_keys(ref: Ref) -> set[tuple[int, int, str | None]]:
    """The (type, MMSI, part) of the reports of ours this reference message is printed with."""
    if ref.msg_type == 24:
        return {(24, ref.mmsi, "B" if ref.part == "AB" else ref.part)}
    return {(ref.msg_type, ref.mmsi, None)}


def _chk_pairs(name: str, decoder: NmeaDecoder) -> list[Pair]:
    """A gpsd .chk file: feed every sentence line; the AIS JSON after it is what it completed."""
    pairs: list[Pair] = []
    last_kind = b""
    last_ais: dict[str, Any] | None = None
    for line in _lines(name):
        if line.startswith(b"{"):
            obj = json.loads(line)
            if obj["class"] != "AIS":
                continue  # TPV/SKY from $GP... sentences
            if last_kind != b"!":
                assert obj == last_ais, f"{name}: AIS JSON after a non-AIS sentence is not a repeat: {obj}"
                continue
            pairs[-1][1].append(_ref(obj, scaled=False))
            last_ais = obj
            continue
        last_kind = line[:1]
        pairs.append((decoder.feed(line, RECEIVED_AT), []))
    return pairs


def _in_order_pairs(lines: Iterable[bytes], refs: list[Ref], decoder: NmeaDecoder) -> list[Pair]:
    """Match reference messages to ours in stream order by (type, MMSI, 24 part); no skipping allowed.

    A line completes at most one message, so it takes at most the next reference message: the one whose
    report(s) it produced, or, when it produced none because the position was rejected, the next one.
    """
    queue = deque(ref for ref in refs if ref.msg_type in TRACKED)
    pairs: list[Pair] = []
    stats = decoder.stats

    def position_rejects() -> int:
        return stats.rejects.get("no_position", 0) + stats.rejects.get("impossible_position", 0)

    for line in lines:
        messages, rejected = stats.messages, position_rejects()
        ours = decoder.feed(line, RECEIVED_AT)
        if stats.messages == messages:
            assert not ours
            continue
        keys = {_match_key(report) for report in ours}
        theirs: list[Ref] = []
        if queue and (_ref_keys(queue[0]) & keys or (not ours and position_rejects() > rejected)):
            theirs.append(queue.popleft())
        pairs.append((ours, theirs))
    assert not queue, f"reference messages ours never matched, in order: {[ref.raw for ref in queue]}"
    return pairs


# --------------------------------------------------------------------------------------------------------
# The comparison.
# --------------------------------------------------------------------------------------------------------
def _same(key: str, ours: Any, theirs: Any, msg_type: int) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if key in ("lat", "lon"):
        tolerance = TYPE27_LATLON_TOLERANCE if msg_type == 27 else LATLON_TOLERANCE
        return abs(ours - theirs) <= tolerance
    if key in ("sog", "cog", "draught"):
        return abs(ours - theirs) <= FLOAT_TOLERANCE
    return bool(ours == theirs)


@dataclass
class Outcome:
    ours: Counter[str] = field(default_factory=Counter)  # our reports by kind
    expected: Counter[str] = field(default_factory=Counter)  # what the reference says we should produce
    not_positions: Counter[str] = field(default_factory=Counter)  # reject reason -> reference messages
    merged_24: int = 0  # gpsd objects that stand for two of our messages
    unpaired_24: Counter[tuple[int, str]] = field(default_factory=Counter)
    differences_seen: set[tuple[str, int, int, str]] = field(default_factory=set)
    not_positions_seen: set[tuple[str, int, int]] = field(default_factory=set)
    compared: Counter[str] = field(default_factory=Counter)  # field -> number of values compared
    problems: list[str] = field(default_factory=list)


def _compare(fixture: str, outcome: Outcome, msg_type: int, mmsi: int, ours: dict[str, Any],
             theirs: dict[str, Any]) -> None:
    for key, their_value in theirs.items():
        our_value = ours[key]
        outcome.compared[key] += 1
        diff_key = (fixture, msg_type, mmsi, key)
        expected = EXPECTED_DIFFERENCES.get(diff_key)
        if expected is not None and (our_value, their_value) == (expected.ours, expected.theirs):
            outcome.differences_seen.add(diff_key)
            continue
        if not _same(key, our_value, their_value, msg_type):
            outcome.problems.append(f"type {msg_type} MMSI {mmsi} {key}: ours {our_value!r}, "
                                    f"reference {their_value!r}")


def _our_static(report: StaticReport) -> dict[str, Any]:
    return {key: getattr(report, key) for key in STATIC_FIELDS["5"]}


def _take(left: list[Report], key: tuple[int, int, str | None], want: type, outcome: Outcome) -> Any:
    """Remove and return our report of this (type, MMSI, part) and class from one sentence's reports."""
    for report in left:
        if _match_key(report) == key and isinstance(report, want):
            left.remove(report)
            return report
    outcome.problems.append(f"reference {key} has no {want.__name__} of ours among {left}")
    return None


def _check(fixture: str, pairs: list[Pair]) -> Outcome:
    outcome = Outcome()
    waiting_24a: dict[int, list[StaticReport]] = {}  # our 24A parts gpsd has not printed yet
    for ours, theirs in pairs:
        outcome.ours.update(_kind(report) for report in ours)
        left = list(ours)

        for ref in theirs:
            if ref.position is not None:
                listed = (fixture, ref.msg_type, ref.mmsi)
                reason = "no_position" if ref.no_position else NOT_A_POSITION.get(listed, (None, ""))[0]
                if listed in NOT_A_POSITION:
                    outcome.not_positions_seen.add(listed)
                if reason is not None:
                    outcome.not_positions[reason] += 1
                    assert not any(isinstance(r, PositionReport) for r in ours), (fixture, ref.raw)
                else:
                    outcome.expected[f"position {ref.msg_type}"] += 1
                    report = _take(left, (ref.msg_type, ref.mmsi, None), PositionReport, outcome)
                    if report is not None:
                        _compare(fixture, outcome, ref.msg_type, ref.mmsi,
                                 {key: getattr(report, key) for key in POSITION_FIELDS}, ref.position)
            for kind, values in ref.statics.items():
                outcome.expected[f"static {kind}"] += 1
                if ref.part == "AB" and kind == "24A":
                    outcome.merged_24 += 1
                    pending = waiting_24a.get(ref.mmsi)
                    if not pending:
                        outcome.problems.append(f"gpsd merged 24 for {ref.mmsi} but we sent no 24A before")
                        continue
                    report = pending.pop()  # gpsd keeps the latest 24A of the MMSI
                else:
                    part = kind[2:] or None
                    report = _take(left, (ref.msg_type, ref.mmsi, part), StaticReport, outcome)
                if report is not None:
                    _compare(fixture, outcome, ref.msg_type, ref.mmsi, _our_static(report), values)
        for report in left:  # ours with no reference counterpart on this sentence
            if isinstance(report, StaticReport) and report.part == "A":
                waiting_24a.setdefault(report.mmsi, []).append(report)
            elif isinstance(report, StaticReport) and report.part == "B":
                outcome.unpaired_24[(report.mmsi, "B")] += 1
            else:
                outcome.problems.append(f"ours only: {report}")
    for mmsi, parts in waiting_24a.items():
        outcome.unpaired_24[(mmsi, "A")] += len(parts)
    return outcome


def _assert_outcome(fixture: str, outcome: Outcome, stats: IngestStats) -> None:
    assert not outcome.problems, "\n".join(outcome.problems)
    stale = {key for key in EXPECTED_DIFFERENCES if key[0] == fixture} - outcome.differences_seen
    stale |= {key for key in NOT_A_POSITION if key[0] == fixture} - outcome.not_positions_seen
    assert not stale, f"listed differences that no longer occur: {stale}"
    # Count: every reference message became the report(s) the reference implies, plus the 24 parts gpsd
    # does not print; and every message that is not a position was counted under its reason.
    unpaired = UNPAIRED_24_PARTS.get(fixture, Counter())
    if (ANY_MMSI, "A") in unpaired:
        seen = Counter()
        for (_, part), count in outcome.unpaired_24.items():
            seen[(ANY_MMSI, part)] += count
    else:
        seen = outcome.unpaired_24
    assert seen == unpaired, f"type 24 parts gpsd does not print: {dict(outcome.unpaired_24)}"
    expected = outcome.expected.copy()
    for (_, part), count in unpaired.items():
        expected[f"static 24{part}"] += count
    assert outcome.ours == expected
    for reason, count in outcome.not_positions.items():
        assert stats.rejects.get(reason) == count, (reason, stats.rejects)
    assert all(outcome.compared[key] for key in ("lat", "lon", "sog", "cog", "heading"))


def _untracked(refs: Iterable[Ref]) -> int:
    return sum(ref.msg_type not in TRACKED for ref in refs)


# --------------------------------------------------------------------------------------------------------
# gpsd
# --------------------------------------------------------------------------------------------------------
def test_gpsd_sample_aivdm() -> None:
    fixture = "gpsd-sample.aivdm"
    lines = [line for line in _lines(fixture) if line.strip() and not line.startswith(b"#")]
    refs = [_ref(obj, scaled=True) for obj in _jsonl("gpsd-sample.aivdm.scaled.jsonl")]
    stats = IngestStats()
    decoder = NmeaDecoder(fixture, stats)
    pairs = _in_order_pairs(lines, refs, decoder)
    decoder.close()
    outcome = _check(fixture, pairs)
    _assert_outcome(fixture, outcome, stats)

    # The file's "invalid packet" line (a 2nd part with its '!' missing): gpsd prints nothing, we count it.
    assert stats.rejects == {"not_nmea": 1}
    assert stats.other_types == _untracked(refs)  # same untracked messages (types 4, 6-17, 20-23, 25, 26)
    # Every whole message: gpsd's objects, plus the 24As it merged away, plus the 24 parts it never prints.
    assert stats.messages == len(refs) + outcome.merged_24 + sum(UNPAIRED_24_PARTS[fixture].values())
    assert outcome.ours == Counter({"position 1": 4, "position 2": 1, "position 3": 1, "position 18": 3,
                                    "position 19": 1, "position 27": 2, "static 5": 3, "static 19": 1,
                                    "static 24A": 3, "static 24B": 4})


@pytest.mark.parametrize("fixture", ["gpsd-ais-nmea.log.chk", "gpsd-ais-18-27.log.chk"])
def test_gpsd_daemon_logs(fixture: str) -> None:
    stats = IngestStats()
    decoder = NmeaDecoder(fixture, stats)
    pairs = _chk_pairs(fixture, decoder)
    decoder.close()
    outcome = _check(fixture, pairs)
    _assert_outcome(fixture, outcome, stats)
    refs = [ref for _, theirs in pairs for ref in theirs]
    assert stats.other_types == _untracked(refs)
    undecodable = stats.rejects.get("undecodable", 0)  # refused by both decoders
    assert stats.messages == (len(refs) + outcome.merged_24 + sum(UNPAIRED_24_PARTS[fixture].values())
                              + undecodable)
    if fixture == "gpsd-ais-nmea.log.chk":
        # 3 type 3 reports of 244060797 with lat 91 / lon 181, which gpsd prints as numbers.
        assert stats.rejects == {"no_position": 3, "non_ais_sentence": 1313}
        assert outcome.ours == Counter({"position 1": 116, "position 3": 18, "position 18": 7, "static 5": 12,
                                        "static 24A": 5, "static 24B": 4})
    else:
        assert stats.rejects == {"undecodable": 69}
        assert outcome.ours == Counter({"position 18": 69, "position 27": 69, "static 24A": 69})


def _m24_part_number(payload: bytes) -> int:
    """Bits 38-39 of an armoured AIS payload: type 24's part number, read without pyais."""
    bits = "".join(f"{(c - 48 - 8 if c - 48 > 40 else c - 48):06b}" for c in payload)
    return int(bits[38:40], 2)


def test_gpsd_18_27_part_number_3() -> None:
    """The 69 'undecodable' sentences are exactly the type 24 ones with part number 3 (M.1371: 0 or 1)."""
    numbers = Counter()
    for line in _lines("gpsd-ais-18-27.log.chk"):
        if line.startswith(b"!"):
            payload = line.split(b",")[5]
            if payload[:1] == b"H":
                numbers[_m24_part_number(payload)] += 1
    assert numbers == Counter({0: 69, 3: 69})


# --------------------------------------------------------------------------------------------------------
# libais
# --------------------------------------------------------------------------------------------------------
def test_libais_typeexamples() -> None:
    fixture = "libais-typeexamples.nmea"
    lines = _lines(fixture)
    refs = [_ref(obj, scaled=True, libais=True) for obj in _jsonl("libais-typeexamples.jsonl")]
    assert len(lines) == len(refs) == 26
    stats = IngestStats()
    decoder = NmeaDecoder(fixture, stats)
    pairs: list[Pair] = []
    for line, ref in zip(lines, refs, strict=True):
        ours = decoder.feed(line, RECEIVED_AT)
        pairs.append((ours, [ref] if ref.msg_type in TRACKED else []))
        # USCG receiver trailer ",...,r003669946,<epoch>,<epoch>": station and time come from it.
        fields = line[line.index(b"*"):].split(b",")
        station = next(f[1:].decode() for f in fields if f.startswith(b"r"))
        epochs = {datetime.fromtimestamp(int(f), UTC) for f in fields[-2:]}
        for report in ours:
            assert report.station == station
            assert report.time in epochs
    decoder.close()
    outcome = _check(fixture, pairs)
    _assert_outcome(fixture, outcome, stats)
    assert stats.rejects == {"impossible_position": 2}
    assert stats.other_types == _untracked(refs) == 19
    assert stats.messages == 26
    assert outcome.ours == Counter({"position 1": 1, "position 3": 1, "position 18": 1, "static 5": 1,
                                    "static 24A": 1})


def test_libais_tagblock() -> None:
    """c: gives the event time, s: the station, and the g: group 1604 (a type 5 in two parts) reassembles.

    The two parts of group 1604 are 41 minutes of c: time apart in stream order (a line from another
    satellite station with a later time sits between them), so this runs with a long fragment TTL; with the
    default TTL the group is lost, see test_libais_tagblock_group_survives_default_ttl.
    """
    fixture = "libais-tagblock.nmea"
    refs = [_ref(obj, scaled=True, libais=True) for obj in _jsonl("libais-tagblock.jsonl")]
    stats = IngestStats()
    decoder = NmeaDecoder(fixture, stats, fragment_ttl=24 * 3600.0)
    pairs = _in_order_pairs(_lines(fixture), refs, decoder)
    decoder.close()
    outcome = _check(fixture, pairs)
    _assert_outcome(fixture, outcome, stats)
    assert stats.rejects == {}
    assert outcome.ours == Counter({"position 1": 3, "static 5": 1})

    reports = [report for ours, _ in pairs for report in ours]
    assert len(reports) == len(refs) == 4
    for report, ref in zip(reports, refs, strict=True):
        assert (report.msg_type, report.mmsi) == (ref.msg_type, ref.mmsi)
        assert report.time == datetime.fromisoformat(ref.raw["tagblock_timestamp"])  # from c:
        assert report.station == ref.raw["tagblock_station"]  # from s:
    static = reports[1]
    assert isinstance(static, StaticReport)
    assert (static.name, static.call_sign) == ("ROSINANTE", "XPD5019")
    assert static.time == datetime(2014, 12, 10, 0, 0, 1, tzinfo=UTC)  # c:1418169601 of part 1
    assert static.station == "rORBCOMM008"


def test_libais_tagblock_group_survives_default_ttl() -> None:
    stats = IngestStats()
    decoder = NmeaDecoder("libais-tagblock.nmea", stats)  # default fragment_ttl
    lines = _lines("libais-tagblock.nmea")
    reports = [report for line in lines for report in decoder.feed(line, RECEIVED_AT)]
    decoder.close()
    assert stats.rejects == {}  # today: {"incomplete_multipart": 1, "orphan_fragment": 1}
    assert [(r.msg_type, r.mmsi) for r in reports] == [(1, 224651000), (5, 219005012), (1, 224651000),
                                                         (1, 224651000)]
