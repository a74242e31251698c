"""Bad input: each bad line gets a clear reason counted in IngestStats, and the good lines around it still
produce their reports. Also the framing that gives a sentence its time and station (leading timestamps,
trailers, $PGHP, $GPZDA, tag blocks) and the checks on what a message says (position, MMSI, IMO, text).

Each stream is good line, bad line(s), good line; the rejects are asserted as a whole dict, so a bad line
must be counted once under its reason and nothing else may be counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ais_watch.decode import NmeaDecoder
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport
from tests.helpers.nmea import encode, sentence, tag_block

pytestmark = pytest.mark.unit

RECEIVED_AT = datetime(2030, 1, 1, tzinfo=UTC)  # wall clock: what a line with no time of its own gets

# Two real type 1 sentences (gpsd test/sample.aivdm): the good neighbours of every bad line.
BEFORE = b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"  # 371798000
AFTER = b"!AIVDM,1,1,,A,16SteH0P00Jt63hHaa6SagvJ087r,0*42"  # 440348000
BEFORE_MMSI, AFTER_MMSI = 371798000, 440348000


TYPE5 = {"type": 5, "mmsi": 351759000, "imo": 9134270, "callsign": "3FOF8", "shipname": "EVER DIADEM",
         "ship_type": 70, "to_bow": 225, "to_stern": 70, "to_port": 1, "to_starboard": 31, "draught": 12.2,
         "destination": "NEW YORK"}
TYPE5_PARTS = encode(seq_id=3, **TYPE5)
assert len(TYPE5_PARTS) == 2


def run(lines: list[bytes | str], *, close: bool = True,
        **options: Any) -> tuple[list[list[Report]], IngestStats]:
    """Feed the lines to one decoder; the reports of each line, and the stats."""
    stats = IngestStats()
    decoder = NmeaDecoder("test", stats, **options)
    out = [decoder.feed(line, RECEIVED_AT) for line in lines]
    if close:
        decoder.close()
    return out, stats


def assert_neighbours_ok(out: list[list[Report]]) -> None:
    """The good lines before and after the bad ones each produced their one position report."""
    first, last = out[0], out[-1]
    assert [(r.mmsi, type(r)) for r in first] == [(BEFORE_MMSI, PositionReport)]
    assert [(r.mmsi, type(r)) for r in last] == [(AFTER_MMSI, PositionReport)]


# --------------------------------------------------------------------------------------------------------
# Lines that are not used: one reason each, neighbours intact.
# --------------------------------------------------------------------------------------------------------
BAD_LINES = {
    "garbage text": ([b"hello world"], {"not_nmea": 1}),
    "binary garbage": ([b"\x00\x01\x02\xff\xfe garbage"], {"not_nmea": 1}),
    "text before a sentence that is no timestamp": ([b"garbage " + BEFORE], {"bad_leading_timestamp": 1}),
    "wrong checksum": ([BEFORE[:-2] + b"4B"], {"bad_checksum": 1}),
    "no checksum": ([BEFORE[:-3]], {"bad_checksum": 1}),
    "truncated sentence": ([b"!AIVDM,1,1,,A"], {"malformed_sentence": 1}),
    "non-ASCII bytes in the payload": ([BEFORE.replace(b"cjM8", b"cj\xff\xfeM8")], {"malformed_sentence": 1}),
    "non-ASCII characters in a str line": ([BEFORE.decode().replace("cjM8", "cjéM8")], {"bad_checksum": 1}),
    "non-ASCII talker": ([sentence(b"\xc3\xa9VDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0")],
                         {"malformed_sentence": 1}),
    "bad tag block checksum": ([b"\\c:1683719212,s:X*00\\" + BEFORE], {"bad_tag_block_checksum": 1}),
    "tag block never closed": ([b"\\c:1683719212*00" + BEFORE], {"bad_tag_block": 1}),
    "non-AIS sentence": ([sentence("GPGSA,A,3,11,32,14,28,22,03,10,08,17,,,,2.02,1.03,1.74", b"$")],
                         {"non_ais_sentence": 1}),
    "$GPZDA with a wrong checksum": ([sentence("GPZDA,114652.00,10,05,2023,00,00", b"$")[:-2] + b"00"],
                                     {"bad_checksum": 1}),
    "impossible date in $GPZDA": ([sentence("GPZDA,114652.00,31,02,2023,00,00", b"$")], {"bad_zda": 1}),
    "second part without its first": ([TYPE5_PARTS[1]], {"orphan_fragment": 1}),
    "first part that never completes": ([TYPE5_PARTS[0]], {"incomplete_multipart": 1}),  # counted at close()
    # Found by fuzzing (tests/test_fuzz_nmea.py): each raised OverflowError out of the decoder.
    "$PGHP whose millisecond field is past a C long": (
        [sentence("PGHP,1,2013,11,12,12,0,0,99999999999999999999,219,,2190074,1,67", b"$")],
        {"bad_gatehouse": 1}),
    "$GPZDA in the last day of year 9999 whose hour runs past it": (
        [sentence("GPZDA,240000,31,12,9999,00,00", b"$")], {"bad_zda": 1}),
    "leading time in year 1 whose offset puts it before year 1": (
        [b"0001-01-01T00:00:00+01:00 " + BEFORE], {"bad_leading_timestamp": 1}),
    "leading time in year 9999 whose offset puts it past year 9999": (
        [b"9999-12-31T23:59:00-01:00 " + BEFORE], {"bad_leading_timestamp": 1}),
    "$GPZDA hour 25": ([sentence("GPZDA,250000,10,05,2023,00,00", b"$")], {"bad_zda": 1}),
}


@pytest.mark.parametrize(("bad", "rejects"), BAD_LINES.values(), ids=BAD_LINES.keys())
def test_bad_line_is_counted_once_and_loses_nothing_else(bad: list[bytes], rejects: dict[str, int]) -> None:
    out, stats = run([BEFORE, *bad, AFTER])
    assert_neighbours_ok(out)
    assert all(not reports for reports in out[1:-1])
    assert stats.rejects == rejects
    assert stats.lines == len(bad) + 2
    assert stats.decoded == 2


def test_empty_and_blank_lines_are_skipped() -> None:
    """Blank lines are no input: counted as lines only, with no reject reason (so are '#' comments)."""
    out, stats = run([BEFORE, b"", b"  \r\n", "", b"# a comment", AFTER])
    assert_neighbours_ok(out)
    assert stats.rejects == {}
    assert stats.lines == 6


def test_incomplete_multipart_is_counted_at_close_not_before() -> None:
    out, stats = run([BEFORE, TYPE5_PARTS[0], AFTER], close=False)
    assert_neighbours_ok(out)
    assert stats.rejects == {}  # still waiting for part 2
    out, stats = run([BEFORE, TYPE5_PARTS[0], AFTER])
    assert stats.rejects == {"incomplete_multipart": 1}


def test_multipart_reassembles_around_other_sentences() -> None:
    out, stats = run([TYPE5_PARTS[0], BEFORE, AFTER, TYPE5_PARTS[1]])
    assert [r.mmsi for r in out[1]] == [BEFORE_MMSI]
    assert [r.mmsi for r in out[2]] == [AFTER_MMSI]
    assert [(r.msg_type, r.name) for r in out[3]] == [(5, "EVER DIADEM")]
    assert stats.rejects == {}


# --------------------------------------------------------------------------------------------------------
# Fragment expiry: on receive time (TTL) and on distance in lines, never on event time, and the cap.
# --------------------------------------------------------------------------------------------------------
T0 = 1683719212  # 2023-05-10T11:46:52Z


def _feed_at(decoder: NmeaDecoder, lines: list[tuple[bytes, datetime]]) -> list[list[Report]]:
    return [decoder.feed(line, at) for line, at in lines]


def test_fragment_evicted_after_ttl_on_receive_time() -> None:
    """Part 1 received at R; a line received at R+61 s is past the 60 s TTL: part 1 is dropped as
    incomplete, and the late part 2 is an orphan."""
    stats = IngestStats()
    decoder = NmeaDecoder("t", stats, fragment_ttl=60.0)
    late = RECEIVED_AT + timedelta(seconds=61)
    out = _feed_at(decoder, [(BEFORE, RECEIVED_AT), (TYPE5_PARTS[0], RECEIVED_AT), (AFTER, late),
                             (TYPE5_PARTS[1], late)])
    assert [r.mmsi for r in out[0]] == [BEFORE_MMSI]
    assert [r.mmsi for r in out[2]] == [AFTER_MMSI]
    assert out[1] == out[3] == []
    assert stats.rejects == {"incomplete_multipart": 1, "orphan_fragment": 1}


def test_fragment_within_ttl_completes_whatever_the_event_times() -> None:
    """Event times may jump (a satellite feed interleaves stations); receive time decides."""
    stats = IngestStats()
    decoder = NmeaDecoder("t", stats, fragment_ttl=60.0)
    soon = RECEIVED_AT + timedelta(seconds=59)
    out = _feed_at(decoder, [(tag_block(f"c:{T0}") + TYPE5_PARTS[0], RECEIVED_AT),
                             (tag_block(f"c:{T0 + 3600}") + AFTER, soon), (TYPE5_PARTS[1], soon)])
    assert [r.mmsi for r in out[1]] == [AFTER_MMSI]
    [static] = out[2]
    assert isinstance(static, StaticReport)
    assert static.time == datetime.fromtimestamp(T0, UTC)  # the first part's time
    assert stats.rejects == {}


def test_fragment_evicted_after_too_many_lines() -> None:
    """In a replay receive time hardly moves: a part waiting more than max_fragment_lines is dropped."""
    stats = IngestStats()
    decoder = NmeaDecoder("t", stats, max_fragment_lines=3)
    out = [decoder.feed(line, RECEIVED_AT)
           for line in [TYPE5_PARTS[0], BEFORE, AFTER, BEFORE, AFTER, TYPE5_PARTS[1]]]
    assert all(len(o) == 1 for o in out[1:5])  # the lines between still decode
    assert out[5] == []
    assert stats.rejects == {"incomplete_multipart": 1, "orphan_fragment": 1}


def test_too_many_pending_fragments_evicts_the_oldest() -> None:
    firsts, seconds = [], []
    for seq in range(3):
        part1, part2 = encode(seq_id=seq, **{**TYPE5, "mmsi": 351759000 + seq})
        firsts.append(part1)
        seconds.append(part2)
    out, stats = run([BEFORE, *firsts, *seconds, AFTER], max_pending=2)
    assert_neighbours_ok(out)
    completed = [r.mmsi for reports in out for r in reports if isinstance(r, StaticReport)]
    assert completed == [351759001, 351759002]  # seq 0 was evicted when seq 2 arrived
    assert stats.rejects == {"incomplete_multipart": 1, "orphan_fragment": 1}


def test_dropped_multipart_message_counts_each_of_its_parts() -> None:
    """A message of three sentences missing its last is two lines not used: incomplete_multipart counts
    lines, like every reason counted before reassembly (it counted the message once, so the counts did not
    add up to the lines; found by tests/test_fuzz_nmea.py)."""
    payload = b"".join(part.split(b",")[5] for part in TYPE5_PARTS)
    third = -(-len(payload) // 3)
    parts = [sentence(f"AIVDM,3,{n},4,A,{payload[i:i + third].decode()},{2 if n == 3 else 0}")
             for n, i in enumerate(range(0, len(payload), third), 1)]
    out, stats = run([BEFORE, *parts, AFTER])
    assert [(r.msg_type, r.name) for r in out[3]] == [(5, "EVER DIADEM")]  # the whole message decodes
    out, stats = run([BEFORE, parts[0], parts[1], AFTER])
    assert_neighbours_ok(out)
    assert stats.rejects == {"incomplete_multipart": 2}
    out, stats = run([BEFORE, parts[0], parts[1], parts[0], AFTER])  # the first part again: a new message
    assert stats.rejects == {"incomplete_multipart": 3}  # 2 replaced, 1 never completed


def test_zda_leap_second_is_a_time() -> None:
    out, stats = run([sentence("GPZDA,235960.50,30,06,2015,00,00", b"$"), BEFORE], require_event_time=True)
    [report] = out[1]
    assert report.time == datetime(2015, 7, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert stats.rejects == {}


# --------------------------------------------------------------------------------------------------------
# Event time and station from the framing.
# --------------------------------------------------------------------------------------------------------
EVENT = datetime(2023, 5, 10, 11, 46, 52, tzinfo=UTC)


@pytest.mark.parametrize(("line", "when"), [
    (b"2023-05-10T11:46:52Z " + BEFORE, EVENT),
    (b"1683719212.5 " + BEFORE, EVENT.replace(microsecond=500000)),
    (b"2023-05-10 11:46:52 " + BEFORE, EVENT),  # no zone: UTC
    (b"2023-05-10T13:46:52+02:00 " + BEFORE, EVENT),
], ids=["iso-z", "epoch-seconds", "iso-space", "iso-offset"])
def test_leading_timestamp_gives_the_event_time(line: bytes, when: datetime) -> None:
    out, stats = run([line, AFTER])
    [report] = out[0]
    assert (report.mmsi, report.time) == (BEFORE_MMSI, when)
    assert [r.time for r in out[1]] == [RECEIVED_AT]  # the next line has no time of its own
    assert stats.rejects == {}


def test_trailing_epoch_milliseconds_gives_the_event_time() -> None:
    """AMSA's satellite recordings: ',<unix epoch ms>' after the checksum."""
    out, stats = run([BEFORE + b",1683719212500", AFTER])
    [report] = out[0]
    assert report.time == EVENT.replace(microsecond=500000)
    assert report.station is None
    assert_neighbours_ok(out)
    assert stats.rejects == {}


def test_uscg_trailer_gives_station_and_time() -> None:
    out, stats = run([BEFORE + b",rMyStation,1683719212", AFTER])
    [report] = out[0]
    assert (report.station, report.time) == ("MyStation", EVENT)
    assert_neighbours_ok(out)
    assert out[1][0].station is None
    assert stats.rejects == {}


def test_uscg_trailer_with_receiver_fields() -> None:
    """The full USCG NAIS form (libais's test data): signal fields, then station and epoch."""
    out, stats = run([BEFORE + b",d-109,S2105,t050056.00,T56.13718694,r003669946,1325394060", AFTER])
    [report] = out[0]
    assert (report.station, report.time) == ("003669946", datetime(2012, 1, 1, 5, 1, tzinfo=UTC))
    assert_neighbours_ok(out)
    assert stats.rejects == {}


def test_pghp_line_gives_the_next_sentence_its_time_and_station() -> None:
    """Gatehouse: $PGHP,1,yyyy,mm,dd,hh,mi,ss,ms,country,region,pss,online,... (DMA's recordings)."""
    pghp = sentence("PGHP,1,2013,11,12,12,0,0,180,219,,2190067,1,62", b"$")
    out, stats = run([BEFORE, pghp, AFTER, BEFORE])
    assert [r.time for r in out[0]] == [RECEIVED_AT]
    assert out[1] == []
    [report] = out[2]
    assert (report.mmsi, report.time, report.station) == (
        AFTER_MMSI, datetime(2013, 11, 12, 12, 0, 0, 180000, tzinfo=UTC), "2190067")
    assert [(r.time, r.station) for r in out[3]] == [(RECEIVED_AT, None)]  # the next sentence only
    assert stats.rejects == {}


def test_pghp_satellite_variant_with_1ais_s_online_field() -> None:
    """AMSA: the 'online' field reads '1AIS_S' and the line itself has a trailing epoch-ms."""
    pghp = sentence("PGHP,1,2012,1,31,5,7,2,151,316,2,316000002,1AIS_S,51", b"$") + b",1327992119157"
    out, stats = run([BEFORE, pghp, AFTER + b",1327992119173"])
    assert_neighbours_ok(out)
    [report] = out[2]
    assert (report.time, report.station) == (datetime(2012, 1, 31, 5, 7, 2, 151000, tzinfo=UTC), "316000002")
    assert stats.rejects == {}


def test_pghp_and_tag_block_on_their_own_lines() -> None:
    """DMA's layout: a tag block line, a $PGHP line, then the sentence; all belong to the sentence."""
    pghp = sentence("PGHP,1,2013,11,12,12,0,0,11,219,,2190067,1,62", b"$")
    out, stats = run([BEFORE, tag_block("s:AISD,c:1383998400"), pghp, AFTER])
    assert_neighbours_ok(out)
    [report] = out[-1]
    assert (report.time, report.station) == (datetime(2013, 11, 9, 12, 0, tzinfo=UTC), "AISD")  # c: first
    assert stats.rejects == {}


def test_gpzda_is_the_stream_clock_for_following_lines() -> None:
    zda = sentence("GPZDA,114652.00,10,05,2023,00,00", b"$")
    out, stats = run([BEFORE, zda, AFTER, BEFORE, tag_block(f"c:{T0 + 3600}") + AFTER])
    assert [r.time for r in out[0]] == [RECEIVED_AT]  # before any clock
    assert [r.time for r in out[2]] == [EVENT]
    assert [r.time for r in out[3]] == [EVENT]  # still the stream clock
    assert [r.time for r in out[4]] == [datetime.fromtimestamp(T0 + 3600, UTC)]  # its own time wins
    assert stats.rejects == {}


@pytest.mark.parametrize(("zda", "expected"), [
    (b"$GPZDA,195719,16,04,14,-02,00", datetime(2014, 4, 16, 19, 57, 19, tzinfo=UTC)),  # Navico, no checksum
    (sentence("GPZDA,195719,16,04,14,-02,00", b"$"), datetime(2014, 4, 16, 19, 57, 19, tzinfo=UTC)),
    (sentence("GPZDA,000000.50,01,01,79,00,00", b"$"), datetime(2079, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    (sentence("GPZDA,235959,31,12,80,00,00", b"$"), datetime(1980, 12, 31, 23, 59, 59, tzinfo=UTC)),
    (sentence("GPZDA,120000,01,06,99,+05,30", b"$"), datetime(1999, 6, 1, 12, tzinfo=UTC)),  # zone: no shift
])
def test_a_two_digit_zda_year_reads_with_the_pivot_in_utc(zda: bytes, expected: datetime) -> None:
    out, stats = run([zda, AFTER], require_event_time=True)
    assert [r.time for r in out[1]] == [expected]
    assert stats.rejects == {}


@pytest.mark.parametrize(("zda", "reason"), [
    (b"$GPZDA,195719,16,04,14,-02", "bad_checksum"),  # no checksum and a field short: not trusted
    (b"$GPZDA,195719,16,04,2014,-02,00,extra", "bad_checksum"),
    (sentence("GPZDA,195719,16,04,014,-02,00", b"$"), "bad_zda"),  # a three-digit year
    (sentence("GPZDA,195719,30,02,14,-02,00", b"$"), "bad_zda"),  # 30 February
])
def test_a_zda_that_is_not_whole_sets_no_clock(zda: bytes, reason: str) -> None:
    out, stats = run([zda, AFTER], require_event_time=True)
    assert out[1] == []
    assert stats.rejects == {reason: 1, "no_event_time": 1}


def test_require_event_time_rejects_a_sentence_with_no_time() -> None:
    out, stats = run([
        tag_block(f"c:{T0}") + BEFORE,
        AFTER,  # no time of its own, no stream clock
        b"2023-05-10T11:46:53Z " + AFTER,
    ], require_event_time=True)
    assert [r.time for r in out[0]] == [EVENT]
    assert out[1] == []
    assert [r.time for r in out[2]] == [datetime(2023, 5, 10, 11, 46, 53, tzinfo=UTC)]
    assert stats.rejects == {"no_event_time": 1}
    assert stats.messages == 3


# --------------------------------------------------------------------------------------------------------
# What the message says.
# --------------------------------------------------------------------------------------------------------
def _type1(**fields: Any) -> bytes:
    [line] = encode(**{"type": 1, "mmsi": 371798000, "speed": 5.0, "course": 90.0, "heading": 91,
                       "status": 0, **fields})
    return line


@pytest.mark.parametrize(("lat", "lon", "reason"), [
    (95, 10, "impossible_position"),
    (45, -185, "impossible_position"),
    (91, 181, "no_position"),  # M.1371 'not available'
    (91, 10, "no_position"),
    (0, 0, "no_position"),  # a GPS without a fix
], ids=["lat-95", "lon-minus-185", "not-available", "lat-not-available", "zero-zero"])
def test_position_that_is_no_place_on_earth(lat: float, lon: float, reason: str) -> None:
    out, stats = run([BEFORE, _type1(lat=lat, lon=lon), AFTER])
    assert_neighbours_ok(out)
    assert out[1] == []
    assert stats.rejects == {reason: 1}
    assert stats.messages == 3


def test_invalid_mmsi_is_reported_but_flagged() -> None:
    out, stats = run([BEFORE, _type1(mmsi=1234, lat=50.0, lon=10.0), AFTER])
    assert_neighbours_ok(out)
    [report] = out[1]
    assert isinstance(report, PositionReport)
    assert (report.mmsi, report.mmsi_valid, report.lat, report.lon) == (1234, False, 50.0, 10.0)
    assert stats.flags == {"invalid_mmsi": 1}
    assert stats.rejects == {}


def test_imo_with_a_wrong_check_digit_is_flagged() -> None:
    good = encode(seq_id=1, **TYPE5)
    bad = encode(seq_id=2, **{**TYPE5, "imo": 9134271})  # check digit of 913427 is 0
    out, stats = run([BEFORE, *good, *bad, AFTER])
    assert_neighbours_ok(out)
    [valid] = out[2]
    [invalid] = out[4]
    assert (valid.imo, valid.imo_valid) == (9134270, True)
    assert (invalid.imo, invalid.imo_valid) == (9134271, False)
    assert invalid.identity_fields()["imo"] is None  # not trusted for identity
    assert invalid.name == "EVER DIADEM"  # the rest of the message is kept
    assert stats.flags == {"invalid_imo": 1}
    assert stats.rejects == {}


def test_hostile_text_in_type5_is_decoded_literally() -> None:
    """Six-bit AIS text has upper case, digits and punctuation including < > & ' " = /; it is data,
    decoded as sent (escaping is the job of whatever displays it)."""
    name, destination, call_sign = "<IMG SRC=X>", "\"'><&", "'OR'1=1"
    parts = encode(seq_id=4, **{**TYPE5, "shipname": name, "destination": destination, "callsign": call_sign})
    out, stats = run([BEFORE, *parts, AFTER])
    assert_neighbours_ok(out)
    [static] = out[2]
    assert (static.name, static.destination, static.call_sign) == (name, destination, call_sign)
    assert stats.rejects == {}


# --------------------------------------------------------------------------------------------------------
# Bugs found in ais_watch/decode.py (not fixed here; the owner fixes decode.py and removes the xfail).
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [b"1", b"5", b"H", b"B", b"K"])
def test_payload_with_no_mmsi_is_rejected_not_raised(payload: bytes) -> None:
    """Only the type, no MMSI: pyais decodes it with every field None; one reject, the stream goes on."""
    out, stats = run([BEFORE, sentence(b"AIVDM,1,1,,A," + payload + b",0"), AFTER])
    assert_neighbours_ok(out)
    assert out[1] == []
    assert stats.rejects == {"truncated_payload": 1}


@pytest.mark.parametrize(("payload", "fill"), [
    (b"15RTgt0PAso;90TKcjM", 0),  # gpsd's type 1 for 371798000 (48.381633, -123.395383), first 114 bits
    (b"H5MiOp1:uJ0MDhJ0", 0),  # libais's 24A for 366764000 'R/V GULF CHALLENGER', first 96 bits
])
def test_truncated_message_is_rejected_not_misread(payload: bytes, fill: int) -> None:
    out, stats = run([BEFORE, sentence(b"AIVDM,1,1,,A," + payload + b"," + str(fill).encode()), AFTER])
    assert_neighbours_ok(out)
    assert out[1] == [], f"misread as {out[1]}"
    assert sum(stats.rejects.values()) == 1


def test_utf8_bom_before_the_first_sentence() -> None:
    out, stats = run([b"\xef\xbb\xbf" + BEFORE, AFTER])
    assert_neighbours_ok(out)
    assert stats.rejects == {}
