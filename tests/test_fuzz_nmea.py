"""Fuzzing the NMEA decoder (ais_watch/decode.py), which reads lines from receivers and feeds on the
internet: arbitrary bytes, NMEA-shaped lines (tag blocks, $PGHP, $GPZDA, trailing epochs, leading times,
checksums right and wrong), mutations of the bundled recordings, and multi-part messages cut, repeated,
reordered and interleaved.

Whatever comes in (tests/helpers/fuzz.py's CheckedDecoder checks it after every line): nothing raises out
of `feed` or `close`; each line lands in exactly one place (skipped, context, a message, a pending part,
one reject), so the counts add up to the lines fed; every report is well formed; the pending parts stay
under the decoder's caps and expire on time; memory stays flat over a long stream; and Hypothesis's
deadline fails a case that loops.
"""

from __future__ import annotations

import random
import tracemalloc
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ais_watch.decode import NmeaDecoder
from ais_watch.model import IngestStats, PositionReport
from tests.helpers.fuzz import (
    RECEIVED_AT,
    CheckedDecoder,
    framed_messages,
    interleaved,
    multipart_messages,
    mutated_lines,
    nmea_lines,
    real_nmea_lines,
    real_nmea_window,
    real_single_sentences,
    reframe,
)
from tests.helpers.fuzz_cases import counted

pytestmark = pytest.mark.unit

DECODER_OPTIONS = st.fixed_dictionaries({}, optional={
    "fragment_ttl": st.sampled_from([0.0, 1.0, 60.0]),
    "max_pending": st.integers(1, 20),
    "max_fragment_lines": st.integers(1, 50),
    "require_event_time": st.booleans(),
})


def feed_all(lines: list[Any], options: dict[str, Any] | None = None,
             gaps: list[float] | None = None) -> CheckedDecoder:
    """Every line through one checked decoder (received `gaps` seconds apart), then close."""
    decoder = CheckedDecoder(**(options or {}))
    at = RECEIVED_AT
    for i, line in enumerate(lines):
        if gaps:
            at += timedelta(seconds=gaps[i % len(gaps)])
        decoder.feed(line, at)
    decoder.close()
    return decoder


# --------------------------------------------------------------------------------------------------------
# Never raises; every line counted once; reports well formed
# --------------------------------------------------------------------------------------------------------
@given(lines=st.lists(st.binary(max_size=120) | st.text(max_size=60), max_size=30), options=DECODER_OPTIONS)
@counted
def test_nmea_arbitrary_bytes(lines: list[bytes | str], options: dict[str, Any]) -> None:
    feed_all(lines, options)


@given(lines=st.lists(nmea_lines(), max_size=30), options=DECODER_OPTIONS)
@counted
def test_nmea_shaped_lines(lines: list[bytes], options: dict[str, Any]) -> None:
    feed_all(lines, options)


@given(lines=real_nmea_window().flatmap(mutated_lines), options=DECODER_OPTIONS)
@counted
def test_nmea_mutated_recordings(lines: list[bytes], options: dict[str, Any]) -> None:
    feed_all(lines, options)


@given(lines=real_nmea_window(max_lines=60))
@counted
def test_nmea_unmutated_recordings_decode(lines: list[bytes]) -> None:
    """The other side: the same windows of real lines, unmutated, give their ships (so the properties above
    do not pass on a decoder that rejects everything): every sentence that decodes to a position alone
    still does in its stream."""
    good = set(real_single_sentences())
    decoder = CheckedDecoder()
    for line in lines:
        reports = decoder.feed(line)
        if line in good:
            assert any(isinstance(r, PositionReport) for r in reports), line
    decoder.close()


# --------------------------------------------------------------------------------------------------------
# Multi-part reassembly
# --------------------------------------------------------------------------------------------------------
@given(messages=framed_messages(), data=st.data(), options=DECODER_OPTIONS,
       gaps=st.lists(st.sampled_from([0.0, 0.5, 30.0, 61.0]), max_size=5))
@counted
def test_nmea_multipart_cut_repeated_reordered(messages: list[list[bytes]], data: st.DataObject,
                                               options: dict[str, Any], gaps: list[float]) -> None:
    """Parts lost, repeated, swapped, spliced, mixed with other messages' parts on colliding sequence ids,
    received seconds to minutes apart, with small caps on what may wait."""
    stream = data.draw(interleaved(messages))
    if data.draw(st.booleans()):
        stream = data.draw(mutated_lines(stream))
    feed_all(stream, options, gaps)


@given(data=st.data())
@counted
def test_nmea_interleaved_messages_all_reassemble(data: st.DataObject) -> None:
    """Multi-part messages on distinct sequence ids, interleaved in any order that keeps each one's parts
    in order: every one is decoded, once, and nothing is rejected."""
    count = data.draw(st.integers(1, 10))
    chosen = [data.draw(st.sampled_from(multipart_messages())) for _ in range(count)]
    messages = [[reframe(part, seq=b"%d" % i, channel=b"A") for part in parts]
                for i, parts in enumerate(chosen)]
    decoder = feed_all(data.draw(interleaved(messages)))
    assert decoder.stats.rejects == {}
    assert decoder.stats.messages == count


@given(lines=st.lists(nmea_lines() | st.binary(max_size=60), max_size=10), data=st.data())
@counted
def test_nmea_garbage_does_not_change_the_next_sentence(lines: list[bytes], data: st.DataObject) -> None:
    """Whatever came before, a whole sentence decodes to the same ship, place and motion (context lines may
    give it another time and station: that is their job)."""
    real = data.draw(st.sampled_from(real_single_sentences()))
    alone = CheckedDecoder()
    [expected] = alone.feed(real)
    decoder = CheckedDecoder()
    for line in lines:
        decoder.feed(line)
    reports = decoder.feed(real)
    assert isinstance(expected, PositionReport)
    assert [(r.mmsi, r.lat, r.lon, r.sog, r.cog, r.msg_type) for r in reports] == [
        (expected.mmsi, expected.lat, expected.lon, expected.sog, expected.cog, expected.msg_type)]


# --------------------------------------------------------------------------------------------------------
# Bounded: fragment buffers and memory
# --------------------------------------------------------------------------------------------------------
@given(max_pending=st.integers(1, 50), max_fragment_lines=st.integers(1, 2000), count=st.integers(1, 400),
       seed=st.integers(0, 2**32 - 1))
@counted
def test_nmea_unfinished_messages_stay_under_the_caps_and_expire(
        max_pending: int, max_fragment_lines: int, count: int, seed: int) -> None:
    """Many first parts whose other parts never come (on every talker, channel and sequence id): what is
    held stays under max_pending and max_fragment_lines, and a line received after the TTL empties it, each
    dropped part counted as incomplete_multipart."""
    decoder = CheckedDecoder(max_pending=max_pending, max_fragment_lines=max_fragment_lines,
                             fragment_ttl=60.0)
    rng = random.Random(seed)
    firsts = [parts[0] for parts in multipart_messages()]
    for i in range(count):
        first = reframe(rng.choice(firsts), talker=rng.choice([b"AI", b"AB"]), seq=b"%d" % (i % 10),
                        channel=rng.choice([b"A", b"B", b"1", b"2"]))
        decoder.feed(first)  # CheckedDecoder asserts the caps after each line
    held = decoder.decoder.pending_parts
    assert 1 <= held <= min(max_pending, max_fragment_lines + 1)
    assert decoder.stats.rejects.get("incomplete_multipart", 0) + held == count
    decoder.feed(real_single_sentences()[0], RECEIVED_AT + timedelta(seconds=61))
    assert decoder.decoder.pending_parts == 0
    assert decoder.stats.rejects["incomplete_multipart"] == count


def _long_stream(seed: int, size: int) -> list[bytes]:
    """Real lines, mutated now and then, with first parts that never complete on every sequence id."""
    rng = random.Random(seed)
    lines = real_nmea_lines()
    firsts = [parts[0] for parts in multipart_messages()]
    out = []
    for i in range(size):
        line = lines[rng.randrange(len(lines))]
        roll = rng.random()
        if roll < 0.2:
            line = reframe(rng.choice(firsts), seq=b"%d" % rng.randrange(10),
                           channel=rng.choice([b"A", b"B", b"1", b"2"]),
                           talker=rng.choice([b"AI", b"AB", b"BS"]))
        elif roll < 0.4:
            at = rng.randrange(max(len(line), 1))
            line = line[:at] + bytes([rng.randrange(256)]) + line[at + 1:]
        elif roll < 0.45:
            line = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        out.append(line + b"%d" % (i % 7) if roll > 0.99 else line)
    return out


@settings(max_examples=min(10, max(1, settings.default.max_examples // 100)), deadline=None)  # 2 s a case
@given(seed=st.integers(0, 2**32 - 1))
@counted
def test_nmea_memory_flat_over_a_long_stream(seed: int) -> None:
    """12,000 lines through one decoder: what it holds after 4,000 lines and after 12,000 is the same
    give or take its bounded caches (a leak of 125 bytes a line would be 1 MB), and the peak stays small."""
    stream = _long_stream(seed, 12_000)
    stats = IngestStats()
    decoder = NmeaDecoder("fuzz", stats)
    tracemalloc.start()
    try:
        for line in stream[:4_000]:
            decoder.feed(line, RECEIVED_AT)
        after_first, _ = tracemalloc.get_traced_memory()
        for line in stream[4_000:]:
            decoder.feed(line, RECEIVED_AT)
        after_all, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    decoder.close()
    assert stats.lines == len(stream) and stats.decoded > 1000  # the stream was mostly real traffic
    assert after_all - after_first < 1_000_000, (after_first, after_all)
    assert peak < 8_000_000, peak
