"""Fuzzing the aisstream.io JSON reader (ais_watch/sources/aisstream.py): what the websocket sends and
what a recording of it holds, read by `parse_frame` and `reports_from_aisstream` (the websocket source and
the replay of JSON lines both read a frame with these two). Arbitrary bytes, arbitrary JSON values, and
real-format messages with values replaced, keys removed and bytes flipped.

Whatever comes in: nothing raises; each frame is one message decoded, of a type not tracked, or rejected
under a reason (a type 19 with no position is both a rejected position and a decoded static report);
each line of a recording is counted, and every report is well formed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ais_watch.model import IngestStats, Report
from ais_watch.sources.aisstream import parse_frame, reports_from_aisstream
from ais_watch.sources.replay import file_reports
from tests.helpers.fuzz import (
    JSON_VALUES,
    RECEIVED_AT,
    assert_well_formed,
    mutated_bytes,
    mutated_json,
    real_aisstream_messages,
)
from tests.helpers.fuzz_cases import counted

pytestmark = pytest.mark.unit

REAL = real_aisstream_messages()


def outcomes(stats: IngestStats) -> tuple[int, int]:
    """(messages read, what became of them: decoded + other types + rejects)."""
    return stats.messages, stats.decoded + stats.other_types + sum(stats.rejects.values())


def check_counted(stats: IngestStats, before: tuple[int, int], reports: list[Report], decoded_before: int,
                  what: object) -> None:
    """One frame or line moved the counters once: one outcome (two for a type 19 with no position)."""
    messages, results = (a - b for a, b in zip(outcomes(stats), before, strict=True))
    assert messages in (0, 1), what
    new_decoded = stats.decoded - decoded_before
    assert results == 1 or (results == 2 and new_decoded == 1 and messages == 1), (what, stats)
    assert bool(reports) == (new_decoded == 1), what
    for report in reports:
        assert_well_formed(report)


def read_frame(raw: str | bytes, stats: IngestStats) -> list[Report]:
    """A frame as the websocket source reads it (less the {"error": ...} refusal, which ends the session)."""
    before, decoded = outcomes(stats), stats.decoded
    obj = parse_frame(raw)
    if obj is None:
        stats.reject("malformed_json")
        reports: list[Report] = []
    else:
        reports = reports_from_aisstream(obj, RECEIVED_AT, "aisstream", stats)
    check_counted(stats, before, reports, decoded, raw)
    return reports


# --------------------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------------------
@given(frames=st.lists(st.binary(max_size=200) | st.text(max_size=100), max_size=20))
@counted
def test_aisstream_arbitrary_frames(frames: list[bytes | str]) -> None:
    stats = IngestStats()
    for frame in frames:
        read_frame(frame, stats)


@given(value=JSON_VALUES)
@counted
def test_aisstream_arbitrary_json(value: Any) -> None:
    stats = IngestStats()
    read_frame(json.dumps(value), stats)
    before, decoded = outcomes(stats), stats.decoded
    reports = reports_from_aisstream(value, RECEIVED_AT, "aisstream", stats)  # documented never to raise
    check_counted(stats, before, reports, decoded, value)


@given(data=st.data())
@counted
def test_aisstream_mutated_messages(data: st.DataObject) -> None:
    """Real-format messages of each kind with values replaced by any JSON, keys removed, or their text's
    bytes flipped, cut, repeated."""
    message = data.draw(st.sampled_from(REAL))
    stats = IngestStats()
    read_frame(json.dumps(data.draw(mutated_json(message))), stats)
    read_frame(data.draw(mutated_bytes(json.dumps(message).encode())), stats)


@given(index=st.integers(0, len(REAL) - 1), depth=st.integers(1, 100_000))
@counted
def test_aisstream_deeply_nested_frames(index: int, depth: int) -> None:
    """Nesting as deep as a frame can hold (the websocket's 1 MiB): counted, never a RecursionError."""
    stats = IngestStats()
    read_frame("[" * depth + "]" * depth, stats)
    read_frame('{"MessageType": ' + "[" * depth + "]" * depth + "}", stats)
    message = dict(REAL[index])
    message["Extra"] = "DEEP"
    read_frame(json.dumps(message).replace('"DEEP"', "[" * depth + "]" * depth), stats)


@given(index=st.integers(0, len(REAL) - 1))
def test_aisstream_real_messages_decode(index: int) -> None:
    """The other side: the real-format messages, unmutated, each give their reports and nothing else."""
    stats = IngestStats()
    assert read_frame(json.dumps(REAL[index]), stats)
    assert stats.rejects == {} and stats.decoded == 1


# --------------------------------------------------------------------------------------------------------
# Recordings (ais-watch replay --format aisstream)
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-aisstream") / "recording.jsonl"


def recording_lines(draw: st.DrawFn) -> list[bytes]:
    line = st.one_of(
        st.sampled_from(REAL).map(lambda m: json.dumps(m).encode()),
        st.sampled_from(REAL).flatmap(mutated_json).map(lambda m: json.dumps(m).encode()),
        st.sampled_from(REAL).flatmap(lambda m: mutated_bytes(json.dumps(m).encode())),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=80),
        st.sampled_from([b"", b"  ", b"\r", b"[" * 5000, b"1" * 5000,  # 5,000 digits: past int's limit
                         b'{"MessageType": ' + b"9" * 5000 + b"}"]),
    )
    return [raw.replace(b"\n", b" ") for raw in draw(st.lists(line, max_size=20))]


@given(data=st.data())
@counted
def test_aisstream_recording_lines_all_counted(recording: Path, data: st.DataObject) -> None:
    content = b"\n".join(recording_lines(data.draw))
    if content[:2] == b"\x1f\x8b":  # the gzip magic: a compressed file, not lines of one
        content = b" " + content
    recording.write_bytes(content)
    stats = IngestStats()
    read: Iterator[tuple[bytes, list[Report]]] = file_reports(recording, "aisstream", "fuzz", {}, stats)
    count = 0
    while True:
        before, decoded = outcomes(stats), stats.decoded
        try:
            line, reports = next(read)
        except StopIteration:
            break
        count += 1
        if line.strip():
            check_counted(stats, before, reports, decoded, line)
        else:
            assert outcomes(stats) == before and not reports
    assert count == stats.lines == content.count(b"\n") + (1 if content and content[-1:] != b"\n" else 0)
