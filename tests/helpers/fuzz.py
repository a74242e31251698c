"""Fuzzing the decoders that read bytes from the internet (tests/test_fuzz_*.py): real input to mutate,
Hypothesis strategies for NMEA, aisstream JSON and CSV, and the checks every decoded report must pass (the
cases each property ran are counted by tests/helpers/fuzz_cases.py).

The real input is read from the repository only: the bundled recordings (ais_watch/data/demo, their
SOURCES.md), the decoder fixtures (tests/fixtures/decoder, their SOURCES.md) and the aisstream.io messages
of tests/helpers/aisstream.py.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from ais_watch.decode import MESSAGE_REJECTS, NmeaDecoder
from ais_watch.model import POSITION_TYPES, STATIC_TYPES, IngestStats, PositionReport, Report, StaticReport
from ais_watch.sources.replay import open_binary
from tests.helpers.aisstream import (
    class_b_report,
    extended_class_b_report,
    long_range_report,
    position_report,
    ship_static_data,
    static_data_report,
)
from tests.helpers.nmea import checksum, encode, sentence
from tests.helpers.paths import DEMO_DATA, FIXTURES

RECEIVED_AT = datetime(2030, 1, 1, tzinfo=UTC)

# --------------------------------------------------------------------------------------------------------
# Real input
# --------------------------------------------------------------------------------------------------------
@functools.cache
def real_nmea_lines() -> tuple[bytes, ...]:
    """Consecutive lines of each recording (tag blocks, $PGHP, $GPZDA, trailing epoch ms, multi-part
    messages, receiver chatter) and of the decoder fixtures (comments, every message type, USCG trailers)."""
    lines: list[bytes] = []
    for name, count in (("dma-tagblock-pghp-2013.nmea.gz", 600), ("amsa-terrestrial-2012.nmea.gz", 600),
                        ("amsa-satellite-trailing-ms.nmea", 400)):
        with open_binary(DEMO_DATA / name) as fh:
            lines += [line.rstrip(b"\r\n") for _, line in zip(range(count), fh, strict=False)]
    for name in ("gpsd-sample.aivdm", "libais-tagblock.nmea", "libais-typeexamples.nmea"):
        lines += (FIXTURES / "decoder" / name).read_bytes().splitlines()
    return tuple(lines)


@functools.cache
def real_payloads() -> tuple[bytes, ...]:
    """The armoured payloads of the real single-part sentences."""
    payloads = []
    for line in real_nmea_lines():
        start = line.find(b"!")
        fields = line[start:].split(b",")
        if start >= 0 and len(fields) >= 7 and fields[1] == b"1":
            payloads.append(fields[5])
    return tuple(sorted(set(payloads)))


@functools.cache
def real_single_sentences() -> tuple[bytes, ...]:
    """Real single-part sentences that decode to a position on their own (no context needed)."""
    found = []
    for line in real_nmea_lines():
        if line[:1] != b"!" or b",1,1," not in line:
            continue
        stats = IngestStats()
        if any(isinstance(r, PositionReport) for r in NmeaDecoder("probe", stats).feed(line, RECEIVED_AT)):
            found.append(line)
    return tuple(found)


@functools.cache
def multipart_messages() -> tuple[tuple[bytes, ...], ...]:
    """Whole multi-part messages: the recordings' own, and type 5 / type 8 built with pyais (2-5 parts)."""
    messages: list[tuple[bytes, ...]] = []
    lines = [line for line in real_nmea_lines() if line[:1] == b"!"]
    for first, second in itertools.pairwise(lines):
        if b",2,1," in first and b",2,2," in second:
            messages.append((first, second))
    for i in range(8):
        messages.append(tuple(encode(seq_id=i % 10, type=5, mmsi=273000000 + i, imo=9134270,
                                     callsign=f"UB{i}", shipname=f"SHIP {i}", ship_type=70, to_bow=100,
                                     to_stern=20, to_port=5, to_starboard=5, draught=7.5,
                                     destination="VOSTOCHNY")))
    # A type 5's payload cut into 3, 4 and 5 sentences (a receiver may cut a long message anywhere).
    first, second = messages[-1]
    payload = first.split(b",")[5] + second.split(b",")[5]
    for count in (3, 4, 5):
        size = -(-len(payload) // count)
        pieces = [payload[i:i + size] for i in range(0, len(payload), size)]
        messages.append(tuple(sentence(f"AIVDM,{count},{n},7,B,{piece.decode()},{2 if n == count else 0}")
                              for n, piece in enumerate(pieces, 1)))
    return tuple(messages)


REAL_CSV: dict[str, tuple[str, ...]] = {
    # The Danish Maritime Authority's aisdk layout and NOAA MarineCadastre's, as they publish them.
    "dma": (
        "# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,Heading,IMO,"
        "Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,Draught,Destination,"
        "ETA,Data source type,A,B,C,D",
        "12/11/2023 12:00:01,Class A,219000734,55.676100,12.568300,Under way using engine,0.0,10.2,123.4,122,"
        "9179842,OXYZ2,NORDIC STAR,Cargo,,20,120,GPS,6.5,AARHUS,13/11/2023 08:00:00,AIS,100,20,10,10",
        '12/11/2023 12:00:05,Class B,211234560,54.100000,10.200000,Unknown value,,3.1,45.0,,Unknown,DJ2345,'
        '"<b>""SEA</b> & CO",Undefined,,,,Undefined,,,,AIS,,,,',
        "12/11/2023 12:00:00,Class A,219005866,57.321455,11.126527,Unknown value,0.0,0.0,212.1,121,"
        "Unknown,Unknown,,Undefined,,,,Undefined,,Unknown,,AIS,,,,",
        "12/11/2023 12:00:02,Base Station,2190068,55.000000,12.000000,Unknown value,,,,,Unknown,Unknown,,"
        "Undefined,,,,Surveyed,,Unknown,,AIS,,,,",
    ),
    "noaa": (
        "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,Length,Width,"
        "Draft,Cargo,TransceiverClass",
        "367001234,2023-01-01T00:00:01,29.93000,-90.06000,0.1,207.3,511.0,SEA STAR,IMO9179842,WDA1234,70,0,"
        "100,20,5.5,70,A",
        "338123456,2023-01-01T00:00:30,30.10000,-89.90000,5.0,90.0,511.0,,,,37,15,,,,,B",
        "367001235,2023-01-01T00:01:01,91.00000,181.00000,0.2,207.3,205.0,X,,,70,0,100,20,5.5,70,A",
    ),
}


def real_aisstream_messages() -> list[dict[str, Any]]:
    """One of each message kind aisstream.io sends (tests/helpers/aisstream.py)."""
    return [position_report(), ship_static_data(), class_b_report(), extended_class_b_report(),
            long_range_report(), static_data_report(False), static_data_report(True)]


# --------------------------------------------------------------------------------------------------------
# Mutations of real input
# --------------------------------------------------------------------------------------------------------
SPECIALS = b"!$\\*,:-\r\n\x00\xff0159AZaz "


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` after 1-4 byte-level changes: bit flips, a byte set, truncation, insertion, deletion, a
    field replaced (between commas), a part repeated."""
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        op = draw(st.sampled_from(("flip", "set", "truncate", "insert", "delete", "field", "repeat")))
        at = draw(st.integers(0, max(size - 1, 0)))
        if op == "flip" and size:
            data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1:]
        elif op == "set" and size:
            byte = draw(st.sampled_from(SPECIALS) | st.integers(0, 255))
            data = data[:at] + bytes([byte]) + data[at + 1:]
        elif op == "truncate":
            data = data[:at] if draw(st.booleans()) else data[at:]
        elif op == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b",", b"*", b"\\", b"!", b"$", b"**", b",,", b"\\c:0*00\\"])) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)):]
        elif op == "field":
            fields = data.split(b",")
            i = draw(st.integers(0, len(fields) - 1))
            fields[i] = draw(st.sampled_from([b"", b"0", b"1", b"2", b"9", b"10", b"-1", b"99999999999999",
                                              b"A", b"B", b"nan", b"1e999"]) | st.binary(max_size=6))
            data = b",".join(fields)
        elif op == "repeat" and size:
            end = draw(st.integers(at, size))
            data = data[:end] + data[at:end] + data[end:]
    return data


@st.composite
def mutated_lines(draw: st.DrawFn, lines: Sequence[bytes], *, max_changes: int = 8) -> list[bytes]:
    """`lines` after line-level changes (a line mutated, dropped, repeated, two swapped, two spliced, a
    random line put in) as a receiver, a network or a broken logger makes them."""
    out = list(lines)
    for _ in range(draw(st.integers(1, max_changes))):
        op = draw(st.sampled_from(("mutate", "mutate", "drop", "repeat", "swap", "splice", "insert")))
        if not out:
            out.append(draw(st.binary(max_size=40)))
            continue
        i = draw(st.integers(0, len(out) - 1))
        j = draw(st.integers(0, len(out) - 1))
        if op == "mutate":
            out[i] = draw(mutated_bytes(out[i]))
        elif op == "drop":
            del out[i]
        elif op == "repeat":
            out.insert(j, out[i])
        elif op == "swap":
            out[i], out[j] = out[j], out[i]
        elif op == "splice":  # the start of one line run into the end of another (a lost newline)
            out[i] = out[i][:draw(st.integers(0, len(out[i])))] + out[j][draw(st.integers(0, len(out[j]))):]
        else:
            out.insert(i, draw(st.binary(max_size=40)))
    return out


@st.composite
def real_nmea_window(draw: st.DrawFn, max_lines: int = 40) -> list[bytes]:
    """Consecutive real lines, so that a $PGHP or a tag block stays before its sentence and the parts of a
    multi-part message stay together."""
    lines = real_nmea_lines()
    start = draw(st.integers(0, len(lines) - 1))
    return list(lines[start:start + draw(st.integers(1, max_lines))])


# --------------------------------------------------------------------------------------------------------
# NMEA-shaped lines
# --------------------------------------------------------------------------------------------------------
SIXBIT = b"0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW`abcdefghijklmnopqrstuvw"
TAG_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\\,*"),
                   max_size=12).map(str.encode)


def _sometimes(draw: st.DrawFn, usual: st.SearchStrategy[bytes], odd: st.SearchStrategy[bytes]) -> bytes:
    """Mostly the usual value, now and then an odd one (Hypothesis shrinks towards the usual)."""
    return draw(odd if draw(st.integers(0, 7)) == 7 else usual)


@st.composite
def closed(draw: st.DrawFn, body: bytes, start: bytes = b"!") -> bytes:
    """`start + body + *hh`, the checksum mostly right, else wrong, missing or not hex."""
    right = checksum(body).encode()
    mark = _sometimes(draw, st.just(b"*" + right),
                      st.sampled_from([b"*00", b"*", b"", b"*G1", b"*" + right.lower(), b"*" + right + b"0"]))
    return start + body + mark


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    return _sometimes(draw, st.sampled_from(real_payloads()),
                      st.binary(max_size=90).map(lambda b: bytes(SIXBIT[x % 64] for x in b))
                      | st.binary(max_size=20))


@st.composite
def ais_sentences(draw: st.DrawFn, *, parts: tuple[int, int] | None = None) -> bytes:
    """`!xxVDM,count,number,seq,channel,payload,fill*hh` with any of its fields odd now and then."""
    talker = _sometimes(draw, st.sampled_from([b"AI", b"AB", b"BS", b"SA"]), st.binary(max_size=3))
    kind = _sometimes(draw, st.sampled_from([b"VDM", b"VDO"]), st.sampled_from([b"VDX", b"vdm", b"VD"]))
    if parts is None:
        count = draw(st.integers(1, 9))
        parts = (count, draw(st.integers(1, count)))
    count_text = _sometimes(draw, st.just(b"%d" % parts[0]), st.sampled_from([b"0", b"10", b"", b"x", b"-1"]))
    number_text = _sometimes(draw, st.just(b"%d" % parts[1]), st.sampled_from([b"0", b"10", b"", b"x"]))
    seq = _sometimes(draw, st.sampled_from([b"", b"0", b"1", b"7", b"9"]), st.sampled_from([b"10", b"a"]))
    channel = _sometimes(draw, st.sampled_from([b"A", b"B", b"1", b"2", b""]), st.binary(max_size=2))
    fill = _sometimes(draw, st.sampled_from([b"0", b"2", b"4"]), st.sampled_from([b"5", b"6", b"", b"x"]))
    fields = [talker + kind, count_text, number_text, seq, channel, draw(payloads()), fill]
    if draw(st.integers(0, 15)) == 15:
        extra = draw(st.lists(st.binary(max_size=4), max_size=2))
        fields = fields[:draw(st.integers(0, len(fields)))] + extra
    return draw(closed(b",".join(fields)))


@st.composite
def tag_blocks(draw: st.DrawFn) -> bytes:
    r"""`\c:...,s:...,g:...*hh\` with random fields (times in seconds, milliseconds or nonsense)."""
    field = st.one_of(
        st.integers(0, 5_000_000_000_000).map(lambda n: b"c:%d" % n),
        st.sampled_from([b"c:", b"c:-1", b"c:1e999", b"c:nan", b"c:1683719212.5"]),
        TAG_TEXT.map(lambda s: b"s:" + s),
        st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 99999)).map(
            lambda t: b"g:%d-%d-%d" % t),
        st.sampled_from([b"g:1-2", b"g:x-y-z", b"g:", b"n:1", b"r:", b"t:text", b"q:u", b"d:DEST"]),
        st.tuples(TAG_TEXT, TAG_TEXT).map(lambda kv: kv[0] + b":" + kv[1]),
        st.binary(max_size=12),
    )
    body = b",".join(draw(st.lists(field, max_size=5)))
    return draw(closed(body, b"\\")) + b"\\"


@st.composite
def pghp_lines(draw: st.DrawFn) -> bytes:
    """Gatehouse `$PGHP,1,yyyy,mm,dd,hh,mi,ss,ms,country,region,pss,online,cs*hh`, in range or not."""
    number = st.integers(-1, 10_000).map(lambda n: b"%d" % n) | st.sampled_from(
        [b"", b"x", b"99999999999999999999", b"1.5"])
    values = [b"%d" % draw(st.integers(low, high))
              for low, high in ((1990, 2040), (1, 12), (1, 28), (0, 23), (0, 59), (0, 59), (0, 999))]
    for _ in range(draw(st.integers(0, 2))):
        values[draw(st.integers(0, len(values) - 1))] = draw(number)
    tail = [b"219", b"", draw(TAG_TEXT), draw(st.sampled_from([b"1", b"1AIS_S", b""])), b"62"]
    fields = [b"PGHP", _sometimes(draw, st.just(b"1"), st.sampled_from([b"2", b""])), *values, *tail]
    if draw(st.integers(0, 7)) == 7:
        fields = fields[:draw(st.integers(0, len(fields)))]
    return draw(closed(b",".join(fields), b"$"))


@st.composite
def zda_lines(draw: st.DrawFn) -> bytes:
    """`$GPZDA,hhmmss.ss,dd,mm,yyyy,zh,zm*hh` with every part drawn from a wide range."""
    two = st.integers(0, 99).map(lambda n: b"%02d" % n)
    clock = draw(two) + draw(two) + draw(two) + draw(st.sampled_from([b"", b".00", b".5", b".999999"]))
    day = draw(st.integers(0, 40).map(lambda n: b"%d" % n))
    month = draw(st.integers(0, 13).map(lambda n: b"%d" % n))
    year = draw(st.sampled_from([b"2012", b"2023", b"0000", b"0001", b"9999"]) | st.integers(0, 9999).map(
        lambda n: b"%04d" % n))
    talker = draw(st.sampled_from([b"GP", b"GN", b"AI", b"BS"]))
    return draw(closed(b",".join([talker + b"ZDA", clock, day, month, year, b"00", b"00"]), b"$"))


@st.composite
def leading_times(draw: st.DrawFn) -> bytes:
    """What loggers write before a sentence: ISO 8601 in many spellings, epoch seconds or ms, or junk."""
    when = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
                | st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)]))  # the edges
    offset = draw(st.sampled_from(["", "Z", " UTC", "+00:00", "+01:00", "-0930", "+2359", "-23:59"]))
    return draw(st.one_of(
        st.just(f"{when.isoformat(sep=draw(st.sampled_from(['T', ' '])))}{offset} ".encode()),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: f"{f} ".encode()),
        st.integers(0, 10**14).map(lambda n: b"%d," % n),
        st.binary(min_size=1, max_size=12),
    ))


@st.composite
def trailers(draw: st.DrawFn) -> bytes:
    """What some receivers append after the checksum: AMSA's `,<epoch ms>`, USCG's `,rSTATION,<epoch s>`."""
    return draw(st.one_of(
        st.integers(0, 9_999_999_999_999).map(lambda n: b",%d" % n),
        st.tuples(TAG_TEXT, st.integers(0, 9_999_999_999)).map(lambda t: b",r" + t[0] + b",%d" % t[1]),
        st.binary(max_size=16),
    ))


@st.composite
def nmea_lines(draw: st.DrawFn) -> bytes:
    """One line as a receiver, a logger or a network could send it."""
    kind = draw(st.sampled_from(("sentence", "sentence", "sentence", "tag", "pghp", "zda", "other", "blank")))
    if kind == "tag":
        return draw(tag_blocks())
    if kind == "pghp":
        return draw(pghp_lines())
    if kind == "zda":
        return draw(zda_lines())
    if kind == "other":
        return draw(closed(b"GPGSA,A,3,11,32,14,28,22,03,10,08,17,,,,2.02,1.03,1.74", b"$")
                    | st.sampled_from([b"$BSALR,,006,V,V,general failure*62", b"$AIVSI,BS,,,,*00"]))
    if kind == "blank":
        return draw(st.sampled_from([b"", b"   ", b"\r\n", b"# a comment", b"#"]))
    line = draw(ais_sentences())
    if draw(st.booleans()):
        line = draw(tag_blocks()) + line
    if draw(st.integers(0, 3)) == 0:
        line = line + draw(trailers())
    if draw(st.integers(0, 5)) == 0:
        line = draw(leading_times()) + line
    return line


# --------------------------------------------------------------------------------------------------------
# Multi-part streams
# --------------------------------------------------------------------------------------------------------
def reframe(part: bytes, *, talker: bytes | None = None, seq: bytes | None = None,
            channel: bytes | None = None) -> bytes:
    """A sentence of a message with its talker, sequence id or channel changed, checksum recomputed."""
    body = part[1:part.rindex(b"*")]
    fields = body.split(b",")
    if talker is not None:
        fields[0] = talker + fields[0][2:]
    if seq is not None:
        fields[3] = seq
    if channel is not None:
        fields[4] = channel
    return b"!" + b",".join(fields) + b"*" + checksum(b",".join(fields)).encode()


@st.composite
def framed_messages(draw: st.DrawFn, max_messages: int = 8) -> list[list[bytes]]:
    """Whole multi-part messages, each on a random talker, channel and sequence id (which may collide)."""
    messages = draw(st.lists(st.sampled_from(multipart_messages()), min_size=1, max_size=max_messages))
    framed = []
    for parts in messages:
        talker = draw(st.sampled_from([b"AI", b"AB", b"BS"]))
        seq = draw(st.sampled_from([b"", b"0", b"1", b"2", b"3", b"9"]))
        channel = draw(st.sampled_from([b"A", b"B", b"1", b""]))
        framed.append([reframe(p, talker=talker, seq=seq, channel=channel) for p in parts])
    return framed


@st.composite
def interleaved(draw: st.DrawFn, messages: list[list[bytes]]) -> list[bytes]:
    """The parts of the messages merged in a random order that keeps each message's own order."""
    queues = [list(parts) for parts in messages]
    out = []
    while any(queues):
        live = [q for q in queues if q]
        out.append(live[draw(st.integers(0, len(live) - 1))].pop(0))
    return out


# --------------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------------
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["PositionReport", "ShipStaticData", "StandardClassBPositionReport",
                     "ExtendedClassBPositionReport", "LongRangeAisBroadcastMessage", "StaticDataReport",
                     "2023-05-10 11:46:52.509865357 +0000 UTC", "0001-01-01T00:00:00+01:00",
                     "9999-12-31 23:59:59 -2359", "273355410", "²", "٣٣٣"]),
)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12) | st.sampled_from(
                               ["MessageType", "MetaData", "Message", "UserID", "Latitude", "Longitude",
                                "time_utc", "MMSI", "PartNumber", "ReportA", "ReportB", "Dimension"]),
                               inner, max_size=5), max_leaves=20)


@st.composite
def mutated_json(draw: st.DrawFn, obj: Any) -> Any:
    """A copy of `obj` with 1-3 values somewhere in it replaced by any JSON value, or keys removed."""
    def edit(node: Any, depth: int) -> Any:
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            copy = dict(node)
            op = draw(st.sampled_from(("descend", "descend", "replace", "delete")))
            if op == "descend" and depth < 6:
                copy[key] = edit(node[key], depth + 1)
            elif op == "delete":
                del copy[key]
            else:
                copy[key] = draw(JSON_VALUES)
            return copy
        if isinstance(node, list) and node:
            i = draw(st.integers(0, len(node) - 1))
            return [*node[:i], edit(node[i], depth + 1), *node[i + 1:]]
        return draw(JSON_VALUES)

    for _ in range(draw(st.integers(1, 3))):
        obj = edit(obj, 0)
    return obj


# --------------------------------------------------------------------------------------------------------
# What every report must be, whatever the input (the model's contract, ais_watch/model.py)
# --------------------------------------------------------------------------------------------------------
def assert_well_formed(report: Report) -> None:
    assert isinstance(report.mmsi, int) and not isinstance(report.mmsi, bool), report
    assert report.mmsi >= 0, report
    assert report.time.tzinfo is not None and report.time.utcoffset() == timedelta(0), report
    if isinstance(report, PositionReport):
        assert report.msg_type in POSITION_TYPES, report
        assert isinstance(report.lat, float) and isinstance(report.lon, float), report
        assert -90 <= report.lat <= 90 and -180 <= report.lon <= 180, report
        assert not (report.lat == 0 and report.lon == 0), report
        assert report.sog is None or 0 <= report.sog <= 102.2, report
        assert report.cog is None or 0 <= report.cog < 360, report
        heading = report.heading
        assert heading is None or (isinstance(heading, int) and 0 <= heading < 360), report
    else:
        assert isinstance(report, StaticReport)
        assert report.msg_type in STATIC_TYPES | {19}, report
        for text in (report.name, report.call_sign, report.destination):
            assert text is None or (isinstance(text, str) and text == text.strip() and text), report
        assert report.draught is None or (isinstance(report.draught, float) and math.isfinite(report.draught))
        for number in (report.imo, report.ship_type, report.to_bow, report.to_stern, report.to_port,
                       report.to_starboard):
            assert number is None or (isinstance(number, int) and not isinstance(number, bool)), report


# --------------------------------------------------------------------------------------------------------
# The NMEA decoder, line by line, with its books checked after each line
# --------------------------------------------------------------------------------------------------------
MAX_PARTS = 9  # NMEA: a message has at most 9 sentences


class CheckedDecoder:
    """An NmeaDecoder whose accounts are checked after every line: the line landed in exactly one place
    (skipped, context, a message, a pending part, one reject; ais_watch/decode.py's docstring), a message
    completed on it has its outcome counted, its reports are well formed, and the pending parts stay
    within the decoder's caps."""

    def __init__(self, **options: Any) -> None:
        self.stats = IngestStats()
        self.decoder = NmeaDecoder("fuzz", self.stats, **options)
        self.fed = 0
        self.reports: list[Report] = []

    def placed(self) -> int:
        d = self.decoder
        line_rejects = sum(n for reason, n in self.stats.rejects.items() if reason not in MESSAGE_REJECTS)
        return d.skipped_lines + d.context_lines + d.message_lines + d.pending_parts + line_rejects

    def _outcomes(self) -> tuple[int, int, int, int]:
        s = self.stats
        message_rejects = sum(n for reason, n in s.rejects.items() if reason in MESSAGE_REJECTS)
        return s.messages, s.decoded, s.other_types, message_rejects

    def feed(self, line: bytes | str, received_at: datetime = RECEIVED_AT) -> list[Report]:
        placed, (messages, decoded, other, message_rejects) = self.placed(), self._outcomes()
        reports = self.decoder.feed(line, received_at)
        self.fed += 1
        assert self.placed() == placed + 1, f"{line!r} was counted {self.placed() - placed} times, not once"
        new_messages, new_decoded, new_other, new_message_rejects = (
            a - b for a, b in zip(self._outcomes(), (messages, decoded, other, message_rejects), strict=True))
        assert new_messages in (0, 1), line
        outcomes = new_decoded + new_other + new_message_rejects
        # A message is decoded, of a type not tracked, or rejected; a type 19 with no position is both a
        # rejected position and a decoded static report.
        assert outcomes == new_messages or (new_messages == 1 and outcomes == 2 and new_decoded == 1), line
        assert bool(reports) == (new_decoded == 1), line
        for report in reports:
            assert_well_formed(report)
        d = self.decoder
        assert d.pending_parts <= min(d.max_fragment_lines + 1, MAX_PARTS * d.max_pending)
        assert self.stats.lines == self.fed
        self.reports += reports
        return reports

    def close(self) -> None:
        placed = self.placed()
        self.decoder.close()
        assert self.decoder.pending_parts == 0
        assert self.placed() == placed == self.fed
